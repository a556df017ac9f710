//! The composition root: keys, policies, views, logging and mounts built from plain values.
//! `commands` turns the command line into calls here; nothing below this module reads the
//! command line or the environment.

use crate::archive::Archive;
use crate::deid::{DeidError, Engine, Outcome, Refusal};
use crate::fs::{Config, Deidentify, KeyHolderView};
use crate::io::{FileAt, write_atomically};
use crate::mount::MountSpec;
use crate::policy::{self, Policy};
use crate::pseudonym::{Pseudonyms, SecretKey};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The key from its file, or an error naming the fix.
pub fn load_keys(key_file: &Path) -> anyhow::Result<Pseudonyms> {
    Ok(Pseudonyms::new(&SecretKey::load(key_file)?))
}

/// A built-in policy (by name) or a policy file (by path), with extra options.
pub fn load_policy(name: &str, options: &[String]) -> anyhow::Result<Policy> {
    let p = policy::load_policy(name)?;
    Ok(policy::file::with_options(p, options)?)
}

/// The view's settings: the mounting user owns everything, the mount time (to the second) is
/// every timestamp, and `threads` FUSE threads get twice as many planners (4 to 16).
pub fn view_config(
    policy: Policy,
    keys: Pseudonyms,
    cache_bytes: u64,
    threads: usize,
    audit: Option<Arc<crate::audit::AuditLog>>,
) -> Config {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // A quarter of the budget keeps decoded frames, the rest plans.
    let frame_bytes = cache_bytes / 4;
    Config {
        planner: Arc::new(Deidentify::new(policy, keys, frame_bytes)),
        cache_bytes: cache_bytes - frame_bytes,
        access: crate::access::Access::mounting_user(),
        time: std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        workers: (threads * 2).clamp(4, 16),
        audit,
        open_handles: false,
        read_ahead: crate::fs::READ_AHEAD_FILES,
        index: None,
    }
}

/// Memory for plans and frames of the key holder's tools (export, scan, crosswalk).
pub const OFFLINE_CACHE: u64 = 64 << 20;

/// How long the key holder's tools keep a remote folder's listing: one run's walk.
const OFFLINE_LISTINGS: std::time::Duration = std::time::Duration::from_secs(3600);

/// Threads planning a directory's files for the key holder's listing tools.
pub const PLANNERS: usize = 8;

/// A view of the archive at `source` for the key holder's tools (no mount). `planners`:
/// threads that plan a directory's files when it is listed.
pub fn offline_view(
    source: &Archive,
    keys: Pseudonyms,
    policy: Policy,
    planners: usize,
) -> anyhow::Result<KeyHolderView> {
    let src = source.open(OFFLINE_LISTINGS)?;
    // The tools use each plan right after its folder is listed: the cache needs to hold
    // about one folder's plans, not the tree's.
    let mut cfg = view_config(policy, keys, OFFLINE_CACHE, 4, None);
    cfg.workers = source.planners(planners);
    Ok(KeyHolderView::new(src, cfg))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// Where logs go: `file` (append, mode 0600), else stderr when attached (a terminal, or
/// systemd's journal for a service in the foreground), else the system log (`/dev/log`),
/// else nowhere (said by the return value: `false`). They name files by pseudonym only;
/// the level comes from DEIDFS_LOG (default info; fuser's own messages from warn up).
pub fn init_logging(
    file: Option<&Path>,
    attached: bool,
    format: LogFormat,
) -> anyhow::Result<bool> {
    fn init<W>(writer: W, format: LogFormat)
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        // fuser's and the JPEG 2000 codec's own messages from warn up (the codec narrates
        // every header at info), unless the filter names them itself.
        let mut directives = std::env::var("DEIDFS_LOG").unwrap_or_else(|_| "info".into());
        for chatty in ["fuser", "jpeg2k"] {
            if !directives.contains(chatty) {
                directives.push_str(&format!(",{chatty}=warn"));
            }
        }
        let filter = tracing_subscriber::EnvFilter::try_new(&directives)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fuser=warn,jpeg2k=warn"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(writer);
        let _ = match format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
    }
    match file {
        Some(path) => {
            let f = crate::io::create_private(path, crate::io::Private::Append)
                .map_err(|e| writable_error("log file", path, &e))?;
            init(std::sync::Mutex::new(f), format);
        }
        None if attached => init(std::io::stderr, format),
        None => match crate::syslog::Syslog::connect(Path::new(crate::syslog::SOCKET)) {
            Some(s) => init(s, format),
            None => return Ok(false),
        },
    }
    Ok(true)
}

