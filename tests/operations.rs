//! The sharp edges an administrator and a new user hit (issue 17), each run as they would:
//! commands that must not touch what is not theirs, and messages that name the fix.

mod common;

use common::fixtures as fx;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deidfs(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args(args)
        .output()
        .unwrap()
}

fn said(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

/// A folder with a key `k.key` and an archive `src/` of one CT file `src/a/ct.dcm`.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    assert!(deidfs(&[&"keygen", &key]).status.success());
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/ct.dcm"), fx::ct_default().build()).unwrap();
    (dir, key, src)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn deid_never_writes_over_its_input_and_says_what_to_give_instead() {
    let (dir, key, src) = setup();
    let input = src.join("a/ct.dcm");
    let before = std::fs::read(&input).unwrap();
    // The same file, by its own path and through `..`.
    for output in [input.clone(), src.join("a/../a/ct.dcm")] {
        let o = deidfs(&[&"deid", &input, &output, &"--key-file", &key]);
        assert!(!o.status.success());
        assert!(
            said(&o).contains("the output is the input file"),
            "{}",
            said(&o)
        );
    }
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the source is intact"
    );
    // A folder as input, an output in a missing folder, a folder as output.
    let o = deidfs(&[
        &"deid",
        &src,
        &dir.path().join("x.dcm"),
        &"--key-file",
        &key,
    ]);
    assert!(said(&o).contains("deidfs export"), "{}", said(&o));
    let missing = dir.path().join("no/such/out.dcm");
    let o = deidfs(&[&"deid", &input, &missing, &"--key-file", &key]);
    assert!(said(&o).contains("mkdir -p"), "{}", said(&o));
    let o = deidfs(&[&"deid", &input, &dir.path(), &"--key-file", &key]);
    assert!(
        said(&o).contains("give the output file's path"),
        "{}",
        said(&o)
    );
}

#[test]
fn export_refuses_a_destination_inside_the_source_or_holding_it() {
    let (dir, key, src) = setup();
    // `..` below a folder not made yet leads back into the source too.
    let around = dir.path().join("not-yet/../src/out");
    for dest in [src.join("out"), src.join("a/../deid"), around] {
        let o = deidfs(&[&"export", &src, &dest, &"--key-file", &key]);
        assert!(!o.status.success(), "{dest:?}");
        assert!(said(&o).contains("inside the source"), "{}", said(&o));
    }
    for dest in [src.clone(), dir.path().to_path_buf()] {
        let o = deidfs(&[&"export", &src, &dest, &"--key-file", &key]);
        assert!(!o.status.success(), "{dest:?}");
        assert!(said(&o).contains("holds the source"), "{}", said(&o));
    }
    assert!(!src.join("out").exists() && !src.join("deid").exists());
    assert!(!dir.path().join("not-yet").exists());
}

#[test]
fn a_key_file_that_is_no_key_is_named_so_not_sent_back_to_keygen() {
    let (dir, _key, src) = setup();
    let binary = dir.path().join("binary.key");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00, 0x81, 0x92]).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("out"),
        &"--key-file",
        &binary,
    ]);
    assert!(said(&o).contains("does not hold a key"), "{}", said(&o));
    assert!(
        !said(&o).contains(&format!("keygen {}", binary.display())),
        "keygen would refuse to overwrite it: {}",
        said(&o)
    );
    // A missing key file is the one case keygen is the fix for.
    let missing = dir.path().join("none.key");
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("out"),
        &"--key-file",
        &missing,
    ]);
    assert!(
        said(&o).contains(&format!("deidfs keygen {}", missing.display())),
        "{}",
        said(&o)
    );
}

#[test]
fn a_few_bytes_of_text_are_not_dicom_rather_than_truncated() {
    let (dir, key, src) = setup();
    let text = src.join("a/notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    let o = deidfs(&[
        &"deid",
        &text,
        &dir.path().join("o.dcm"),
        &"--key-file",
        &key,
    ]);
    assert!(said(&o).contains("(not-dicom)"), "{}", said(&o));
}

