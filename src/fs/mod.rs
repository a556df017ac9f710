//! The de-identified view as a filesystem, without FUSE: plain methods returning
//! `Result<_, FsError>`, tested without a kernel. The adapter in `fuse` is the only caller
//! that speaks to the kernel.
//!
//! Invariants of the inode table:
//! - `nodes` maps inode number -> node; a node is never removed while mounted, and the
//!   root is inode 1.
//! - `by_source` maps a source-relative path -> its inode, so re-listing a directory keeps
//!   the inode numbers of the entries that remain.
//! - A node's `source` path is PHI and is never logged or returned; logs use `view_path`.
//!
//! Lock order: `Node::state` and `Node::listing` are leaf locks (nothing is taken while one is
//! held, except the cache's own internal locks).

use crate::cache::{PlanCache, PlanKey, Verdict};
use crate::deid::{DeidError, Engine, FileInfo, Plan};
use crate::lock;
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use crate::source::{Kind, Source, SourceFile, Stamp};
use dashmap::DashMap;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub const ROOT: u64 = 1;

/// A file's version and what the engine made of it.
type Planned = Result<(Stamp, Verdict), FsError>;
/// Characters of a path pseudonym (Crockford base32: 60 bits); longer on a collision.
const NAME_CHARS: usize = 12;
const NAME_CHARS_ON_COLLISION: usize = 20;

/// Decides what each source file becomes in the view and what every entry is called.
pub trait Planner: Send + Sync + 'static {
    /// Identifies everything the decisions depend on (part of the plan cache key).
    fn id(&self) -> String;
    fn plan(&self, file: &dyn SourceFile) -> Result<Verdict, FsError>;
    /// `(token, shown name)` of a source entry; the token names its children. `chars` grows
    /// on a collision.
    fn name(&self, parent_token: &str, name: &OsStr, kind: Kind, chars: usize) -> (String, String);
}

/// The product: PS3.15 de-identification and keyed pseudonymous names.
pub struct Deidentify {
    pub policy: Policy,
    pub keys: Pseudonyms,
}

impl Planner for Deidentify {
    fn id(&self) -> String {
        format!("{}/{}", self.policy.id(), self.keys.key_id())
    }

    fn plan(&self, file: &dyn SourceFile) -> Result<Verdict, FsError> {
        match Engine::new(&self.policy, &self.keys).plan(file) {
            Ok(outcome) => Ok(Verdict::Served(
                Arc::new(outcome.plan),
                Arc::new(outcome.info),
            )),
            Err(DeidError::Refused(r)) => Ok(Verdict::Hidden(r.reason())),
            Err(DeidError::Io(e)) => Err(FsError::from_io(e)),
        }
    }

    fn name(&self, parent_token: &str, name: &OsStr, kind: Kind, chars: usize) -> (String, String) {
        view_name(
            &self.keys,
            parent_token,
            name.as_encoded_bytes(),
            kind,
            chars,
        )
    }
}

/// A benchmark ceiling, never used by the product: every file served whole, unchanged,
/// under its own name (`examples/mirror.rs`).
pub struct Mirror;

impl Planner for Mirror {
    fn id(&self) -> String {
        "mirror".into()
    }

    fn plan(&self, file: &dyn SourceFile) -> Result<Verdict, FsError> {
        let mut out = crate::deid::plan::Out::new();
        out.source(0, file.len());
        Ok(Verdict::Served(Arc::new(out.finish()), Arc::default()))
    }

    fn name(
        &self,
        _parent_token: &str,
        name: &OsStr,
        _kind: Kind,
        _chars: usize,
    ) -> (String, String) {
        let shown = name.to_string_lossy().into_owned();
        (shown.clone(), shown)
    }
}

/// Everything the view needs besides the source.
pub struct Config {
    /// What each file becomes and what it is called.
    pub planner: Arc<dyn Planner>,
    pub cache_bytes: u64,
    /// Owner shown for every entry (the mounting user).
    pub uid: u32,
    pub gid: u32,
    /// The only timestamp shown (the mount time): the source's would be PHI.
    pub time: SystemTime,
    /// Parallel planners when a directory is listed.
    pub workers: usize,
    /// One line per file opened through the view, written when it is closed.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such entry")]
    NotFound,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("the source changed during the read")]
    Stale,
    #[error("unknown file handle")]
    BadHandle,
    #[error("permission denied by the source")]
    Access,
    #[error("source I/O error: {0}")]
    Io(io::Error),
}

