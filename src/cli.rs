//! Command-line types only (clap). Converted to plain values by `commands`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "deidfs",
    version,
    about = "DICOM de-identification per PS3.15 Annex E, as a read-only view of an archive"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// Built-in policy name (basic, research) or path to a policy .toml file.
    #[arg(long, default_value = "basic")]
    pub policy: String,
    /// Add a PS3.15 option (e.g. retain-longitudinal-modified-dates); repeatable.
    #[arg(long = "option", value_name = "NAME")]
    pub options: Vec<String>,
}

/// Reaching an archive on a server: an object store (SOURCE `s3://BUCKET/PREFIX`) or a
/// DICOMweb server (`dicomweb+http://HOST/dicom-web`). Object-store credentials,
/// region and endpoint come from the standard AWS environment (AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL).
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The object store's address, e.g. http://127.0.0.1:8333 for a server of your own
    /// (over AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Read a public bucket: requests unsigned, no credentials looked for.
    #[arg(long)]
    pub no_sign_request: bool,
    /// Where a DICOMweb source keeps the instances it fetches (they hold PHI: a folder of
    /// its own inside, mode 0700, removed at exit). Default ~/.cache/deidfs.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The most those instances take on disk (least recently used removed first).
    #[arg(long, default_value = "4G", value_parser = parse_bytes, value_name = "BYTES")]
    pub disk_cache_size: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new random secret key (mode 0600). Never overwrites an existing file.
    #[command(after_help = "Example:\n  deidfs keygen /etc/deidfs/view.key")]
    Keygen {
        /// Where to write the key (must not exist).
        keyfile: PathBuf,
    },
    /// De-identify one file.
    #[command(
        after_help = "Example:\n  deidfs deid scan.dcm /tmp/scan-deid.dcm --key-file k.key --policy research"
    )]
    Deid {
        /// The DICOM file to read (never changed).
        input: PathBuf,
        /// Where to write the de-identified file (not the input).
        output: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Show, per attribute, the action and the value before and after (key holder only: shows PHI).
    #[command(
        after_help = "Example:\n  deidfs inspect scan.dcm --key-file k.key --option retain-uids"
    )]
    Inspect {
        /// The DICOM file to explain.
        file: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List, show or check policies.
    Policy {
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// Mount SOURCE at MOUNTPOINT as a read-only, de-identified, pseudonymous view.
    #[command(
        after_help = "Examples:\n  deidfs mount /srv/pacs /mnt/deid --key-file /etc/deidfs/view.key --policy research\n  deidfs mount /srv/pacs /mnt/deid --key-file k.key --allow-other --group analysts\n\nAs a mount helper (fstab, systemd .mount units): docs/operations.md."
    )]
    Mount {
        /// The archive: its root folder, or s3://BUCKET/PREFIX (read only).
        source: PathBuf,
        /// An empty folder where the view appears.
        mountpoint: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
        /// Stay attached (for tests and systemd); otherwise detach once the mount is live.
        #[arg(long)]
        foreground: bool,
        /// Let other users read the view, as its owner, group and modes allow (the kernel
        /// checks them: default_permissions).
        #[arg(long)]
        allow_other: bool,
        /// Only this group (name or number) may read the view, besides its owner: files
        /// 0440 and folders 0550 of that group. Needs --allow-other.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Owner of every file and folder (user name or number; default: you).
        #[arg(long, value_name = "USER")]
        uid: Option<String>,
        /// Group of every file and folder (name or number; default: your group).
        #[arg(long, value_name = "GROUP")]
        gid: Option<String>,
        /// Mode of every file, octal, read bits only (default 0444; 0440 with --group).
        #[arg(long, value_name = "MODE", value_parser = crate::access::parse_mode)]
        file_mode: Option<u16>,
        /// Mode of every folder, octal, read and search bits only (default 0555; 0550 with
        /// --group).
        #[arg(long, value_name = "MODE", value_parser = crate::access::parse_mode)]
        dir_mode: Option<u16>,
        /// Memory for cached plans, in bytes (suffixes K, M, G accepted).
        #[arg(long, default_value = "256M", value_parser = parse_bytes)]
        cache_size: u64,
        /// FUSE worker threads (at least 1).
        #[arg(long, default_value_t = 4, value_parser = at_least_one)]
        threads: usize,
        /// Seconds the kernel may cache names and sizes; archive changes show within it.
        #[arg(long, default_value_t = 60)]
        ttl: u64,
        /// Append logs here (mode 0600). Without it: stderr in the foreground (the journal,
        /// under systemd), the system log (/dev/log) when detached. Logs name files by their
        /// pseudonym only. The level is DEIDFS_LOG's: error, warn, info (default) or debug,
        /// or a tracing filter such as `info,deidfs::fs=debug`.
        #[arg(long)]
        log_file: Option<PathBuf>,
        /// Log lines as text or as JSON objects (one per line).
        #[arg(long, value_enum, default_value_t = crate::run::LogFormat::Text)]
        log_format: crate::run::LogFormat,
        /// Append a JSON line when a file is opened through the view and one when it is
        /// closed, with the bytes served (mode 0600; docs/operations.md says what is seen).
        /// Implies --open-handles.
        #[arg(long)]
        audit_log: Option<PathBuf>,
        /// With --audit-log: drop the kernel's cached copy of a file at every open, so that
        /// every read reaches the daemon and is counted (warm reads cost more).
        #[arg(long, requires = "audit_log")]
        audit_uncached: bool,
        /// Give every open its own handle, pinned to the version it opened: a file changed
        /// while read fails its reads rather than mixing versions. Costs two round trips
        /// (OPEN, RELEASE) per file opened; without it reads go straight to the daemon and
        /// a changed file shows its new version within --ttl.
        #[arg(long)]
        open_handles: bool,
        /// Serve Prometheus metrics (FUSE operations and their time, plans, cache, bytes,
        /// files hidden by reason; no path in any label) at http://ADDR/metrics. Loopback
        /// addresses only, e.g. 127.0.0.1:9464.
        #[arg(long, value_name = "ADDR", value_parser = parse_loopback)]
        metrics: Option<std::net::SocketAddr>,
        /// Where the listing index is kept: each folder's file sizes and hidden files as
        /// listed, so that a later mount lists them without planning (no PHI: sizes and
        /// reason codes under keyed names, mode 0700). Default ~/.cache/deidfs/index.
        #[arg(long, value_name = "DIR", conflicts_with = "no_index")]
        index_dir: Option<PathBuf>,
        /// Keep no listing index: every mount plans each folder's files when first listed.
        #[arg(long)]
        no_index: bool,
        /// Internal: report readiness to a detaching parent.
        #[arg(long, hide = true)]
        ready_pipe: bool,
    },
    /// Key holder: print the source path a view path comes from (no mount needed).
    #[command(
        after_help = "Example:\n  deidfs resolve /mnt/deid/K3F.../S9Q.../X1Y.dcm --source /srv/pacs --key-file k.key"
    )]
    Resolve {
        /// A path relative to the view's root, or an absolute path under a live mount.
        view_path: PathBuf,
        /// The archive the view was made of: its root folder, or s3://BUCKET/PREFIX.
        #[arg(long)]
        source: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Key holder: write uid_mapping.csv, patid_mapping.csv and path_mapping.csv (mode 0600).
    #[command(
        after_help = "Example:\n  deidfs crosswalk /srv/pacs --key-file k.key --out /secure/crosswalk"
    )]
    Crosswalk {
        /// The archive: its root folder, or s3://BUCKET/PREFIX.
        source: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
        /// The folder to write the three CSV files into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the view as files: the same names and bytes a mount shows.
    #[command(
        after_help = "Example:\n  deidfs export /srv/pacs /data/deid --key-file k.key --policy research\n\nRun again to bring the copy up to date: unchanged files are skipped."
    )]
    Export {
        /// The archive: its root folder, or s3://BUCKET/PREFIX (read only).
        source: PathBuf,
        /// The folder to write into (outside the source).
        dest: PathBuf,
        /// The secret key (made by `deidfs keygen`, mode 0600): the same key gives the same
        /// pseudonyms.
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
        /// Folders listed and written at once (writing waits on the disk more than on the
        /// processor: more than the cores pays).
        #[arg(long, default_value_t = 8, value_parser = at_least_one)]
        jobs: usize,
        /// Export one part of the archive: INDEX/COUNT (0-based), or auto/COUNT (or auto on
        /// Slurm) with the index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or
        /// SLURM_ARRAY_TASK_ID. Parts split by patient, so a study is never split; COUNT
        /// workers with one key export everything exactly once (docs/scale.md).
        #[arg(long, value_name = "INDEX/COUNT")]
        shard: Option<String>,
    },
    /// Count what the view would show and hide, by reason, modality and transfer syntax.
    #[command(after_help = "Example:\n  deidfs scan /srv/pacs --policy research --json")]
    Scan {
        /// The archive: its root folder, or s3://BUCKET/PREFIX.
        source: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        store: StoreArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// List hidden files by source path (PHI: for the archive's administrators).
        #[arg(long)]
        show_paths: bool,
    },
    /// Unmount a deidfs view (also clears the mount of a daemon that was killed).
    #[command(after_help = "Example:\n  deidfs unmount /mnt/deid")]
    Unmount {
        /// Where the view is mounted (only a deidfs view is unmounted).
        mountpoint: PathBuf,
    },
    /// Write the manual pages (deidfs.1 and one per subcommand) into DIR, e.g.
    /// `deidfs man /usr/local/share/man/man1`.
    Man {
        /// The folder to write the pages into (made if missing).
        dir: PathBuf,
    },
    /// Print the completions for SHELL to standard output, e.g.
    /// `deidfs completions bash > /etc/bash_completion.d/deidfs`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Build a small fake archive, mount it de-identified and show both sides.
    Demo {
        /// Exit right after showing (do not wait for Ctrl-C).
        #[arg(long)]
        exit: bool,
    },
}

