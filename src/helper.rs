//! deidfs as a mount(8) helper, so that an fstab line or a systemd `.mount` unit mounts a
//! view: `mount -t fuse.deidfs SRC MNT -o key-file=...,policy=...` runs `mount.fuse3`, which
//! runs `deidfs SRC MNT -o ...`; the binary installed (or linked) as `mount.deidfs` or
//! `mount.fuse.deidfs` is run as `mount.deidfs SRC MNT -o ...`. Either form is turned into the
//! `deidfs mount` command line it means, before the command line is parsed.
//!
//! The guarantee: every option is either mapped to the flag of the same name, one of the
//! generic options mount(8) and systemd pass (ignored: the view is read-only, nodev, nosuid
//! and noexec whatever they say), or refused with its name; nothing is dropped unsaid.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Names the binary answers to as a mount helper.
const HELPER_NAMES: [&str; 2] = ["mount.deidfs", "mount.fuse.deidfs"];

/// The `deidfs mount` flags a mount option may name, read from the command line's own
/// definition (so that none is missing here): those that take a value (`key-file=/k` ->
/// `--key-file /k`), and those that do not (`allow_other` -> `--allow-other`). Not
/// `foreground` (mount(8) waits for its helper, which must return once the view is live),
/// nor the hidden and help flags.
fn mount_flags(mount: &clap::Command) -> (Vec<String>, Vec<String>) {
    let (mut valued, mut flags) = (Vec::new(), Vec::new());
    for arg in mount.get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "foreground"].contains(&long) {
            continue;
        }
        match arg.get_action().takes_values() {
            true => valued.push(long.to_string()),
            false => flags.push(long.to_string()),
        }
    }
    (valued, flags)
}

/// What mount(8), fstab and systemd add that means nothing here (the view is read-only,
/// nodev, nosuid, noexec and noatime whatever is asked).
fn generic(option: &str) -> bool {
    const GENERIC: [&str; 22] = [
        "rw", "ro", "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "_netdev",
        "nofail", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
        "relatime", "async", "sync",
    ];
    const ALSO: [&str; 9] = [
        "nodiratime",
        "strictatime",
        "norelatime",
        "lazytime",
        "nolazytime",
        "nosymfollow",
        "dirsync",
        "silent",
        "loud",
    ];
    let key = option.split('=').next().unwrap_or_default();
    GENERIC.contains(&option)
        || ALSO.contains(&option)
        || option.to_ascii_lowercase().starts_with("x-")
        // SELinux labels, a comment, and the user mount(8) records for `user` mounts.
        || ["comment", "context", "fscontext", "defcontext", "rootcontext", "user"].contains(&key)
}

/// The `deidfs mount` command line that `argv` (the whole of it, program name first) means
/// when deidfs runs as a mount helper; `None` when it is an ordinary deidfs command line.
pub fn mount_args(argv: &[OsString]) -> Option<Result<Vec<OsString>, String>> {
    use clap::CommandFactory;
    let cli = crate::cli::Cli::command();
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(OsStr::to_str)
        .unwrap_or_default();
    let as_helper = HELPER_NAMES.contains(&name);
    // mount.fuse3 runs `deidfs SRC MNT -o OPTIONS`: a first word that is no subcommand nor
    // flag, followed by a mountpoint and options.
    let from_fuse = argv.len() >= 3
        && argv[1]
            .to_str()
            .is_none_or(|a| !a.starts_with('-') && cli.find_subcommand(a).is_none())
        && argv[3..].iter().any(|a| a == "-o");
    let mount = cli.find_subcommand("mount")?;
    (as_helper || from_fuse).then(|| parse(&argv[1..], &mount_flags(mount)))
}