impl FsError {
    fn from_io(e: io::Error) -> FsError {
        match e.kind() {
            io::ErrorKind::NotFound => FsError::NotFound,
            io::ErrorKind::PermissionDenied => FsError::Access,
            _ => FsError::Io(e),
        }
    }
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

#[derive(Debug, Clone)]
struct FileState {
    stamp: Stamp,
    size: u64,
    info: Arc<FileInfo>,
}

struct Node {
    parent: u64,
    kind: Kind,
    /// Source path relative to the root: PHI, never logged.
    source: PathBuf,
    /// Pseudonymous path from the mount root, for logs.
    view_path: String,
    /// Path token that names this node's children.
    token: String,
    state: Mutex<Option<FileState>>,
    listing: Mutex<Option<Arc<Listing>>>,
}

struct Listing {
    /// Directory stamp at listing time (re-listed when it changes).
    stamp: Option<Stamp>,
    /// (view name, inode), ordered by name.
    entries: Vec<(String, u64)>,
    /// Files not shown, with the reason (source names: PHI, for the key holder's tools).
    hidden: Vec<(PathBuf, &'static str)>,
    by_name: HashMap<String, u64>,
}

struct Handle {
    plan: Arc<Plan>,
    file: Box<dyn SourceFile>,
    stamp: Stamp,
    view_path: String,
    caller: Caller,
    served: AtomicU64,
}

/// Who opened a file (from the kernel's request), for the audit log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub uid: u32,
    pub pid: u32,
}

/// The result of `open`: a handle, and whether the kernel's cached size must be dropped.
pub struct Opened {
    pub fh: u64,
    pub size_changed: bool,
}

pub struct DeidFs {
    source: Arc<dyn Source>,
    cfg: Config,
    planner_id: Arc<str>,
    nodes: DashMap<u64, Arc<Node>>,
    by_source: DashMap<PathBuf, u64>,
    next_ino: AtomicU64,
    cache: PlanCache,
    handles: DashMap<u64, Arc<Handle>>,
    next_fh: AtomicU64,
    /// Threads that plan a directory's files when it is listed (none: the lister plans them).
    /// Started once: spawning them per listing cost more than the planning of small
    /// directories.
    planners: Option<rayon::ThreadPool>,
}

impl DeidFs {
    pub fn new(source: Arc<dyn Source>, cfg: Config) -> Self {
        let root = Node {
            parent: ROOT,
            kind: Kind::Dir,
            source: PathBuf::new(),
            view_path: String::from("/"),
            token: String::new(),
            state: Mutex::new(None),
            listing: Mutex::new(None),
        };
        let nodes = DashMap::new();
        nodes.insert(ROOT, Arc::new(root));
        let by_source = DashMap::new();
        by_source.insert(PathBuf::new(), ROOT);
        let planners = (cfg.workers > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(cfg.workers)
                    .thread_name(|i| format!("deidfs-plan-{i}"))
                    .build()
                    .map_err(
                        |e| tracing::warn!(error = %e, "no planner threads: listing plans alone"),
                    )
                    .ok()
            })
            .flatten();
        Self {
            planners,
            source,
            planner_id: cfg.planner.id().into(),
            cache: PlanCache::new(cfg.cache_bytes),
            cfg,
            nodes,
            by_source,
            next_ino: AtomicU64::new(ROOT + 1),
            handles: DashMap::new(),
            next_fh: AtomicU64::new(1),
        }
    }

    fn node(&self, ino: u64) -> Result<Arc<Node>, FsError> {
        self.nodes
            .get(&ino)
            .map(|n| n.clone())
            .ok_or(FsError::NotFound)
    }

    fn attr_of(&self, ino: u64, node: &Node) -> Attr {
        let (perm, size) = match node.kind {
            Kind::Dir => (0o555, 0),
            Kind::File => (0o444, lock(&node.state).as_ref().map_or(0, |s| s.size)),
        };
        Attr {
            ino,
            kind: node.kind,
            size,
            perm,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            time: self.cfg.time,
        }
    }

