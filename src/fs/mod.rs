//! The de-identified view as a filesystem, without FUSE: plain methods returning
//! `Result<_, FsError>`, tested without a kernel. The adapter in `fuse` is the only caller
//! that speaks to the kernel; the key holder's tools use [`KeyHolderView`], the only type that
//! also hands out source paths.
//!
//! `inode` (the table and its invariants), `listing` (visibility, names, sizes), `ahead`
//! (reading ahead of walkers), `handles`
//! (open files, reads, audit), `descriptors` (their source descriptors, bounded), `dirs` (open
//! directories), `planner` (what a file becomes), `names` (pseudonyms) and
//! `error` (errno and log level) hold the parts; this file holds the freshness rules and
//! attributes.

mod ahead;
mod descriptors;
mod dirs;
mod error;
mod faces;
mod handles;
mod index;
mod inode;
mod keyholder;
mod listing;
mod names;
mod planner;
mod planners;

pub use ahead::READ_AHEAD_FILES;
pub use dirs::OpenedDir;
pub use error::{ErrorKind, FsError};
pub use handles::{Caller, Opened};
pub use inode::ROOT;
pub use keyholder::KeyHolderView;
pub use names::{view_name, view_path};
pub use planner::{Deidentify, Mirror, Planner};

use crate::cache::{PlanCache, PlanKey, Verdict};
use crate::lock;
use crate::source::{Kind, Source, SourceFile, Stamp};
use dashmap::DashMap;
use handles::Handle;
use inode::{FileState, Inodes, Node};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

/// Everything the view needs besides the source.
pub struct Config {
    /// What each file becomes and what it is called.
    pub planner: Arc<dyn Planner>,
    pub cache_bytes: u64,
    /// Owner, group and modes shown for every entry (the mounting user's, 0444 and 0555
    /// unless the mount says otherwise).
    pub access: crate::access::Access,
    /// The only timestamp shown (the mount time): the source's would be PHI.
    pub time: SystemTime,
    /// Threads planning a listed folder's files, the lister included (`DeidFs::start`).
    pub workers: usize,
    /// One line per file opened through the view, written when it is closed.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
    /// Answer opens with a handle that pins one version (always with an audit log); without,
    /// the kernel is told opens are not implemented and reads go by inode (`handles`).
    pub open_handles: bool,
    /// Files whose headers the source is asked to read ahead of a walker (`read_ahead`; 0:
    /// none).
    pub read_ahead: usize,
    /// Where the listing index is kept across mounts (`index`; `None`: not kept, every
    /// folder is planned when first listed).
    pub index: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub time: SystemTime,
}

#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

pub struct DeidFs {
    source: Arc<dyn Source>,
    cfg: Config,
    planner_id: Arc<str>,
    inodes: Inodes,
    /// Plans by source version; a planning error is shared with the readers waiting for it
    /// and not kept.
    cache: PlanCache<FsError>,
    /// Open files by handle number; a handle is removed only by `release`.
    handles: DashMap<u64, Arc<Handle>>,
    /// The source descriptors of open handles, bounded.
    descriptors: descriptors::Descriptors,
    /// Open directories by handle number: the listing each serves.
    dirs: DashMap<u64, Arc<dirs::OpenDir>>,
    next_fh: AtomicU64,
    /// Threads that plan a listed folder's files (`planners`; started by `start`).
    planners: planners::Planners,
    /// Told the inode of a file whose version changed (re-planned or hidden), so the kernel's
    /// pages and attributes of it are dropped (set by the FUSE adapter).
    on_change: std::sync::OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
    /// Reads ahead of walkers (`read_ahead`).
    ahead: std::sync::OnceLock<ahead::Ahead>,
    /// The head series of folders planned (`faces`).
    faces: faces::Faces,
    /// What folders listed showed on earlier mounts (`index`).
    index: Option<index::Index>,
    /// What the view has done, for `--metrics`.
    metrics: crate::metrics::Metrics,
}

/// A unit test's view configuration: the basic policy under key [1; 32], 1 MiB of cache.
#[cfg(test)]
fn test_config(workers: usize, index: Option<std::path::PathBuf>) -> Config {
    Config {
        planner: Arc::new(Deidentify::new(
            crate::policy::file::load_builtin("basic").unwrap(),
            crate::pseudonym::Pseudonyms::new(&crate::pseudonym::SecretKey::from_bytes([1; 32])),
            1 << 20,
        )),
        cache_bytes: 1 << 20,
        access: crate::access::Access {
            uid: 1,
            gid: 1,
            file_mode: 0o444,
            dir_mode: 0o555,
        },
        time: std::time::UNIX_EPOCH,
        workers,
        audit: None,
        open_handles: false,
        read_ahead: 0,
        index,
    }
}

