//! The thin adapter: the only module that speaks fuser's `Filesystem`, `Request` and `Reply`.
//! Each operation calls the domain layer (`fs`) and replies, or maps its error to an errno.

use crate::fs::{Attr, DeidFs, FsError};
use crate::source::Kind;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, Notifier, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use std::ffi::OsStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The content is deterministic: the kernel may keep entries, attributes and pages long.
/// Changes in the archive show within this time (at once for a file that is opened).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

pub struct FuseAdapter {
    fs: Arc<DeidFs>,
    ttl: Duration,
    /// Set once the session exists; used to drop the kernel's cached size of a changed file.
    pub notifier: Arc<OnceLock<Notifier>>,
}

impl FuseAdapter {
    pub fn new(fs: Arc<DeidFs>, ttl: Duration) -> Self {
        Self {
            fs,
            ttl,
            notifier: Arc::new(OnceLock::new()),
        }
    }

    fn invalidate(&self, ino: u64) {
        let (Some(n), Some((parent, name))) = (self.notifier.get().cloned(), self.fs.name_of(ino))
        else {
            return;
        };
        // Not from the request thread: the kernel may wait on this request meanwhile.
        std::thread::spawn(move || {
            let _ = n.inval_inode(INodeNo(ino), 0, 0);
            let _ = n.inval_entry(INodeNo(parent), OsStr::new(&name));
        });
    }
}

/// Logs a domain error at its own level (an expected ENOENT at DEBUG) and gives its errno
/// (decided in one exhaustive match, `FsError::errno`).
fn log_error(op: &str, e: &FsError) -> Errno {
    match e.level() {
        tracing::Level::DEBUG => tracing::debug!(op, error = %e),
        tracing::Level::TRACE => tracing::trace!(op, error = %e),
        tracing::Level::INFO => tracing::info!(op, error = %e),
        tracing::Level::WARN => tracing::warn!(op, error = %e),
        tracing::Level::ERROR => tracing::error!(op, error = %e),
    }
    Errno::from_i32(e.errno())
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.time,
        mtime: a.time,
        ctime: a.time,
        crtime: a.time,
        kind: match a.kind {
            Kind::Dir => FileType::Directory,
            Kind::File => FileType::RegularFile,
        },
        perm: a.perm,
        nlink: if a.kind == Kind::Dir { 2 } else { 1 },
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 128 * 1024,
        flags: 0,
    }
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_PARALLEL_DIROPS);
        let _ = config.set_max_readahead(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fs.lookup(parent.0, name) {
            Ok(a) => reply.entry(&self.ttl, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(log_error("lookup", &e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.ttl, &file_attr(&a)),
            Err(e) => reply.error(log_error("getattr", &e)),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let caller = crate::fs::Caller {
            uid: req.uid(),
            pid: req.pid(),
        };
        match self.fs.open(ino.0, caller) {
            Ok(o) => {
                if o.size_changed {
                    // The kernel may still hold the old size and pages: this open bypasses
                    // its cache (so no read is clipped or zero-filled at the old size) while
                    // the invalidation lands.
                    self.invalidate(ino.0);
                    reply.opened(FileHandle(o.fh), FopenFlags::FOPEN_DIRECT_IO);
                } else {
                    reply.opened(FileHandle(o.fh), FopenFlags::FOPEN_KEEP_CACHE);
                }
            }
            Err(e) => reply.error(log_error("open", &e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.fs.read(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(log_error("read", &e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.fs.getattr(ino.0) {
            Ok(a) if a.kind == Kind::Dir => {
                reply.opened(FileHandle(0), FopenFlags::FOPEN_CACHE_DIR)
            }
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(log_error("opendir", &e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(log_error("readdir", &e)),
        };
        let parent = self.fs.parent(ino.0).unwrap_or(ino.0);
        let dots = [
            (ino.0, FileType::Directory, ".".to_string()),
            (parent, FileType::Directory, "..".to_string()),
        ];
        let all = dots.into_iter().chain(entries.iter().map(|e| {
            let a = file_attr(&e.attr);
            (e.attr.ino, a.kind, e.name.clone())
        }));
        for (i, (child, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(log_error("readdirplus", &e)),
        };
        let (Ok(me), Ok(parent)) = (
            self.fs.getattr(ino.0),
            self.fs.parent(ino.0).and_then(|p| self.fs.getattr(p)),
        ) else {
            return reply.error(Errno::ENOENT);
        };
        let dots = [(".".to_string(), me), ("..".to_string(), parent)];
        let all = dots
            .into_iter()
            .chain(entries.into_iter().map(|e| (e.name, e.attr)));
        for (i, (name, attr)) in all.enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(attr.ino),
                (i + 1) as u64,
                &name,
                &self.ttl,
                &file_attr(&attr),
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // The view's own numbers: nothing about the source's disk.
        reply.statfs(0, 0, 0, self.fs.known_entries(), 0, 4096, 255, 4096);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENODATA);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0)
        } else {
            reply.data(&[])
        }
    }
}
