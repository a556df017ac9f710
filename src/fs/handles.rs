//! Open files: `open` plans the source version on disk and keeps that plan for the handle's
//! life, so every read of one handle serves one version; a read whose source changed fails
//! (EIO) rather than mixing versions. The source descriptor lives in a bounded pool
//! (`descriptors`): closed when others are read more recently, opened again (and checked to
//! be the same version) at the handle's next read. Closing a handle writes its audit line.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::FileState;
use crate::cache::Verdict;
use crate::deid::Plan;
use crate::lock;
use crate::source::{Kind, SourceFile, Stamp};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) struct Handle {
    plan: Arc<Plan>,
    /// The source path, to open again when the pool closed the descriptor: PHI, never logged.
    source: PathBuf,
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

impl DeidFs {
    /// Opens a file: the plan of the source version now on disk.
    pub fn open(&self, ino: u64, caller: Caller) -> Result<Opened, FsError> {
        let node = self.node(ino)?;
        if node.kind == Kind::Dir {
            return Err(FsError::new(ErrorKind::IsDir).at(&node.view_path));
        }
        let (stamp, verdict, file) = self
            .plan_source(&node.source)
            .map_err(|e| e.at(&node.view_path))?;
        let Verdict::Served(plan, info) = verdict else {
            *lock(&node.state) = None;
            self.entries_changed(node.parent.load(Ordering::Acquire));
            return Err(FsError::new(ErrorKind::NotFound).at(&node.view_path));
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
        self.descriptors.put(fh, Arc::from(file));
        self.handles.insert(
            fh,
            Arc::new(Handle {
                plan,
                source: node.source.clone(),
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
        let at = |e: std::io::Error| FsError::io(e).at(&h.view_path);
        let file = self.descriptor(fh, &h)?;
        let len = h.plan.len();
        let n = (size as u64).min(len.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; n];
        let got = h.plan.read_at(&*file, offset, &mut buf).map_err(at)?;
        buf.truncate(got);
        h.served.fetch_add(got as u64, Ordering::Relaxed);
        if file.stamp().map_err(at)? != h.stamp {
            tracing::warn!(file = %h.view_path, "source changed during a read: failed it");
            return Err(FsError::new(ErrorKind::Stale).at(&h.view_path));
        }
        Ok(buf)
    }

    /// The handle's source descriptor: from the pool, or opened again (the same version, or
    /// the read fails). Out of descriptors, the pool closes half of its own and tries again.
    fn descriptor(&self, fh: u64, h: &Handle) -> Result<Arc<dyn SourceFile>, FsError> {
        if let Some(f) = self.descriptors.get(fh) {
            return Ok(f);
        }
        let at = |e: std::io::Error| FsError::io(e).at(&h.view_path);
        let file = match self.source.open(&h.source) {
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                self.descriptors.shrink();
                self.source.open(&h.source)
            }
            other => other,
        }
        .map_err(at)?;
        if file.stamp().map_err(at)? != h.stamp {
            tracing::warn!(file = %h.view_path, "source changed while its descriptor was closed: failed the read");
            return Err(FsError::new(ErrorKind::Stale).at(&h.view_path));
        }
        file.reading_through();
        let file: Arc<dyn SourceFile> = Arc::from(file);
        self.descriptors.put(fh, file.clone());
        Ok(file)
    }

    pub fn release(&self, fh: u64) {
        self.descriptors.remove(fh);
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
}
