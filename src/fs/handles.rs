//! Reading files, in one of two modes.
//! - Open handles (`Config::open_handles`, always with an audit log): `open` plans the source
//!   version on disk and keeps that plan for the handle's life, so every read of one handle
//!   serves one version; a read whose source changed fails (EIO) rather than mixing versions.
//!   Closing a handle writes its audit line.
//! - No open (the default): the kernel is told opens are not implemented and stops sending
//!   OPEN and RELEASE; each read serves the version the inode shows (`Node::state`, kept
//!   fresh by lookups and getattrs at the TTL). A read that finds the source changed fails
//!   once (EIO) and the file's cached pages are dropped; reads after it serve the new version.
//!
//! Either way the source descriptor lives in a bounded pool (`descriptors`): closed when
//! others are read more recently, opened again (and checked to be the same version) at the
//! next read.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::{FileState, Node};
use crate::cache::Verdict;
use crate::deid::Plan;
use crate::lock;
use crate::source::{Kind, SourceFile, Stamp};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptor-pool keys of reads by inode (no open), apart from handle numbers.
const INODE_KEYS: u64 = 1 << 63;

pub(super) struct Handle {
    ino: u64,
    plan: Arc<Plan>,
    /// The source path, to open again when the pool closed the descriptor: PHI, never logged.
    source: PathBuf,
    stamp: Stamp,
    view_path: String,
    caller: Caller,
    served: AtomicU64,
}

pub use crate::audit::Caller;

/// The result of `open`: a handle, and whether the kernel's cached size must be dropped.
pub struct Opened {
    pub fh: u64,
    pub size_changed: bool,
}

