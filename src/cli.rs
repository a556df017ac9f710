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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new random secret key (mode 0600). Never overwrites an existing file.
    Keygen { keyfile: PathBuf },
    /// De-identify one file.
    Deid {
        input: PathBuf,
        output: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Show, per attribute, the action and the value before and after (key holder only: shows PHI).
    Inspect {
        file: PathBuf,
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
    Mount {
        source: PathBuf,
        mountpoint: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
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
        /// Append one JSON line per file opened through the view (mode 0600). Implies
        /// --open-handles.
        #[arg(long)]
        audit_log: Option<PathBuf>,
        /// Give every open its own handle, pinned to the version it opened: a file changed
        /// while read fails its reads rather than mixing versions. Costs two round trips
        /// (OPEN, RELEASE) per file opened; without it reads go straight to the daemon and
        /// a changed file shows its new version within --ttl.
        #[arg(long)]
        open_handles: bool,
        /// Internal: report readiness to a detaching parent.
        #[arg(long, hide = true)]
        ready_pipe: bool,
    },
    /// Key holder: print the source path a view path comes from (no mount needed).
    Resolve {
        /// A path relative to the view's root, or an absolute path under a live mount.
        view_path: PathBuf,
        #[arg(long)]
        source: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Key holder: write uid_mapping.csv, patid_mapping.csv and path_mapping.csv (mode 0600).
    Crosswalk {
        source: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the view as files: the same names and bytes a mount shows.
    Export {
        source: PathBuf,
        dest: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Folders listed and written at once (writing waits on the disk more than on the
        /// processor: more than the cores pays).
        #[arg(long, default_value_t = 8, value_parser = at_least_one)]
        jobs: usize,
    },
    /// Count what the view would show and hide, by reason, modality and transfer syntax.
    Scan {
        source: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// List hidden files by source path (PHI: for the archive's administrators).
        #[arg(long)]
        show_paths: bool,
    },
    /// Unmount a deidfs view (also clears the mount of a daemon that was killed).
    Unmount { mountpoint: PathBuf },
    /// Build a small fake archive, mount it de-identified and show both sides.
    Demo {
        /// Exit right after showing (do not wait for Ctrl-C).
        #[arg(long)]
        exit: bool,
    },
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
    Show { name: String },
    /// Check a policy file; prints the first error with its line.
    Check { path: PathBuf },
}