    /// Plans one version of a source file (cached by stamp, policy and key).
    fn verdict(&self, file: &dyn SourceFile, stamp: Stamp) -> Result<Verdict, FsError> {
        let key = PlanKey {
            stamp,
            planner: self.planner_id.clone(),
        };
        self.cache
            .get_or_compute(&key, || self.cfg.planner.plan(file))
    }

    /// Opens and plans a file of the source: its stamp and verdict.
    fn plan_source(&self, rel: &Path) -> Result<(Stamp, Verdict, Box<dyn SourceFile>), FsError> {
        let file = self.source.open(rel).map_err(FsError::from_io)?;
        let stamp = file.stamp().map_err(FsError::from_io)?;
        let verdict = self.verdict(file.as_ref(), stamp)?;
        Ok((stamp, verdict, file))
    }

    /// The directory's listing, made (or re-made, when the directory changed) on demand.
    fn listing(&self, ino: u64) -> Result<Arc<Listing>, FsError> {
        let node = self.node(ino)?;
        if node.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let mut guard = lock(&node.listing);
        let now = self.source.stamp(&node.source).ok();
        if let Some(l) = guard.as_ref()
            && (l.stamp == now || now.is_none())
        {
            return Ok(l.clone());
        }
        let listing = Arc::new(self.make_listing(ino, &node, now)?);
        *guard = Some(listing.clone());
        Ok(listing)
    }

    fn make_listing(&self, ino: u64, dir: &Node, stamp: Option<Stamp>) -> Result<Listing, FsError> {
        let entries = self.source.list(&dir.source).map_err(FsError::from_io)?;
        // Plan the directory's files in parallel: visibility and exact sizes come from it.
        let files: Vec<usize> = (0..entries.len())
            .filter(|i| entries[*i].kind == Kind::File)
            .collect();
        let plan = |&e: &usize| -> Planned {
            let (stamp, verdict, _) = self.plan_source(&dir.source.join(&entries[e].name))?;
            Ok((stamp, verdict))
        };
        let planned: Vec<Planned> = match &self.planners {
            Some(pool) if files.len() > 1 => {
                use rayon::prelude::*;
                pool.install(|| files.par_iter().map(plan).collect())
            }
            _ => files.iter().map(plan).collect(),
        };
        let mut verdicts: HashMap<usize, Planned> = files.into_iter().zip(planned).collect();

        let mut named: Vec<(String, u64)> = Vec::new();
        let mut hidden: Vec<(PathBuf, &'static str)> = Vec::new();
        let mut by_name: HashMap<String, u64> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let (mut token, mut name) =
                self.cfg
                    .planner
                    .name(&dir.token, &entry.name, entry.kind, NAME_CHARS);
            if by_name.contains_key(&name) {
                (token, name) = self.cfg.planner.name(
                    &dir.token,
                    &entry.name,
                    entry.kind,
                    NAME_CHARS_ON_COLLISION,
                );
            }
            let view_path = format!(
                "{}{}{name}",
                dir.view_path,
                if dir.view_path.ends_with('/') {
                    ""
                } else {
                    "/"
                }
            );
            let state = match entry.kind {
                Kind::Dir => None,
                Kind::File => match verdicts.remove(&i) {
                    Some(Ok((stamp, Verdict::Served(plan, info)))) => Some(FileState {
                        info,
                        stamp,
                        size: plan.len(),
                    }),
                    Some(Ok((_, Verdict::Hidden(reason)))) => {
                        tracing::debug!(file = %view_path, reason, "hidden");
                        hidden.push((dir.source.join(&entry.name), reason));
                        continue;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(file = %view_path, error = %e, "hidden: cannot be read");
                        hidden.push((dir.source.join(&entry.name), "unreadable"));
                        continue;
                    }
                    None => continue,
                },
            };
            if by_name.contains_key(&name) {
                tracing::error!(file = %view_path, "hidden: pseudonym collision even at the longer length");
                continue;
            }
            let rel = dir.source.join(&entry.name);
            let child = self.intern(ino, &rel, entry.kind, view_path, token);
            if let Some(state) = state {
                *lock(&child.1.state) = Some(state);
            }
            by_name.insert(name.clone(), child.0);
            named.push((name, child.0));
        }
        named.sort();
        Ok(Listing {
            stamp,
            entries: named,
            hidden,
            by_name,
        })
    }