/// Why a file (`what`, at `path`) cannot be written, with the fix.
pub fn writable_error(what: &str, path: &Path, e: &std::io::Error) -> anyhow::Error {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!(
            "{what} {}: no folder {}; create it with `mkdir -p {}`",
            path.display(),
            parent.display(),
            parent.display()
        ),
        _ if path.is_dir() => anyhow::anyhow!(
            "{what} {}: a directory; give a file's path (e.g. {})",
            path.display(),
            path.join("deidfs.log").display()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{what} {}: permission denied; choose a path you can write",
            path.display()
        ),
        _ => anyhow::anyhow!("{what} {}: {e}", path.display()),
    }
}

/// A mount of an archive (a local folder, an object store, a DICOMweb server), as the command
/// line describes it.
pub struct MountRequest {
    pub source: Archive,
    pub spec: MountSpec,
    pub key_file: PathBuf,
    pub policy: String,
    pub options: Vec<String>,
    pub cache_bytes: u64,
    /// Owner, group and modes of every entry.
    pub access: crate::access::Access,
    pub log_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub audit_log: Option<PathBuf>,
    /// With the audit log: every open's reads reach the daemon (no kernel page cache kept).
    pub audit_uncached: bool,
    /// Every open gets a handle pinned to one version (implied by an audit log).
    pub open_handles: bool,
    /// Attached to a terminal (logs to stderr when there is no log file).
    pub attached: bool,
    /// Where the listing index is kept (`None`: not kept).
    pub index: Option<PathBuf>,
}

/// Mounts and serves until a signal or an external unmount; `ready` is told once it is live.
pub fn mount(req: &MountRequest, ready: impl FnOnce()) -> anyhow::Result<()> {
    init_logging(req.log_file.as_deref(), req.attached, req.log_format)?;
    let keys = load_keys(&req.key_file)?;
    let policy = load_policy(&req.policy, &req.options)?;
    if let Some(local) = req.source.local() {
        crate::mount::check_source(local, &req.spec.mountpoint)?;
    }
    if let Some(index) = &req.index {
        crate::mount::check_index_dir(index, req.source.local(), &req.spec.mountpoint)?;
    }
    let audit = match &req.audit_log {
        Some(p) => Some(Arc::new(
            crate::audit::AuditLog::open(p, req.audit_uncached)
                .map_err(|e| writable_error("audit log", p, &e))?,
        )),
        None => None,
    };
    let mut cfg = view_config(policy, keys, req.cache_bytes, req.spec.threads, audit);
    cfg.open_handles = req.open_handles || cfg.audit.is_some();
    cfg.index = req.index.clone();
    cfg.access = req.access;
    cfg.workers = req.source.planners(cfg.workers);
    // Folder listings of a remote store are kept as long as the kernel keeps names.
    let source = req.source.open(req.spec.ttl)?;
    let stop = Arc::new(AtomicBool::new(false));
    crate::mount::serve(&req.spec, source, cfg, stop, ready)
}

/// Whether `a` and `b` name one existing file (by device and inode: links and `..` alike).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Where `path` is (or will be, once made): absolute, each `..` taken after the links
/// before it are resolved, the deepest existing ancestor resolved, the rest appended.
pub fn resolved(path: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut at = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                // `x/..` is the parent of where x leads.
                if let Ok(real) = std::fs::canonicalize(&at) {
                    at = real;
                }
                at.pop();
            }
            Component::CurDir => {}
            other => at.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut base = at.as_path();
    loop {
        if let Ok(found) = std::fs::canonicalize(base) {
            return rest.iter().rev().fold(found, |p, c| p.join(c));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return at,
        }
    }
}

