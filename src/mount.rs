//! Mounting and unmounting: checks that explain every failure before the mount is live, the
//! FUSE session, signals, and detaching into the background.

use crate::fs::{Config, DeidFs};
use crate::fuse::FuseAdapter;
use crate::source::Source;
use anyhow::{Context, anyhow, bail};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct MountSpec {
    pub mountpoint: PathBuf,
    pub allow_other: bool,
    pub threads: usize,
    /// How long the kernel may cache entries and attributes.
    pub ttl: Duration,
    /// Where the metrics are served (loopback only), if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
}

/// A local archive's root, checked before mounting: a directory that does not hold the
/// mountpoint. Each failure is one line naming the fix.
pub fn check_source(source: &Path, mountpoint: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(source) {
        Err(_) => bail!(
            "source {}: no such directory; give the archive's root folder",
            source.display()
        ),
        Ok(m) if !m.is_dir() => bail!(
            "source {}: not a directory; give the archive's root folder",
            source.display()
        ),
        Ok(_) => {}
    }
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(source),
        std::fs::canonicalize(mountpoint),
    ) && b.starts_with(&a)
    {
        bail!("the mountpoint is inside the source; choose a mountpoint outside the archive");
    }
    Ok(())
}

/// The listing index's folder, checked before mounting: outside a local archive (nothing is
/// ever written into one) and outside the mountpoint.
pub fn check_index_dir(
    index: &Path,
    source: Option<&Path>,
    mountpoint: &Path,
) -> anyhow::Result<()> {
    let at = resolved(index);
    for (root, what) in [(source, "the source"), (Some(mountpoint), "the mountpoint")] {
        if let Some(root) = root.and_then(|r| std::fs::canonicalize(r).ok())
            && at.starts_with(&root)
        {
            bail!(
                "--index-dir {}: inside {what}; choose a folder outside it (or --no-index)",
                index.display()
            );
        }
    }
    Ok(())
}

/// `path` with its longest existing part resolved (links, `..`), the rest as written.
fn resolved(path: &Path) -> std::path::PathBuf {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |p, r| p.join(r));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                at = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Everything about the mountpoint and FUSE that can be checked before mounting, each
/// failure one line naming the fix.
pub fn preflight(spec: &MountSpec) -> anyhow::Result<()> {
    let m = &spec.mountpoint;
    match std::fs::metadata(m) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            let what = match crate::mountinfo::mount_at(m) {
                Some(found) if found.is_deidfs() => "a deidfs view whose daemon has stopped",
                _ => "a FUSE filesystem whose daemon has stopped",
            };
            bail!(
                "mountpoint {}: {what} is still mounted there; clear it with `deidfs unmount {}`, then mount again",
                m.display(),
                m.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "mountpoint {}: does not exist; create it with `mkdir -p {}`",
                m.display(),
                m.display()
            );
        }
        Err(e) => bail!(
            "mountpoint {}: {e}; give a directory you can read",
            m.display()
        ),
        Ok(md) if !md.is_dir() => {
            bail!(
                "mountpoint {}: not a directory; give an empty directory",
                m.display()
            );
        }
        Ok(_) => {}
    }
    if is_mountpoint(m) {
        bail!(
            "mountpoint {}: something is already mounted there; unmount it first with `deidfs unmount {}`",
            m.display(),
            m.display()
        );
    }
    if std::fs::read_dir(m)
        .with_context(|| format!("mountpoint {}: cannot read it", m.display()))?
        .next()
        .is_some()
    {
        bail!(
            "mountpoint {}: not empty; mount on an empty directory",
            m.display()
        );
    }
    if !Path::new("/dev/fuse").exists() {
        bail!(
            "no /dev/fuse: load the FUSE module (`modprobe fuse`) or run where FUSE is available"
        );
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && which("fusermount3").is_none() {
        bail!("fusermount3 not found: install FUSE 3 (`apt-get install fuse3`)");
    }
    // A user's mount opens /dev/fuse itself (fuser 0.18 does not fall back to fusermount3
    // when it cannot), so it must be open to users, as it is by default (0666).
    if !root
        && let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        bail!(
            "/dev/fuse: only root may open it here; ask the administrator for `chmod 0666 /dev/fuse` (its usual mode), or mount as root"
        );
    }
    if spec.allow_other && !root {
        let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        if !conf.lines().any(|l| l.trim() == "user_allow_other") {
            bail!("--allow-other needs `user_allow_other` in /etc/fuse.conf (or mounting as root)");
        }
    }
    Ok(())
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// Whether `path` is the mount point of some filesystem (from /proc/self/mountinfo).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        // A dead FUSE mount cannot even be resolved: "Transport endpoint is not connected".
        return std::fs::metadata(path).err().and_then(|e| e.raw_os_error())
            == Some(libc::ENOTCONN);
    };
    crate::mountinfo::mounts()
        .iter()
        .any(|m| m.mount_point == canon)
}