#[test]
fn zero_threads_or_jobs_are_refused() {
    let (dir, key, src) = setup();
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("o"),
        &"--key-file",
        &key,
        &"--jobs",
        &"0",
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("give 1 or more"), "{}", said(&o));
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--threads",
        &"0",
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("give 1 or more"), "{}", said(&o));
}

/// A detached mount of `src` at `view`.
fn mount(src: &Path, view: &Path, key: &Path) {
    std::fs::create_dir_all(view).unwrap();
    let o = deidfs(&[&"mount", &src, &view, &"--key-file", &key]);
    assert!(o.status.success(), "{}", said(&o));
}

/// The pid of the daemon serving `view`.
fn daemon_of(view: &Path) -> i32 {
    let o = Command::new("pgrep")
        .arg("-f")
        .arg(format!("mount .* {}", view.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .expect("the daemon runs")
        .trim()
        .parse()
        .unwrap()
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn after_a_killed_daemon_mount_names_deidfs_unmount_and_unmount_clears_it() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    mount(&src, &view, &key);
    // SAFETY: kill a daemon this test started.
    unsafe { libc::kill(daemon_of(&view), libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = deidfs(&[&"mount", &src, &view, &"--key-file", &key]);
    assert!(!o.status.success());
    let msg = said(&o);
    assert!(
        msg.contains(&format!("deidfs unmount {}", view.display())),
        "{msg}"
    );
    assert!(!msg.contains("mkdir"), "{msg}");
    let o = deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    mount(&src, &view, &key);
    assert!(deidfs(&[&"unmount", &view]).status.success());
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn resolve_takes_an_absolute_path_under_a_live_mount() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    mount(&src, &view, &key);
    let study = std::fs::read_dir(&view)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&study)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let o = deidfs(&[&"resolve", &file, &"--source", &src, &"--key-file", &key]);
    let _ = deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        src.join("a/ct.dcm").display().to_string()
    );
}

#[test]
fn unmount_leaves_what_is_not_a_deidfs_view_mounted() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    std::fs::create_dir_all(&target).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "deidfs"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(mounted.success());
    let o = deidfs(&[&"unmount", &target]);
    let still = deidfs::mount::is_mountpoint(&target);
    let _ = Command::new("umount").arg(&target).status();
    assert!(!o.status.success());
    assert!(said(&o).contains("not a deidfs view"), "{}", said(&o));
    assert!(still, "the tmpfs is still mounted");
}

/// The example units of docs/systemd with this machine's paths: the binary under test, the
/// archive `src`, the view `view`, the key `key`.
fn unit_text(name: &str, src: &Path, view: &Path, key: &Path) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/systemd")
            .join(name),
    )
    .unwrap();
    text.replace("/usr/local/bin/deidfs", env!("CARGO_BIN_EXE_deidfs"))
        .replace("/srv/pacs", src.to_str().unwrap())
        .replace("/mnt/deid", view.to_str().unwrap())
        .replace("/etc/deidfs/view.key", key.to_str().unwrap())
}

#[test]
fn the_documented_systemd_units_pass_systemds_own_parser() {
    let (dir, key, src) = setup();
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no systemd-analyze (apt-get install systemd)");
        return;
    }
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let service = units.join("deidfs-view.service");
    std::fs::write(
        &service,
        unit_text("deidfs-view.service", &src, &view, &key),
    )
    .unwrap();
    // A mount unit is named after its mount point.
    let escaped = Command::new("systemd-escape")
        .args(["--path", "--suffix=mount"])
        .arg(&view)
        .output()
        .unwrap();
    let mount_unit = units.join(String::from_utf8_lossy(&escaped.stdout).trim());
    std::fs::write(&mount_unit, unit_text("mnt-deid.mount", &src, &view, &key)).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&service)
        .arg(&mount_unit)
        .output()
        .unwrap();
    // systemd-analyze exits 0 on settings it ignores: it must say nothing at all.
    assert!(
        o.status.success() && said(&o).trim().is_empty(),
        "{}",
        said(&o)
    );
    // And it does speak up on a unit it cannot take (the check can fail).
    let bad = units.join("bad.service");
    std::fs::write(
        &bad,
        unit_text("deidfs-view.service", &src, &view, &key).replace("Type=notify", "Type=notifx"),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(said(&o).contains("notifx"), "{}", said(&o));
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn under_systemd_the_daemon_says_ready_once_the_view_is_live_and_stopping_on_sigterm() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    // systemd's side of Type=notify: a datagram socket named by NOTIFY_SOCKET.
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("mount")
        .arg(&src)
        .arg(&view)
        .arg("--key-file")
        .arg(&key)
        .arg("--foreground")
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
    let live = deidfs::mount::is_mountpoint(&view) && std::fs::read_dir(&view).unwrap().count() > 0;
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "READY=1");
    assert!(live, "the view was live when READY=1 came");
    // SAFETY: kill a child of this test.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
    assert!(child.wait().unwrap().success());
    assert!(!deidfs::mount::is_mountpoint(&view));
}