/// Refuses an export destination inside the source (the next run would export its own
/// output), the source itself, or a folder that holds the source (the export would mix
/// with the archive, and its clean-up walk through it).
pub fn check_export_dest(source: &Path, dest: &Path) -> anyhow::Result<()> {
    let (source_at, dest_at) = (resolved(source), resolved(dest));
    if source_at.starts_with(&dest_at) {
        bail!(
            "{}: holds the source {}; export to a folder of its own, outside the archive",
            dest.display(),
            source.display()
        );
    }
    if dest_at.starts_with(&source_at) {
        bail!(
            "{}: inside the source {}; export to a folder outside the archive (the next run would export its own output)",
            dest.display(),
            source.display()
        );
    }
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<FileAt> {
    FileAt::open(path).with_context(|| format!("{}: cannot open", path.display()))
}

/// De-identifies one file into `output` (written atomically and synced), or returns why it
/// is refused (nothing is written then).
pub fn deid_file(
    input: &Path,
    output: &Path,
    keys: &Pseudonyms,
    policy: &Policy,
) -> anyhow::Result<Option<Refusal>> {
    if input.is_dir() {
        bail!(
            "{}: a directory; deid takes one file (for a folder: `deidfs export {} DEST --key-file KEY`)",
            input.display(),
            input.display()
        );
    }
    if same_file(input, output) {
        bail!(
            "{}: the output is the input file; write the de-identified copy to another path (the original is never overwritten)",
            output.display()
        );
    }
    if output.is_dir() {
        bail!(
            "{}: a directory; give the output file's path (e.g. {})",
            output.display(),
            output.join("out.dcm").display()
        );
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "{}: no such folder for the output; create it with `mkdir -p {}`",
            parent.display(),
            parent.display()
        );
    }
    let src = open(input)?;
    let outcome = match Engine::new(policy, keys).plan(&src) {
        Ok(o) => o,
        Err(DeidError::Refused(r)) => return Ok(Some(r)),
        Err(DeidError::Io(e)) => {
            return Err(e).with_context(|| format!("{}: read error", input.display()));
        }
    };
    write_atomically(output, true, |f| outcome.plan.write_to_file(&src, f))
        .with_context(|| format!("{}: cannot write", output.display()))?;
    Ok(None)
}

/// A file planned with its trace (for `inspect`): the outcome, or why it is refused.
pub fn trace_file(
    path: &Path,
    keys: &Pseudonyms,
    policy: &Policy,
) -> anyhow::Result<(u64, Result<Outcome, Refusal>)> {
    let src = open(path)?;
    let mut engine = Engine::new(policy, keys);
    engine.trace = true;
    let len = crate::io::ReadAt::len(&src);
    match engine.plan(&src) {
        Ok(o) => Ok((len, Ok(o))),
        Err(DeidError::Refused(r)) => Ok((len, Err(r))),
        Err(DeidError::Io(e)) => Err(e).with_context(|| format!("{}: read error", path.display())),
    }
}

/// The one-file demo (where FUSE is missing): a synthetic CT slice full of fake PHI,
/// de-identified with a throwaway key.
pub fn one_file_demo() -> anyhow::Result<String> {
    let source = crate::synth::ct_slice(0, 1, 2, 3, 64, 64)?;
    let keys = Pseudonyms::new(&SecretKey::generate());
    let policy = policy::load_builtin("basic")?;
    let mut engine = Engine::new(&policy, &keys);
    engine.trace = true;
    let outcome = engine.plan(&source)?;
    let result = outcome.plan.to_vec(&source)?;
    if result.len() < 64 * 64 * 2 {
        bail!("the demo file lost its pixels");
    }
    let pixels_same = source.ends_with(&result[result.len() - 64 * 64 * 2..]);
    Ok(crate::report::one_file_demo(
        &outcome,
        source.len(),
        result.len(),
        pixels_same,
    ))
}