impl DeidFs {
    /// Opens a file: the plan of the source version now on disk.
    pub fn open(&self, ino: u64, caller: Caller) -> Result<Opened, FsError> {
        let node = self.node(ino)?;
        let view_path = node.view_path();
        if node.kind == Kind::Dir {
            return Err(FsError::new(ErrorKind::IsDir).at(&view_path));
        }
        let source = node.source();
        let (stamp, verdict, file) = self.plan_source(&source).map_err(|e| e.at(&view_path))?;
        let Verdict::Served(plan, _) = verdict else {
            *lock(&node.state) = None;
            self.entries_changed(node.parent());
            return Err(FsError::new(ErrorKind::NotFound).at(&view_path));
        };
        let size_changed = {
            let mut st = lock(&node.state);
            let changed = st
                .as_ref()
                .is_none_or(|s| s.size != plan.len() || s.stamp != stamp);
            *st = Some(FileState {
                stamp,
                size: plan.len(),
            });
            changed
        };
        file.reading_through();
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(file = %view_path, fh, "open");
        if let Some(audit) = &self.cfg.audit {
            audit.opened(&caller, &view_path);
        }
        self.descriptors.put(fh, Arc::from(file));
        self.handles.insert(
            fh,
            Arc::new(Handle {
                ino,
                plan,
                source,
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
            .ok_or(FsError::new(ErrorKind::BadHandle))?;
        let file = self.descriptor(fh, || h.source.clone(), h.stamp, || h.view_path.clone())?;
        let buf = serve(&h.plan, &*file, h.stamp, offset, size, || {
            h.view_path.clone()
        })
        .inspect_err(|e| self.withdrawn(h.ino, e))?;
        h.served.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf)
    }

    /// After a read failed because the file's head series cannot be defaced (found at its
    /// first read): the file is hidden, and its folder listed again, which hides the rest
    /// of the series (their plans are withdrawn).
    fn withdrawn(&self, ino: u64, e: &FsError) {
        let Some(why) = e.undefaceable() else {
            return;
        };
        let Ok(node) = self.node(ino) else { return };
        tracing::warn!(file = %node.view_path(), reason = why.code(), "hidden: {why}");
        *lock(&node.state) = None;
        if let Ok(parent) = self.node(node.parent())
            && let Some(dir) = parent.dir()
        {
            *lock(&dir.listing) = None;
            // The folder's record says it is served: the next listing must plan it.
            if let Some(index) = &self.index {
                index.forget(&parent.source());
            }
        }
        self.entries_changed(node.parent());
        self.changed(ino);
    }

    /// Reads a file by inode (no open): the version its node shows. When the source changed
    /// since, the node is planned again (its kernel pages dropped through `on_change`) and the
    /// read fails (`Stale`); the next read serves the new version. A kept descriptor of a
    /// version replaced since is opened again first.
    pub fn read_inode(&self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>, FsError> {
        let node = self.node(ino)?;
        let shown = |n: &Node| lock(&n.state).as_ref().map(|s| s.stamp);
        let first = self.read_shown(&node, offset, size);
        if first
            .as_ref()
            .is_err_and(|e| matches!(e.kind, ErrorKind::Stale))
        {
            let before = shown(&node);
            self.descriptors.remove(INODE_KEYS | ino);
            // The version to show from now on (or hidden).
            let _ = self.refresh(&node);
            if before.is_some() && shown(&node) == before {
                return self.read_shown(&node, offset, size);
            }
        }
        first.inspect_err(|e| self.withdrawn(ino, e))
    }

    fn read_shown(&self, node: &Node, offset: u64, size: u32) -> Result<Vec<u8>, FsError> {
        let view_path = || node.view_path();
        if node.kind == Kind::Dir {
            return Err(FsError::new(ErrorKind::IsDir).at(&view_path()));
        }
        let not_found = || FsError::new(ErrorKind::NotFound).at(&view_path());
        let stamp = lock(&node.state)
            .as_ref()
            .map(|s| s.stamp)
            .ok_or_else(not_found)?;
        let file = self.descriptor(INODE_KEYS | node.ino, || node.source(), stamp, view_path)?;
        // A kept descriptor may be of a version replaced since: it must not be planned under
        // this version's key (its plan would then be applied to the other version's bytes).
        let verdict = self.cache.get_or_compute(&self.plan_key(stamp), || {
            if file.stamp().map_err(FsError::io)? != stamp {
                return Err(FsError::new(ErrorKind::Stale).at(&view_path()));
            }
            self.plan_file(&node.source(), &*file)
        })?;
        let Verdict::Served(plan, _) = verdict else {
            return Err(not_found());
        };
        self.size_shown(node, stamp, plan.len());
        serve(&plan, &*file, stamp, offset, size, view_path)
    }

    /// The plan read has `size` bytes: if the node shows another size for this version (a
    /// listing index made by a build that planned differently; never otherwise), the plan's
    /// size is shown from now on and the kernel's attributes and pages are dropped.
    fn size_shown(&self, node: &Node, stamp: Stamp, size: u64) {
        let differed = {
            let mut st = lock(&node.state);
            match st.as_mut() {
                Some(s) if s.stamp == stamp && s.size != size => {
                    s.size = size;
                    true
                }
                _ => false,
            }
        };
        if differed {
            tracing::error!(file = %node.view_path(), size, "the size listed differs from the plan's: the plan's is shown from now on");
            self.changed(node.ino);
        }
    }

    /// The source descriptor kept under `key`: from the pool, or opened again (the same
    /// version, or the read fails). Out of descriptors, the pool closes half of its own and
    /// tries again.
    fn descriptor(
        &self,
        key: u64,
        source: impl Fn() -> PathBuf,
        stamp: Stamp,
        view_path: impl Fn() -> String,
    ) -> Result<Arc<dyn SourceFile>, FsError> {
        if let Some(f) = self.descriptors.get(key) {
            return Ok(f);
        }
        let at = |e: std::io::Error| FsError::io(e).at(&view_path());
        let source = source();
        let (file, opened) = match self.source.open_stamped(&source) {
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                self.descriptors.shrink();
                self.source.open_stamped(&source)
            }
            other => other,
        }
        .map_err(at)?;
        if opened != stamp {
            tracing::warn!(file = %view_path(), "source changed while its descriptor was closed: failed the read");
            return Err(FsError::new(ErrorKind::Stale).at(&view_path()));
        }
        file.reading_through();
        let file: Arc<dyn SourceFile> = Arc::from(file);
        self.descriptors.put(key, file.clone());
        Ok(file)
    }

    pub fn release(&self, fh: u64) {
        self.descriptors.remove(fh);
        if let Some((_, h)) = self.handles.remove(&fh)
            && let Some(audit) = &self.cfg.audit
        {
            audit.closed(&h.caller, &h.view_path, h.served.load(Ordering::Relaxed));
        }
    }
}

/// `size` bytes at `offset` of `plan` (made from `stamp`) read from `file`; fails (rather than
/// mixing versions) if the source changed meanwhile.
fn serve(
    plan: &Plan,
    file: &dyn SourceFile,
    stamp: Stamp,
    offset: u64,
    size: u32,
    view_path: impl Fn() -> String,
) -> Result<Vec<u8>, FsError> {
    let at = |e: std::io::Error| FsError::io(e).at(&view_path());
    let n = (size as u64).min(plan.len().saturating_sub(offset)) as usize;
    let mut buf = vec![0u8; n];
    // A read that fails because the file is now shorter is a change too.
    let got = plan.read_at(file, offset, &mut buf);
    if file.stamp().map_err(at)? != stamp {
        tracing::warn!(file = %view_path(), "source changed during a read: failed it");
        return Err(FsError::new(ErrorKind::Stale).at(&view_path()));
    }
    buf.truncate(got.map_err(at)?);
    Ok(buf)
}