/// `/sbin/mount.fuse.deidfs` linked to the binary under test while it lives (mount(8) finds
/// its helpers there only); `None` when another one is installed (left alone).
struct Helper(Option<PathBuf>);

impl Helper {
    fn link() -> Helper {
        let at = PathBuf::from("/sbin/mount.fuse.deidfs");
        match std::fs::read_link(&at) {
            Err(_) if !at.exists() => {
                std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_deidfs"), &at).unwrap();
                Helper(Some(at))
            }
            Ok(to) if to == Path::new(env!("CARGO_BIN_EXE_deidfs")) => Helper(Some(at)),
            _ => Helper(None),
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(at) = &self.0 {
            let _ = std::fs::remove_file(at);
        }
    }
}

/// Waits until no daemon serves `view` (umount lets it exit).
fn daemon_gone(view: &Path) -> bool {
    (0..100).any(|_| {
        let o = Command::new("pgrep")
            .arg("-f")
            .arg(format!("mount .* {}", view.display()))
            .output()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        o.stdout.is_empty()
    })
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn mount_8_and_the_documented_fstab_line_mount_the_view_and_umount_ends_it() {
    if !is_root() {
        eprintln!("skipped: mount(8) of a FUSE helper here needs root");
        return;
    }
    let helper = Helper::link();
    if helper.0.is_none() {
        eprintln!("skipped: another /sbin/mount.fuse.deidfs is installed");
        return;
    }
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    // mount -t fuse.deidfs, with what fstab and systemd add.
    let o = Command::new("mount")
        .args(["-t", "fuse.deidfs"])
        .arg(&src)
        .arg(&view)
        .arg("-o")
        .arg(format!(
            "key-file={},policy=research,_netdev,nofail,x-systemd.automount",
            key.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", said(&o));
    assert_eq!(
        std::fs::read_dir(&view).unwrap().count(),
        1,
        "one study shown"
    );
    let o = Command::new("umount").arg(&view).output().unwrap();
    assert!(o.status.success(), "{}", said(&o));
    assert!(!deidfs::mount::is_mountpoint(&view));
    assert!(daemon_gone(&view), "the daemon exits when unmounted");
    // The fstab line of docs/systemd/fstab, mounted by its mount point.
    let fstab = dir.path().join("fstab");
    std::fs::write(&fstab, unit_text("fstab", &src, &view, &key)).unwrap();
    let o = Command::new("mount")
        .arg("--fstab")
        .arg(&fstab)
        .arg(&view)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", said(&o));
    assert!(deidfs::mount::is_mountpoint(&view));
    let o = Command::new("umount").arg(&view).output().unwrap();
    assert!(o.status.success(), "{}", said(&o));
    // mount.fuse3 itself (what mount(8) runs when no mount.fuse.deidfs is installed), with
    // the old `deidfs#SOURCE` form: it runs `deidfs SOURCE MOUNTPOINT -o ...` from the PATH.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_deidfs")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("mount.fuse3")
        .arg(format!("deidfs#{}", src.display()))
        .arg(&view)
        .arg("-o")
        .arg(format!("key-file={},_netdev", key.display()))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", said(&o));
    assert!(deidfs::mount::is_mountpoint(&view));
    let o = Command::new("umount").arg(&view).output().unwrap();
    assert!(o.status.success(), "{}", said(&o));
    // An option deidfs does not know fails the mount, by name.
    let o = Command::new("mount")
        .args(["-t", "fuse.deidfs"])
        .arg(&src)
        .arg(&view)
        .arg("-o")
        .arg(format!("key-file={},colour=blue", key.display()))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(said(&o).contains("colour=blue"), "{}", said(&o));
    assert!(!deidfs::mount::is_mountpoint(&view));
}

/// `program args` run as user `uid` with only the supplementary group `groups` (setpriv, of
/// util-linux: the numbers need no account).
fn as_user(uid: u32, groups: &[u32], program: &str, args: &[&Path]) -> Output {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"));
    if groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        let g: Vec<String> = groups.iter().map(u32::to_string).collect();
        c.arg(format!("--groups={}", g.join(",")));
    }
    c.arg(program).args(args).output().unwrap()
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn with_group_only_that_group_reads_the_view_and_an_open_source_is_warned_of() {
    if !is_root() {
        eprintln!("skipped: switching to other users needs root");
        return;
    }
    let (dir, key, src) = setup();
    let (analysts, analyst, outsider) = (59_002u32, 59_001u32, 59_003u32);
    // Other users may reach the mountpoint; the archive is open to all at first.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let group = analysts.to_string();
    let mount = || {
        deidfs(&[
            &"mount",
            &src,
            &view,
            &"--key-file",
            &key,
            &"--allow-other",
            &"--group",
            &group,
        ])
    };
    let o = mount();
    assert!(o.status.success(), "{}", said(&o));
    assert!(
        said(&o).contains("can be read by every user"),
        "the open source is warned of: {}",
        said(&o)
    );
    let file = common::walk(&view)
        .into_iter()
        .next()
        .expect("a file in the view");
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (analysts, 0o440));
        let d = std::fs::metadata(file.parent().unwrap()).unwrap();
        assert_eq!((d.gid(), d.mode() & 0o7777), (analysts, 0o550));
    }
    let member = as_user(analyst, &[analysts], "cat", &[&file]);
    let other = as_user(outsider, &[], "cat", &[&file]);
    let listed = as_user(outsider, &[], "ls", &[&view]);
    assert!(deidfs(&[&"unmount", &view]).status.success());
    assert!(member.status.success(), "a member reads: {}", said(&member));
    assert!(member.stdout.len() > 128, "the whole file");
    assert!(!other.status.success());
    assert!(
        said(&other).contains("Permission denied"),
        "{}",
        said(&other)
    );
    assert!(!listed.status.success(), "nor lists: {}", said(&listed));
    // Closed to others, the source draws no warning.
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = mount();
    let _ = deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    assert!(!said(&o).contains("can be read by"), "{}", said(&o));
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn json_logs_are_one_object_per_line_without_fusers_noise_or_phi() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    let log = dir.path().join("log.json");
    std::fs::create_dir_all(&view).unwrap();
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--open-handles",
        &"--log-format",
        &"json",
        &"--log-file",
        &log,
    ]);
    assert!(o.status.success(), "{}", said(&o));
    for file in common::walk(&view) {
        // Opened, read and closed: the kernel flushes at every close.
        assert!(std::fs::read(&file).unwrap().len() > 128);
    }
    assert!(deidfs(&[&"unmount", &view]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "mounted"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l["level"].is_string()), "{text}");
    assert!(!text.contains("Not Implemented"), "{text}");
    assert!(!text.contains(fx::PATIENT_NAME), "{text}");
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn detached_without_a_log_file_the_daemon_logs_to_the_system_log() {
    let syslog = Path::new(deidfs::syslog::SOCKET);
    if !is_root() || syslog.exists() {
        eprintln!(
            "skipped: needs root and no system log at /dev/log (this test listens there itself)"
        );
        return;
    }
    struct Listening(std::os::unix::net::UnixDatagram);
    impl Drop for Listening {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(deidfs::syslog::SOCKET);
        }
    }
    let log = Listening(std::os::unix::net::UnixDatagram::bind(syslog).unwrap());
    log.0
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    mount(&src, &view, &key);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = log.0.recv(&mut buf) {
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        let done = line.contains("mounted ");
        got.push(line);
        if done {
            break;
        }
    }
    let _ = deidfs(&[&"unmount", &view]);
    let mounted = got
        .iter()
        .find(|l| l.contains("mounted "))
        .unwrap_or_else(|| panic!("no 'mounted' line: {got:?}"));
    // Facility daemon, severity info; the daemon's own pid.
    assert!(mounted.starts_with("<30>deidfs["), "{mounted}");
}