impl DeidFs {
    pub fn new(source: Arc<dyn Source>, cfg: Config) -> Self {
        // One budget: the node table's bytes come off the plans' share.
        let cache = PlanCache::new(cfg.cache_bytes);
        let inodes = Inodes::new(cache.reservations());
        let planner_id: Arc<str> = cfg.planner.id().into();
        let index = cfg
            .index
            .as_deref()
            .zip(cfg.planner.index_key())
            .and_then(|(dir, key)| {
                index::Index::open(dir, &planner_id, &key)
                    .map_err(|e| tracing::warn!(error = %e, "no listing index: every folder is planned when first listed"))
                    .ok()
            });
        Self {
            index,
            planners: planners::Planners::default(),
            faces: faces::Faces::new(source.clone()),
            metrics: crate::metrics::Metrics::default(),
            source,
            planner_id,
            cache,
            cfg,
            inodes,
            handles: DashMap::new(),
            descriptors: descriptors::Descriptors::new(descriptors::capacity()),
            dirs: DashMap::new(),
            next_fh: AtomicU64::new(1),
            on_change: std::sync::OnceLock::new(),
            ahead: std::sync::OnceLock::new(),
        }
    }

    /// Starts the view's threads: `Config::workers` planners of listed folders (without them
    /// a listing plans its folder alone), and the reader ahead: from now on each folder
    /// listed has the source read the headers of the files a walk lists next (`ahead`;
    /// `Config::read_ahead` of them), if the source takes such hints.
    pub fn start(self: &Arc<Self>) {
        self.planners
            .start(self, self.cfg.workers.saturating_sub(1));
        if let Some(a) = ahead::Ahead::start(self, self.cfg.read_ahead) {
            let _ = self.ahead.set(a);
        }
    }

    /// Whether folders listed have the source read ahead (`read_ahead`).
    pub fn reads_ahead(&self) -> bool {
        self.ahead.get().is_some()
    }

    /// Whether opens get handles (`Config::open_handles`) or are left to the kernel.
    pub fn open_handles(&self) -> bool {
        self.cfg.open_handles
    }