    /// The inode of a source path, creating the node on first sight.
    fn intern(
        &self,
        parent: u64,
        rel: &Path,
        kind: Kind,
        view_path: String,
        token: String,
    ) -> (u64, Arc<Node>) {
        if let Some(ino) = self.by_source.get(rel).map(|i| *i)
            && let Some(node) = self.nodes.get(&ino).map(|n| n.clone())
            && node.kind == kind
        {
            return (ino, node);
        }
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        let node = Arc::new(Node {
            parent,
            kind,
            source: rel.to_path_buf(),
            view_path,
            token,
            state: Mutex::new(None),
            listing: Mutex::new(None),
        });
        self.nodes.insert(ino, node.clone());
        self.by_source.insert(rel.to_path_buf(), ino);
        (ino, node)
    }

    /// Re-plans a file whose source changed; `Ok(false)` when it is now hidden.
    fn refresh(&self, node: &Node) -> Result<bool, FsError> {
        let now = self.source.stamp(&node.source).map_err(FsError::from_io)?;
        if lock(&node.state).as_ref().is_some_and(|s| s.stamp == now) {
            return Ok(true);
        }
        let (stamp, verdict, _) = self.plan_source(&node.source)?;
        match verdict {
            Verdict::Served(plan, info) => {
                tracing::info!(file = %node.view_path, size = plan.len(), "source changed: re-planned");
                *lock(&node.state) = Some(FileState {
                    stamp,
                    size: plan.len(),
                    info,
                });
                Ok(true)
            }
            Verdict::Hidden(reason) => {
                tracing::info!(file = %node.view_path, reason, "source changed: now hidden");
                *lock(&node.state) = None;
                Ok(false)
            }
        }
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let name = name.to_str().ok_or(FsError::NotFound)?;
        let listing = self.listing(parent)?;
        let ino = *listing.by_name.get(name).ok_or(FsError::NotFound)?;
        self.getattr(ino)
    }