/// Mounts and serves until SIGINT/SIGTERM or an external unmount. `ready` is told once the
/// mount is live (the detaching parent waits for it).
/// `stop` ends it too (signals set it).
pub fn serve(
    spec: &MountSpec,
    source: Arc<dyn Source>,
    cfg: Config,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    preflight(spec)?;
    let (soft, hard) = crate::io::raise_open_file_limit();
    tracing::info!(soft, hard, "open file limit");
    let planner = cfg.planner.id();
    let store = source.clone();
    let fs = Arc::new(DeidFs::new(source, cfg));
    let view = fs.clone();
    let said = move || {
        let (planned, indexed) = view.metrics().plans_and_indexed();
        tracing::info!(
            planned,
            indexed,
            "files planned, and listed from the listing index"
        );
        if let Some(r) = store.requests() {
            tracing::info!(made = %r, "requests to the archive's server");
        }
        store.close();
    };
    if let Some(addr) = spec.metrics {
        let view = fs.clone();
        crate::metrics::serve(addr, move || view.metrics_text())?;
        tracing::info!(%addr, "metrics served");
    }
    fs.start();
    let adapter = FuseAdapter::new(fs, spec.ttl);
    let notifier = adapter.notifier.clone();

    let mut config = fuser::Config::default();
    config.mount_options.extend([
        fuser::MountOption::RO,
        fuser::MountOption::NoAtime,
        fuser::MountOption::NoDev,
        fuser::MountOption::NoSuid,
        fuser::MountOption::NoExec,
        fuser::MountOption::FSName("deidfs".into()),
        fuser::MountOption::Subtype("deidfs".into()),
    ]);
    if spec.allow_other {
        config.acl = fuser::SessionACL::All;
        config
            .mount_options
            .push(fuser::MountOption::DefaultPermissions);
    }
    config.n_threads = Some(spec.threads.max(1));
    config.clone_fd = true;

    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot handle signals")?;
    }
    let session = fuser::spawn_mount(adapter, &spec.mountpoint, &config)
        .with_context(|| format!("mount on {} failed", spec.mountpoint.display()))?;
    let _ = notifier.set(session.notifier());
    tracing::info!(planner = %planner, "mounted");
    ready();
    // Under systemd (Type=notify): the view is live. Nothing is sent without NOTIFY_SOCKET.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    while !stop.load(Ordering::Relaxed) && !session.guard.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
    }
    if session.guard.is_finished() {
        // Unmounted from outside (`deidfs unmount`). Dropping the session would unmount the
        // path again, and by now it may hold a new mount (fuser 0.18 checks it wrongly):
        // the session thread has ended, so let the process exit without that drop.
        tracing::info!("unmounted from outside");
        said();
        std::mem::forget(session);
        return Ok(());
    }
    tracing::info!("signal received: unmounting");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let done = session.umount_and_join().context("unmount failed");
    said();
    done
}

/// Runs `deidfs mount ... --foreground --ready-pipe` detached, and returns once it reports
/// the mount live (Ok) or fails (Err with its message).
pub fn detach(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find my own executable")?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(args)
            .arg("--foreground")
            .arg("--ready-pipe")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C in this terminal does not reach the daemon.
            .process_group(0)
            .spawn()
            .context("cannot start the daemon")?
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    if line.trim() == "READY" {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    Err(anyhow!("{}", err.trim().trim_start_matches("deidfs: ")))
}

/// Called in the daemon when the mount is live: tells the parent, then lets go of the
/// parent's pipes (writing to them after the parent exits would fail).
pub fn report_ready() {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto the standard descriptors with a valid open descriptor; the
        // process keeps no Rust handle that assumes the old targets.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
}

/// `deidfs unmount`: of a deidfs view only (anything else mounted there is left as it is,
/// and said), fusermount3 -u, else umount; a dead daemon's mount is cleared lazily.
pub fn unmount(mountpoint: &Path) -> anyhow::Result<()> {
    match crate::mountinfo::mount_at(mountpoint) {
        None => bail!("{}: nothing is mounted there", mountpoint.display()),
        Some(m) if !m.is_deidfs() => bail!(
            "{}: a {} filesystem ({}) is mounted there, not a deidfs view: left mounted; unmount it with umount if you mean to",
            mountpoint.display(),
            m.fs_type,
            m.source
        ),
        Some(_) => {}
    }
    // A view whose daemon is gone answers nothing ("Transport endpoint is not connected"):
    // only that one is detached lazily; a live view in use is left for its readers.
    let dead = std::fs::metadata(mountpoint)
        .err()
        .and_then(|e| e.raw_os_error())
        == Some(libc::ENOTCONN);
    let mut attempts: Vec<(&str, &[&str])> = vec![("fusermount3", &["-u"]), ("umount", &[])];
    if dead {
        attempts.push(("umount", &["-l"]));
    }
    let mut first = None;
    for (prog, flags) in attempts {
        match Command::new(prog).args(flags).arg(mountpoint).output() {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => {
                first.get_or_insert_with(|| String::from_utf8_lossy(&o.stderr).trim().to_string());
            }
            Err(e) => {
                first.get_or_insert_with(|| format!("{prog}: {e}"));
            }
        }
    }
    bail!(
        "{}: could not unmount ({}); close programs using it and retry",
        mountpoint.display(),
        first.unwrap_or_default()
    )
}