    /// What the view has done (FUSE operations, plans, bytes, files hidden).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The metrics as Prometheus text.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(self.cache.bytes())
    }

    /// Opens are written to an audit log.
    pub fn audited(&self) -> bool {
        self.cfg.audit.is_some()
    }

    /// The audit log counts every open's reads: the kernel's cache is dropped at each open.
    pub fn audited_uncached(&self) -> bool {
        self.cfg.audit.as_ref().is_some_and(|a| a.uncached)
    }

    /// Calls `f` with the inode of every file whose version changes from now on.
    pub fn on_change(&self, f: impl Fn(u64) + Send + Sync + 'static) {
        let _ = self.on_change.set(Box::new(f));
    }

    fn changed(&self, ino: u64) {
        if let Some(f) = self.on_change.get() {
            f(ino);
        }
    }

    fn node(&self, ino: u64) -> Result<Arc<Node>, FsError> {
        self.inodes
            .get(ino)
            .ok_or(FsError::new(ErrorKind::NotFound))
    }

    fn attr_of(&self, node: &Node) -> Attr {
        let (perm, size) = match node.kind {
            Kind::Dir => (self.cfg.access.dir_mode, 0),
            Kind::File => (
                self.cfg.access.file_mode,
                lock(&node.state).as_ref().map_or(0, |s| s.size),
            ),
        };
        Attr {
            ino: node.ino,
            kind: node.kind,
            size,
            perm,
            uid: self.cfg.access.uid,
            gid: self.cfg.access.gid,
            time: self.cfg.time,
        }
    }

    fn plan_key(&self, stamp: Stamp) -> PlanKey {
        PlanKey::new(stamp, self.planner_id.clone())
    }

    /// Opens and plans a file of the source: its stamp, verdict and the open file.
    fn plan_source(&self, rel: &Path) -> Result<(Stamp, Verdict, Box<dyn SourceFile>), FsError> {
        let (file, stamp) = self.source.open_stamped(rel).map_err(FsError::io)?;
        self.metrics.plan_lookup();
        let verdict = self
            .cache
            .get_or_compute(&self.plan_key(stamp), || self.plan_file(rel, file.as_ref()))?;
        Ok((stamp, verdict, file))
    }

    /// The planner's verdict on `file`, the source file at `rel`.
    fn plan_file(&self, rel: &Path, file: &dyn SourceFile) -> Result<Verdict, FsError> {
        let faces = faces::FileFaces {
            faces: &self.faces,
            rel,
        };
        let verdict = self.cfg.planner.plan(file, &faces)?;
        self.metrics.planned(match &verdict {
            Verdict::Hidden(reason) => Some(reason),
            Verdict::Served(..) => None,
        });
        Ok(verdict)
    }

    /// Plans a file again if its source changed; `Ok(false)` when it is now hidden. A change
    /// of a version shown is told to `on_change`.
    fn refresh(&self, node: &Node) -> Result<bool, FsError> {
        let at = |e: FsError| e.at(&node.view_path());
        let source = node.source();
        let now = self
            .source
            .stamp(&source)
            .map_err(FsError::io)
            .map_err(at)?;
        let known = match lock(&node.state).as_ref() {
            Some(s) if s.stamp == now => return Ok(true),
            Some(_) => true,
            None => false, // looked up before its folder was listed, or hidden so far
        };
        let (stamp, verdict, _) = self.plan_source(&source).map_err(at)?;
        match verdict {
            Verdict::Served(plan, _) => {
                *lock(&node.state) = Some(FileState {
                    stamp,
                    size: plan.len(),
                });
                if known {
                    tracing::info!(file = %node.view_path(), size = plan.len(), "source changed: re-planned");
                    self.changed(node.ino);
                }
                Ok(true)
            }
            Verdict::Hidden(reason) => {
                if known {
                    tracing::info!(file = %node.view_path(), reason, "source changed: now hidden");
                    *lock(&node.state) = None;
                    self.entries_changed(node.parent());
                    self.changed(node.ino);
                }
                Ok(false)
            }
        }
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let not_found = || FsError::new(ErrorKind::NotFound);
        let name = name.to_str().ok_or_else(not_found)?;
        // Only the named file is planned (getattr), not its folder.
        let node = self.child(parent, name)?;
        let attr = self.attr_fresh(&node)?;
        self.inodes.remember(&node);
        Ok(attr)
    }

    pub fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        let node = self.node(ino)?;
        self.attr_fresh(&node)
    }

    /// A node's attributes, its file planned again first if the source changed.
    fn attr_fresh(&self, node: &Node) -> Result<Attr, FsError> {
        if node.kind == Kind::File && !self.refresh(node)? {
            return Err(FsError::new(ErrorKind::NotFound).at(&node.view_path()));
        }
        Ok(self.attr_of(node))
    }

    /// Every visible entry of a directory, with attributes, ordered (the offline tools; the
    /// mount reads an open directory by offset: `readdir_from`).
    pub fn readdir(&self, ino: u64) -> Result<Vec<DirEntry>, FsError> {
        let listing = self.listing(ino)?;
        let dir = self.node(ino)?;
        let mut out = Vec::with_capacity(listing.entries.len());
        for &i in &listing.entries {
            let Some(node) = self.listed(&dir, &listing, i as usize)? else {
                continue; // hidden since listed
            };
            out.push(DirEntry {
                name: listing.names.name(i as usize).to_string(),
                attr: self.attr_of(&node),
            });
        }
        Ok(out)
    }

    /// The kernel forgot `n` references to `ino` (FORGET): its node may go.
    pub fn forget(&self, ino: u64, n: u64) {
        self.inodes.forget(ino, n);
    }

    pub fn parent(&self, ino: u64) -> Result<u64, FsError> {
        Ok(self.node(ino)?.parent())
    }

    /// The pseudonymous path of an entry (as logged).
    pub fn view_path_of(&self, ino: u64) -> Result<String, FsError> {
        Ok(self.node(ino)?.view_path())
    }

    /// Bytes the node table and the folders' names hold, counted against `--cache-size`.
    pub fn held_bytes(&self) -> u64 {
        self.inodes
            .held()
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of entries known to the view (for statfs).
    pub fn known_entries(&self) -> u64 {
        self.inodes.len()
    }

    /// The inode's parent and name, for kernel cache invalidation.
    pub fn name_of(&self, ino: u64) -> Option<(u64, String)> {
        let node = self.node(ino).ok()?;
        Some((node.parent(), node.name().to_string()))
    }
}