#[test]
fn man_pages_and_completions_come_from_the_command_line_itself() {
    let dir = tempfile::tempdir().unwrap();
    let o = deidfs(&[&"man", &dir.path()]);
    assert!(o.status.success(), "{}", said(&o));
    let page = std::fs::read_to_string(dir.path().join("deidfs-mount.1")).unwrap();
    assert!(
        page.contains("allow\\-other") && page.contains("group"),
        "{page}"
    );
    assert!(dir.path().join("deidfs.1").exists());
    if let Ok(rendered) = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("deidfs-mount.1"))
        .output()
    {
        if rendered.status.success() {
            assert!(String::from_utf8_lossy(&rendered.stdout).contains("read-only"));
        }
    }
    let o = deidfs(&[&"completions", &"bash"]);
    assert!(o.status.success());
    let script = dir.path().join("deidfs.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", said(&syntax));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--key-file"));
}

#[test]
fn a_mistyped_option_is_answered_with_the_one_meant() {
    let (_dir, _key, src) = setup();
    let o = deidfs(&[&"scan", &src, &"--option", &"retain-uid"]);
    assert!(!o.status.success());
    assert!(
        said(&o).contains("did you mean \"retain-uids\""),
        "{}",
        said(&o)
    );
}

/// 4,000 more CT files under `src`, in 40 folders.
fn many_files(src: &Path) {
    let file = fx::ct_default().build();
    for folder in 0..40 {
        let d = src.join(format!("s{folder:02}"));
        std::fs::create_dir_all(&d).unwrap();
        for n in 0..100 {
            std::fs::write(d.join(format!("{n:03}.dcm")), &file).unwrap();
        }
    }
}

