//! The thin adapter: the only module that speaks fuser's `Filesystem`, `Request` and `Reply`.
//! Each operation calls the domain layer (`fs`) and replies, or maps its error to an errno.

use crate::fs::{Attr, DeidFs, FsError};
use crate::metrics::Fuse;
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
        let notifier: Arc<OnceLock<Notifier>> = Arc::new(OnceLock::new());
        // A file whose version changed: the kernel drops its pages and attributes, so no
        // later read is served from the old version's pages.
        let n = notifier.clone();
        fs.on_change(move |ino| invalidate_inode(&n, ino, None));
        Self { fs, ttl, notifier }
    }

    /// Drops the kernel's pages, attributes and name of a file.
    /// An operation's error: counted, logged at its level, and its errno.
    fn fail(&self, op: Fuse, e: &FsError) -> Errno {
        self.fs.metrics().error(op);
        log_error(op.name(), e)
    }

    fn invalidate(&self, ino: u64) {
        invalidate_inode(&self.notifier, ino, self.fs.name_of(ino));
    }
}

/// Tells the kernel to drop what it caches of `ino` (and its entry, when given).
fn invalidate_inode(notifier: &OnceLock<Notifier>, ino: u64, entry: Option<(u64, String)>) {
    let Some(n) = notifier.get().cloned() else {
        return;
    };
    // Not from the request thread: the kernel may wait on this request meanwhile.
    std::thread::spawn(move || {
        let _ = n.inval_inode(INodeNo(ino), 0, 0);
        if let Some((parent, name)) = entry {
            let _ = n.inval_entry(INodeNo(parent), OsStr::new(&name));
        }
    });
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
        let _timed = self.fs.metrics().time(Fuse::Lookup);
        match self.fs.lookup(parent.0, name) {
            Ok(a) => reply.entry(&self.ttl, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(self.fail(Fuse::Lookup, &e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        let _timed = self.fs.metrics().time(Fuse::Forget);
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let _timed = self.fs.metrics().time(Fuse::Getattr);
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.ttl, &file_attr(&a)),
            Err(e) => reply.error(self.fail(Fuse::Getattr, &e)),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let _timed = self.fs.metrics().time(Fuse::Open);
        if !self.fs.open_handles() {
            // The kernel takes ENOSYS as "opens always succeed": it sends no more OPEN or
            // RELEASE, keeps the file's pages, and reads with handle 0 (read by inode).
            return reply.error(Errno::ENOSYS);
        }
        let caller = match self.fs.audited() {
            true => crate::fs::Caller::now(req.uid(), req.pid()),
            false => crate::fs::Caller::default(),
        };
        match self.fs.open(ino.0, caller) {
            Ok(o) => {
                if o.size_changed {
                    // The kernel may still hold the old size and pages: this open bypasses
                    // its cache (so no read is clipped or zero-filled at the old size) while
                    // the invalidation lands.
                    self.invalidate(ino.0);
                    reply.opened(FileHandle(o.fh), FopenFlags::FOPEN_DIRECT_IO);
                } else if self.fs.audited_uncached() {
                    // No KEEP_CACHE: the kernel drops the file's pages, so this open's reads
                    // reach the daemon and the audit log counts them.
                    reply.opened(FileHandle(o.fh), FopenFlags::empty());
                } else {
                    reply.opened(FileHandle(o.fh), FopenFlags::FOPEN_KEEP_CACHE);
                }
            }
            Err(e) => reply.error(self.fail(Fuse::Open, &e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Read);
        let read = if self.fs.open_handles() {
            self.fs.read(fh.0, offset, size)
        } else {
            self.fs.read_inode(ino.0, offset, size)
        };
        match read {
            Ok(data) => {
                self.fs.metrics().served(data.len() as u64);
                reply.data(&data)
            }
            Err(e) => reply.error(self.fail(Fuse::Read, &e)),
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
        let _timed = self.fs.metrics().time(Fuse::Release);
        self.fs.release(fh.0);
        reply.ok();
    }

    /// Nothing is written, so there is nothing to flush (fuser's default logs a warning of
    /// several lines per close, and the kernel asks at every close).
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Flush);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let _timed = self.fs.metrics().time(Fuse::Opendir);
        match self.fs.opendir(ino.0) {
            // The kernel caches the entries it reads; it keeps them across opens while they
            // are the ones the view last gave it.
            Ok(d) if d.keep_cache => reply.opened(
                FileHandle(d.fh),
                FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Ok(d) => reply.opened(FileHandle(d.fh), FopenFlags::FOPEN_CACHE_DIR),
            Err(e) => reply.error(self.fail(Fuse::Opendir, &e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Releasedir);
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Readdir);
        // Offsets: 1 after ".", 2 after "..", then 3 + the entry's place in the listing.
        if offset == 0 && reply.add(ino, 1, FileType::Directory, ".") {
            return reply.ok();
        }
        if offset <= 1 {
            let parent = self.fs.parent(ino.0).unwrap_or(ino.0);
            if reply.add(INodeNo(parent), 2, FileType::Directory, "..") {
                return reply.ok();
            }
        }
        let r = self
            .fs
            .readdir_from(fh.0, offset.saturating_sub(2), false, |next, name, attr| {
                reply.add(INodeNo(attr.ino), next + 2, file_attr(attr).kind, name)
            });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail(Fuse::Readdir, &e)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Readdirplus);
        let (Ok(me), Ok(parent)) = (
            self.fs.getattr(ino.0),
            self.fs.parent(ino.0).and_then(|p| self.fs.getattr(p)),
        ) else {
            self.fs.metrics().error(Fuse::Readdirplus);
            return reply.error(Errno::ENOENT);
        };
        let g = Generation(0);
        if offset == 0 && reply.add(INodeNo(me.ino), 1, ".", &self.ttl, &file_attr(&me), g) {
            return reply.ok();
        }
        if offset <= 1
            && reply.add(
                INodeNo(parent.ino),
                2,
                "..",
                &self.ttl,
                &file_attr(&parent),
                g,
            )
        {
            return reply.ok();
        }
        let r = self
            .fs
            .readdir_from(fh.0, offset.saturating_sub(2), true, |next, name, attr| {
                reply.add(
                    INodeNo(attr.ino),
                    next + 2,
                    name,
                    &self.ttl,
                    &file_attr(attr),
                    g,
                )
            });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail(Fuse::Readdirplus, &e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let _timed = self.fs.metrics().time(Fuse::Statfs);
        // The view's own numbers: nothing about the source's disk.
        reply.statfs(0, 0, 0, self.fs.known_entries(), 0, 4096, 255, 4096);
    }

    // No extended attributes. ENOSYS (not ENODATA) makes the kernel stop asking: otherwise
    // every `ls -l` costs two more round trips per file (security.selinux, POSIX ACLs).
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        let _timed = self.fs.metrics().time(Fuse::Getxattr);
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        let _timed = self.fs.metrics().time(Fuse::Listxattr);
        reply.error(Errno::ENOSYS);
    }
}