    pub fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        let node = self.node(ino)?;
        if node.kind == Kind::File && !self.refresh(&node)? {
            return Err(FsError::NotFound);
        }
        Ok(self.attr_of(ino, &node))
    }

    /// Every visible entry of a directory, with attributes (for readdirplus), ordered.
    pub fn readdir(&self, ino: u64) -> Result<Vec<DirEntry>, FsError> {
        let listing = self.listing(ino)?;
        let mut out = Vec::with_capacity(listing.entries.len());
        for (name, child) in &listing.entries {
            let node = self.node(*child)?;
            if node.kind == Kind::File && lock(&node.state).is_none() {
                continue; // hidden since listed
            }
            out.push(DirEntry {
                name: name.clone(),
                attr: self.attr_of(*child, &node),
            });
        }
        Ok(out)
    }

    pub fn parent(&self, ino: u64) -> Result<u64, FsError> {
        Ok(self.node(ino)?.parent)
    }

    /// Opens a file: the plan of the source version now on disk.
    pub fn open(&self, ino: u64, caller: Caller) -> Result<Opened, FsError> {
        let node = self.node(ino)?;
        if node.kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        let (stamp, verdict, file) = self.plan_source(&node.source)?;
        let Verdict::Served(plan, info) = verdict else {
            *lock(&node.state) = None;
            return Err(FsError::NotFound);
        };
        let size_changed = {
            let mut st = lock(&node.state);
            let changed = st
                .as_ref()
                .is_none_or(|s| s.size != plan.len() || s.stamp != stamp);
            *st = Some(FileState {
                stamp,
                size: plan.len(),
                info,
            });
            changed
        };
        file.reading_through();
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let view_path = node.view_path.clone();
        tracing::debug!(file = %view_path, fh, "open");
        self.handles.insert(
            fh,
            Arc::new(Handle {
                plan,
                file,
                stamp,
                view_path,
                caller,
                served: AtomicU64::new(0),
            }),
        );
        Ok(Opened { fh, size_changed })
    }

    /// Reads from an open file; fails (rather than mixing versions) if the source changed.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, FsError> {
        let h = self
            .handles
            .get(&fh)
            .map(|h| h.clone())
            .ok_or(FsError::BadHandle)?;
        let len = h.plan.len();
        let n = (size as u64).min(len.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; n];
        let got = h
            .plan
            .read_at(h.file.as_ref(), offset, &mut buf)
            .map_err(FsError::from_io)?;
        buf.truncate(got);
        h.served.fetch_add(got as u64, Ordering::Relaxed);
        if h.file.stamp().map_err(FsError::from_io)? != h.stamp {
            tracing::warn!(file = %h.view_path, "source changed during a read: failed it");
            return Err(FsError::Stale);
        }
        Ok(buf)
    }

    pub fn release(&self, fh: u64) {
        if let Some((_, h)) = self.handles.remove(&fh)
            && let Some(audit) = &self.cfg.audit
        {
            audit.record(
                h.caller.uid,
                h.caller.pid,
                &h.view_path,
                h.served.load(Ordering::Relaxed),
            );
        }
    }

    // Key holder's tools (resolve, crosswalk, export, scan). These return source paths,
    // which are PHI: never to the view, never to logs.

    /// The source path (relative to the root) of a view entry.
    pub fn source_path(&self, ino: u64) -> Result<PathBuf, FsError> {
        Ok(self.node(ino)?.source.clone())
    }

    /// Files of a directory that the view hides, with the reason.
    pub fn hidden(&self, ino: u64) -> Result<Vec<(PathBuf, &'static str)>, FsError> {
        Ok(self.listing(ino)?.hidden.clone())
    }

    /// Facts about a served file (modality, transfer syntax...; no PHI).
    pub fn file_info(&self, ino: u64) -> Option<Arc<FileInfo>> {
        let node = self.node(ino).ok()?;
        lock(&node.state).as_ref().map(|s| s.info.clone())
    }

    /// Opens the source file of a view entry (through the source, confined to its root).
    pub fn open_source(&self, ino: u64) -> Result<Box<dyn SourceFile>, FsError> {
        self.source
            .open(&self.node(ino)?.source)
            .map_err(FsError::from_io)
    }

    /// The plan of a file's current version and its open source, to write it out whole.
    pub fn plan_of(&self, ino: u64) -> Result<(Arc<Plan>, Box<dyn SourceFile>), FsError> {
        let node = self.node(ino)?;
        match self.plan_source(&node.source)? {
            (_, Verdict::Served(plan, _), file) => {
                file.reading_through();
                Ok((plan, file))
            }
            (_, Verdict::Hidden(_), _) => Err(FsError::NotFound),
        }
    }

    /// The source version and view size of a visible file.
    pub fn version(&self, ino: u64) -> Option<(Stamp, u64)> {
        let node = self.node(ino).ok()?;
        lock(&node.state).as_ref().map(|s| (s.stamp, s.size))
    }

    /// The pseudonymous path of an entry (as logged).
    pub fn view_path_of(&self, ino: u64) -> Result<String, FsError> {
        Ok(self.node(ino)?.view_path.clone())
    }

    /// Number of entries known to the view (for statfs).
    pub fn known_entries(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// The inode's parent and name, for kernel cache invalidation.
    pub fn name_of(&self, ino: u64) -> Option<(u64, String)> {
        let node = self.node(ino).ok()?;
        let name = node.view_path.rsplit('/').next()?.to_string();
        Some((node.parent, name))
    }
}

/// A source entry's pseudonym: `(token, name)`; files end in `.dcm`. The token chains through
/// the parent's, so the name depends on the whole relative path.
pub fn view_name(
    keys: &Pseudonyms,
    parent_token: &str,
    name: &[u8],
    kind: Kind,
    chars: usize,
) -> (String, String) {
    let token = keys.path_token(parent_token, name, chars);
    let shown = if kind == Kind::File {
        format!("{token}.dcm")
    } else {
        token.clone()
    };
    (token, shown)
}

/// The view path of a source path, assuming no pseudonym collision (for the demo and tools).
pub fn view_path(keys: &Pseudonyms, rel: &Path, file: bool) -> String {
    let comps: Vec<_> = rel.components().collect();
    let (mut token, mut out) = (String::new(), String::new());
    for (i, c) in comps.iter().enumerate() {
        let kind = if file && i + 1 == comps.len() {
            Kind::File
        } else {
            Kind::Dir
        };
        let (t, name) = view_name(
            keys,
            &token,
            c.as_os_str().as_encoded_bytes(),
            kind,
            NAME_CHARS,
        );
        out.push('/');
        out.push_str(&name);
        token = t;
    }
    out
}