#[test]
fn on_a_terminal_export_and_scan_show_files_done_of_the_total_and_the_time_left() {
    let (dir, key, src) = setup();
    many_files(&src);
    // A real terminal: script(1) runs the command on a pseudo-terminal.
    let on_terminal = |command: String| {
        let o = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let bin = env!("CARGO_BIN_EXE_deidfs");
    let shown = on_terminal(format!(
        "{bin} export {} {} --key-file {} --jobs 1",
        src.display(),
        dir.path().join("out").display(),
        key.display()
    ));
    assert!(shown.contains("/4001 files ("), "{shown}");
    assert!(shown.contains("left") && shown.contains("MB/s"), "{shown}");
    assert!(shown.contains("exported to"), "{shown}");
    let shown = on_terminal(format!("{bin} scan {}", src.display()));
    assert!(shown.contains("/4001 files ("), "{shown}");
    // Off a terminal, no bar.
    let o = deidfs(&[&"scan", &src]);
    assert!(!said(&o).contains("files ("), "{}", said(&o));
}

#[test]
fn an_interrupted_export_resumes_where_it_stopped_and_leaves_no_temporary_file() {
    let (dir, key, src) = setup();
    many_files(&src);
    let dest = dir.path().join("out");
    let count = |dir: &Path, what: &str| {
        common::walk(dir)
            .iter()
            .filter(|p| p.to_string_lossy().contains(what))
            .count()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("export")
        .arg(&src)
        .arg(&dest)
        .arg("--key-file")
        .arg(&key)
        .args(["--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dest.exists() || count(&dest, ".dcm") < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the export wrote nothing in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signal a child of this test.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let first = child.wait_with_output().unwrap();
    let first_said = String::from_utf8_lossy(&first.stdout).to_string();
    if first.status.success() {
        eprintln!("skipped: the export finished before the signal came ({first_said})");
        return;
    }
    assert_eq!(first.status.code(), Some(130), "{first_said}");
    assert!(
        first_said.contains("run the same command again to resume"),
        "{first_said}"
    );
    assert_eq!(count(&dest, ".deidfs-tmp-"), 0, "no temporary file left");
    let kept = count(&dest, ".dcm");
    assert!((20..4001).contains(&kept), "{kept}");
    // What a kill -9 would leave: a temporary file.
    let planted = common::walk(&dest)[0].with_file_name(".x.dcm.deidfs-tmp-4194304");
    std::fs::write(&planted, b"partial").unwrap();
    let second = deidfs(&[&"export", &src, &dest, &"--key-file", &key]);
    assert!(second.status.success(), "{}", said(&second));
    assert!(
        said(&second).contains("removed 1 temporary"),
        "{}",
        said(&second)
    );
    let skipped: usize = said(&second)
        .split(" skipped")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", said(&second)));
    assert!(
        skipped >= kept - 1,
        "resumed: {skipped} skipped of {kept} kept"
    );
    assert_eq!(count(&dest, ".dcm"), 4001, "every file once");
    assert!(!dest.join(".deidfs-export.partial").exists());
    // Outputs of sources since deleted leave the outbox, counted.
    std::fs::remove_dir_all(src.join("s07")).unwrap();
    let third = deidfs(&[&"export", &src, &dest, &"--key-file", &key]);
    assert!(said(&third).contains("100 removed"), "{}", said(&third));
    assert_eq!(count(&dest, ".dcm"), 3901);
}

/// The audit log's lines after `cat` read a file twice through a mount with `extra` flags,
/// and the file's size.
fn audited_twice(extra: &[&str]) -> (Vec<serde_json::Value>, u64) {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    let audit = dir.path().join("audit.jsonl");
    std::fs::create_dir_all(&view).unwrap();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--audit-log",
        &audit,
    ];
    for e in extra {
        args.push(e);
    }
    let o = deidfs(&args);
    assert!(o.status.success(), "{}", said(&o));
    let file = common::walk(&view).into_iter().next().unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    for _ in 0..2 {
        // A reader that is gone by the time its file is released.
        assert!(
            Command::new("cat")
                .arg(&file)
                .output()
                .unwrap()
                .status
                .success()
        );
    }
    assert!(deidfs(&[&"unmount", &view]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let lines = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, size)
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn the_audit_log_names_a_reader_that_exited_and_counts_what_the_daemon_served() {
    let (lines, size) = audited_twice(&[]);
    let opens: Vec<_> = lines.iter().filter(|l| l["event"] == "open").collect();
    let closes: Vec<_> = lines.iter().filter(|l| l["event"] == "close").collect();
    assert_eq!((opens.len(), closes.len()), (2, 2), "{lines:?}");
    assert!(lines.iter().all(|l| l["process"] == "cat"), "{lines:?}");
    assert_eq!(
        closes[0]["bytes"], size,
        "the first read is served: {lines:?}"
    );
    // The second read came from the kernel's cache: the daemon served nothing, and says so.
    assert_eq!(closes[1]["bytes"], 0, "{lines:?}");
    // Unless the cache is dropped at every open: then each read is served and counted.
    let (lines, size) = audited_twice(&["--audit-uncached"]);
    let served: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "close")
        .map(|l| l["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(served, vec![size, size], "{lines:?}");
}

/// `GET path` from a server on 127.0.0.1:`port`: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn metrics_on_loopback_count_operations_plans_bytes_and_hidden_files_without_a_path() {
    let (dir, key, src) = setup();
    std::fs::write(src.join("a/notes.txt"), "not an image").unwrap();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    // A non-loopback address is refused before anything is mounted.
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--metrics",
        &"0.0.0.0:9464",
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("loopback"), "{}", said(&o));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--metrics",
        &addr,
    ]);
    assert!(o.status.success(), "{}", said(&o));
    let files = common::walk(&view);
    let mut read = 0;
    for f in &files {
        read += std::fs::read(f).unwrap().len() as u64;
    }
    let (status, body) = http_get(port, "/metrics");
    let (missing, _) = http_get(port, "/other");
    assert!(deidfs(&[&"unmount", &view]).status.success());
    assert!(status.contains("200"), "{status}");
    assert!(missing.contains("404"), "{missing}");
    let value = |name: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {body}"))
    };
    assert!(
        value("deidfs_fuse_requests_total{op=\"read\"}") >= 1.0,
        "{body}"
    );
    assert!(
        value("deidfs_fuse_request_seconds_sum{op=\"readdirplus\"}") > 0.0,
        "{body}"
    );
    assert!(value("deidfs_read_bytes_total") >= read as f64, "{body}");
    assert!(value("deidfs_plans_total") >= 2.0, "{body}");
    assert_eq!(
        value("deidfs_hidden_files_total{reason=\"not-dicom\"}"),
        1.0,
        "{body}"
    );
    // No path or name of the view or the source in any line.
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(!body.contains(name.as_ref()), "{name} in the metrics");
    }
    assert!(!body.contains("notes") && !body.contains("/tmp"), "{body}");
}