fn parse_loopback(s: &str) -> Result<std::net::SocketAddr, String> {
    crate::metrics::loopback(s).map_err(|e| format!("{e:#}"))
}

/// A count of threads or jobs: 1 or more.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 would do nothing: give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number: give 1 or more")),
    }
}

/// "4096", "64K", "256M", "2G" -> bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size: use bytes, or a number with K, M or G"))
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The built-in policies.
    List,
    /// What a policy does (built-in name or path).
    Show {
        /// A built-in policy (basic, research) or a policy file.
        name: String,
    },
    /// Check a policy file; prints the first error with its line.
    Check {
        /// The policy .toml file.
        path: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    fn every_command(c: &clap::Command, out: &mut Vec<clap::Command>) {
        out.push(c.clone());
        for s in c.get_subcommands() {
            every_command(s, out);
        }
    }

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        let mut all = Vec::new();
        every_command(&Cli::command(), &mut all);
        for c in &all {
            for a in c.get_arguments() {
                if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                    continue;
                }
                assert!(
                    a.get_help().is_some(),
                    "{} {}: no help",
                    c.get_name(),
                    a.get_id()
                );
            }
        }
    }

    #[test]
    fn the_commands_a_user_runs_show_an_example() {
        let cli = Cli::command();
        for name in [
            "keygen",
            "deid",
            "inspect",
            "mount",
            "resolve",
            "crosswalk",
            "export",
            "scan",
            "unmount",
        ] {
            let c = cli.find_subcommand(name).unwrap();
            let after = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(after.contains("deidfs "), "{name}: no example");
        }
    }
}
