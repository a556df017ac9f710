//! Open files: `open` plans the source version on disk and keeps that plan and the open
//! source file for the handle's life, so every read of one handle serves one version; a read
//! whose source changed fails (EIO) rather than mixing versions. Closing a handle writes its
//! audit line.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::FileState;
use crate::cache::Verdict;
use crate::deid::Plan;
use crate::lock;
use crate::source::{Kind, SourceFile, Stamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) struct Handle {
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
            self.entries_changed(node.parent);
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
            .ok_or(FsError::new(ErrorKind::BadHandle))?;
        let at = |e: std::io::Error| FsError::io(e).at(&h.view_path);
        let len = h.plan.len();
        let n = (size as u64).min(len.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; n];
        let got = h
            .plan
            .read_at(h.file.as_ref(), offset, &mut buf)
            .map_err(at)?;
        buf.truncate(got);
        h.served.fetch_add(got as u64, Ordering::Relaxed);
        if h.file.stamp().map_err(at)? != h.stamp {
            tracing::warn!(file = %h.view_path, "source changed during a read: failed it");
            return Err(FsError::new(ErrorKind::Stale).at(&h.view_path));
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
}