#[test]
fn a_log_path_that_cannot_be_written_and_a_mistyped_policy_keyword_name_the_fix() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let missing = dir.path().join("no/such/log");
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--log-file",
        &missing,
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("mkdir -p"), "{}", said(&o));
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--log-file",
        &dir.path(),
    ]);
    assert!(said(&o).contains("give a file's path"), "{}", said(&o));
    assert!(!deidfs::mount::is_mountpoint(&view));
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "name = \"mine\"\nextend = \"basic\"\n").unwrap();
    let o = deidfs(&[&"policy", &"check", &policy]);
    assert!(
        said(&o).contains("did you mean \"extends\""),
        "{}",
        said(&o)
    );
}

/// A real second account (`deidfs-analyst`, made once, without a home or a shell) and
/// /dev/fuse opened to users while the guard lives, as it is by default (this machine keeps
/// it root-only). `None` where that cannot be had (not root, no useradd).
struct SecondUser {
    uid: u32,
    gid: u32,
    fuse_mode: u32,
}

impl SecondUser {
    fn new() -> Option<SecondUser> {
        if !is_root() {
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let o = Command::new("id")
                .arg(flag)
                .arg("deidfs-analyst")
                .output()
                .ok()?;
            String::from_utf8_lossy(&o.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg("deidfs-analyst")
                .status()
                .ok()?;
        }
        use std::os::unix::fs::PermissionsExt;
        let fuse_mode = std::fs::metadata("/dev/fuse").ok()?.permissions().mode();
        std::fs::set_permissions("/dev/fuse", std::fs::Permissions::from_mode(0o666)).ok()?;
        Some(SecondUser {
            uid: id("-u")?,
            gid: id("-g")?,
            fuse_mode,
        })
    }

    /// deidfs `args` run as the second user.
    fn deidfs(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg(env!("CARGO_BIN_EXE_deidfs"))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for SecondUser {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ =
            std::fs::set_permissions("/dev/fuse", std::fs::Permissions::from_mode(self.fuse_mode));
    }
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn a_user_mounts_resolves_absolute_paths_and_unmounts_only_a_deidfs_view() {
    let Some(user) = SecondUser::new() else {
        eprintln!("skipped: a second user needs root and useradd");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/ct.dcm"), fx::ct_default().build()).unwrap();
    let home = dir.path().join("home");
    let view = home.join("view");
    std::fs::create_dir_all(&view).unwrap();
    for p in [&home, &view] {
        std::os::unix::fs::chown(p, Some(user.uid), Some(user.gid)).unwrap();
    }
    let key = home.join("k.key");
    assert!(user.deidfs(&[&"keygen", &key]).status.success());
    let o = user.deidfs(&[&"mount", &src, &view, &"--key-file", &key]);
    assert!(o.status.success(), "{}", said(&o));
    // A view mounted by a user shows as fuse.deidfs.
    let mounted = deidfs::mountinfo::mount_at(&view).expect("mounted");
    assert_eq!(mounted.fs_type, "fuse.deidfs");
    // Only its user may enter it (no --allow-other): not even root.
    let found = Command::new("setpriv")
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={}", user.gid))
        .arg("--clear-groups")
        .args(["find"])
        .arg(&view)
        .args(["-type", "f"])
        .output()
        .unwrap();
    let file = PathBuf::from(
        String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .expect("a file"),
    );
    let o = user.deidfs(&[&"resolve", &file, &"--source", &src, &"--key-file", &key]);
    assert!(o.status.success(), "{}", said(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        src.join("a/ct.dcm").display().to_string()
    );
    // The user's unmount leaves a tmpfs alone (and says so), and unmounts the view.
    let other = dir.path().join("tmpfs");
    std::fs::create_dir_all(&other).unwrap();
    assert!(
        Command::new("mount")
            .args(["-t", "tmpfs", "deidfs"])
            .arg(&other)
            .status()
            .unwrap()
            .success()
    );
    let refused = user.deidfs(&[&"unmount", &other]);
    let _ = Command::new("umount").arg(&other).status();
    assert!(
        said(&refused).contains("not a deidfs view"),
        "{}",
        said(&refused)
    );
    let o = user.deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    assert!(!deidfs::mount::is_mountpoint(&view));
}

#[test]
fn three_shards_export_together_exactly_what_one_export_does_and_their_manifests_merge() {
    let (dir, key, src) = setup();
    // A fixed key: which shard a patient falls in depends on the key, and
    // with a random one a shard of thirteen patients is empty 1.5% of runs.
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    // Twelve patients, each with a study of three files in two folders.
    for p in 0..12 {
        let file = fx::ct_like(&format!("PATIENT^{p}"), &format!("ID{p:04}"), 8, 8).build();
        for (folder, n) in [("x", 0), ("x", 1), ("y", 2)] {
            let d = src.join(format!("p{p:02}/{folder}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{n}.dcm")), &file).unwrap();
        }
    }
    let whole = dir.path().join("whole");
    assert!(
        deidfs(&[&"export", &src, &whole, &"--key-file", &key])
            .status
            .success()
    );
    let parts = dir.path().join("parts");
    let mut per_shard = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = deidfs(&[
            &"export",
            &src,
            &parts,
            &"--key-file",
            &key,
            &"--shard",
            &shard,
        ]);
        assert!(o.status.success(), "{}", said(&o));
        per_shard.push(count_written(&said(&o)));
    }
    let files = |d: &Path| -> Vec<PathBuf> {
        let mut f: Vec<PathBuf> = common::walk(d)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
            .map(|p| p.strip_prefix(d).unwrap().to_path_buf())
            .collect();
        f.sort();
        f
    };
    assert_eq!(files(&whole), files(&parts), "the same files");
    assert_eq!(files(&whole).len(), 37);
    for f in files(&whole) {
        assert!(
            std::fs::read(whole.join(&f)).unwrap() == std::fs::read(parts.join(&f)).unwrap(),
            "{f:?} byte for byte"
        );
    }
    assert_eq!(
        per_shard.iter().sum::<usize>(),
        37,
        "each file once: {per_shard:?}"
    );
    assert!(
        per_shard.iter().all(|n| *n > 0),
        "every shard has work: {per_shard:?}"
    );
    // Each patient's files (a study in two folders) are in one shard: its manifest.
    let manifest = |name: &str| -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(parts.join(name))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let mut merged = std::collections::BTreeSet::new();
    for i in 0..3 {
        let m = manifest(&format!(".deidfs-export.shard-{i}-of-3"));
        assert!(m.is_disjoint(&merged), "a file in two shards");
        merged.extend(m);
    }
    let one: std::collections::BTreeSet<String> =
        std::fs::read_to_string(whole.join(".deidfs-export"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
    assert_eq!(merged, one, "the shards' manifests merge into the whole's");
    let top = |line: &String| line.split('/').next().unwrap_or_default().to_string();
    for i in 0..3 {
        let m = manifest(&format!(".deidfs-export.shard-{i}-of-3"));
        for other in (0..3).filter(|j| *j != i) {
            let o = manifest(&format!(".deidfs-export.shard-{other}-of-3"));
            let mine: std::collections::BTreeSet<_> = m.iter().map(top).collect();
            assert!(o.iter().all(|l| !mine.contains(&top(l))), "a patient split");
        }
    }
}

/// "N written" of an export's summary.
fn count_written(said: &str) -> usize {
    said.split(" written")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"))
}
