//! A source that fails on purpose, wrapping another: for tests of how the view behaves when
//! the archive misbehaves (I/O errors, permissions, files changing under it).

use super::{Entry, Source, SourceFile, Stamp};
use crate::io::ReadAt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to break, matched by the file's relative path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Reads of this file fail with EIO from the n-th read on (0: every read).
    EioFromRead { path: PathBuf, nth: u64 },
    /// Opening this file is denied (EACCES).
    DenyOpen { path: PathBuf },
    /// Listing this directory fails with ENOENT (it was removed).
    VanishedDir { path: PathBuf },
    /// Every read of this file first waits this long (a slow disk or network), so that
    /// concurrent readers overlap.
    SlowRead {
        path: PathBuf,
        delay: std::time::Duration,
    },
}

pub struct FaultSource<S> {
    inner: S,
    faults: Mutex<Vec<Fault>>,
    reads: std::sync::Arc<AtomicU64>,
}

impl<S: Source> FaultSource<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Mutex::new(Vec::new()),
            reads: Default::default(),
        }
    }

    /// The wrapped source (to change files under the view).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn inject(&self, fault: Fault) {
        crate::lock(&self.faults).push(fault);
    }

    pub fn clear(&self) {
        crate::lock(&self.faults).clear();
    }

    fn find(&self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
        crate::lock(&self.faults).iter().find(|f| pred(f)).cloned()
    }
}

struct FaultyFile {
    inner: Box<dyn SourceFile>,
    fail_from: Option<u64>,
    delay: Option<std::time::Duration>,
    reads: std::sync::Arc<AtomicU64>,
}

impl ReadAt for FaultyFile {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        if self.fail_from.is_some_and(|from| n >= from) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.read_exact_at(buf, offset)
    }
}

impl SourceFile for FaultyFile {
    fn stamp(&self) -> io::Result<Stamp> {
        self.inner.stamp()
    }
}

impl<S: Source> Source for FaultSource<S> {
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        if self
            .find(|f| matches!(f, Fault::VanishedDir { path } if path == dir))
            .is_some()
        {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        self.inner.list(dir)
    }

    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>> {
        if self
            .find(|f| matches!(f, Fault::DenyOpen { path } if path == file))
            .is_some()
        {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let fail_from =
            match self.find(|f| matches!(f, Fault::EioFromRead { path, .. } if path == file)) {
                Some(Fault::EioFromRead { nth, .. }) => {
                    // Count reads of this opening from zero.
                    self.reads.store(0, Ordering::SeqCst);
                    Some(nth)
                }
                _ => None,
            };
        let delay = match self.find(|f| matches!(f, Fault::SlowRead { path, .. } if path == file)) {
            Some(Fault::SlowRead { delay, .. }) => Some(delay),
            _ => None,
        };
        Ok(Box::new(FaultyFile {
            inner: self.inner.open(file)?,
            fail_from,
            delay,
            reads: self.reads.clone(),
        }))
    }

    fn stamp(&self, file: &Path) -> io::Result<Stamp> {
        self.inner.stamp(file)
    }
}