fn parse(
    args: &[OsString],
    (valued, flags): &(Vec<String>, Vec<String>),
) -> Result<Vec<OsString>, String> {
    let mut positional: Vec<OsString> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-o") => {
                let o = it.next().ok_or("-o needs a list of options")?;
                let o = o.to_str().ok_or("mount options must be text")?;
                options.extend(o.split(',').filter(|s| !s.is_empty()).map(String::from));
            }
            Some(o) if o.starts_with("-o") => {
                options.extend(
                    o[2..]
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
            }
            // mount(8)'s own: -n (no mtab), -s (sloppy), -v (verbose); -t TYPE.
            Some("-n" | "-s" | "-v") => {}
            Some("-t") => {
                it.next();
            }
            Some("-f") => return Err("-f (fake mount) is not supported".into()),
            Some(o) if o.starts_with('-') => {
                return Err(format!(
                    "{o}: not a mount helper argument (give -o OPTIONS)"
                ));
            }
            _ => positional.push(a.clone()),
        }
    }
    let [source, mountpoint] = positional.as_slice() else {
        return Err(
            "a mount helper takes SOURCE MOUNTPOINT -o key-file=PATH[,OPTIONS]".to_string(),
        );
    };
    // The old FUSE form `deidfs#SOURCE`.
    let source = match source.to_str().and_then(|s| s.strip_prefix("deidfs#")) {
        Some(s) => OsString::from(s),
        None => source.clone(),
    };
    let mut out: Vec<OsString> = vec!["mount".into(), source, mountpoint.clone()];
    for o in options {
        let (key, value) = match o.split_once('=') {
            Some((k, v)) => (k.replace('_', "-"), Some(v)),
            None => (o.replace('_', "-"), None),
        };
        if generic(&o) {
            continue;
        }
        match value {
            Some(v) if valued.contains(&key) => {
                out.push(format!("--{key}").into());
                out.push(v.into());
            }
            None if flags.contains(&key) => out.push(format!("--{key}").into()),
            _ => {
                return Err(format!(
                    "mount option {o:?} is not known to deidfs; known: {}=VALUE, {} (and the generic ones mount passes: rw, ro, _netdev, nofail, noauto, x-systemd.*...)",
                    valued.join("=VALUE, "),
                    flags.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn fstab_options_become_the_flags_of_the_same_name_and_generic_ones_are_dropped() {
        let got = mount_args(
            &args(&[
                "/sbin/mount.fuse.deidfs",
                "/archive",
                "/mnt/view",
                "-o",
                "rw,key-file=/etc/deidfs/k.key,policy=research,allow_other,_netdev,x-systemd.automount,option=retain-uids,option=clean-pixel-data",
            ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            got,
            args(&[
                "mount",
                "/archive",
                "/mnt/view",
                "--key-file",
                "/etc/deidfs/k.key",
                "--policy",
                "research",
                "--allow-other",
                "--option",
                "retain-uids",
                "--option",
                "clean-pixel-data",
            ])
        );
    }

    #[test]
    fn mount_fuse3_runs_deidfs_with_the_source_first() {
        let got = mount_args(&args(&[
            "deidfs",
            "deidfs#/archive",
            "/mnt/view",
            "-o",
            "key-file=/k",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            got,
            args(&["mount", "/archive", "/mnt/view", "--key-file", "/k"])
        );
    }

    #[test]
    fn an_ordinary_command_line_is_left_alone() {
        for a in [
            &["deidfs", "mount", "/a", "/b", "--key-file", "/k"][..],
            &["deidfs", "--help"],
            &["deidfs", "scan", "/a"],
        ] {
            assert!(mount_args(&args(a)).is_none(), "{a:?}");
        }
    }

    #[test]
    fn an_unknown_option_is_refused_by_name() {
        let err = mount_args(&args(&[
            "mount.deidfs",
            "/a",
            "/b",
            "-o",
            "key-file=/k,colour=blue",
        ]))
        .unwrap()
        .unwrap_err();
        assert!(err.contains("\"colour=blue\""), "{err}");
        assert!(err.contains("key-file=VALUE"), "{err}");
    }
}
