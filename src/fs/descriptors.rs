//! Source descriptors of open view files, bounded: at most `capacity` stay open, the least
//! recently read closed first. A handle whose descriptor was closed opens its source again at
//! its next read and checks it is still the version the handle's plan was made from, so any
//! number of view files can be open at once and a descriptor limit never reaches a reader.

use crate::lock;
use crate::source::SourceFile;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

pub(super) struct Descriptors {
    open: Mutex<LruCache<u64, Arc<dyn SourceFile>>>,
}

impl Descriptors {
    /// A pool of at most `capacity` descriptors (at least one).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            open: Mutex::new(LruCache::new(cap)),
        }
    }

    /// The descriptor a handle holds, if still open.
    pub fn get(&self, fh: u64) -> Option<Arc<dyn SourceFile>> {
        lock(&self.open).get(&fh).cloned()
    }

    /// Keeps a handle's descriptor, closing the least recently read one when full.
    pub fn put(&self, fh: u64, file: Arc<dyn SourceFile>) {
        lock(&self.open).put(fh, file);
    }

    pub fn remove(&self, fh: u64) {
        lock(&self.open).pop(&fh);
    }

    /// Closes half of the descriptors (the least recently read): the process is out of them.
    pub fn shrink(&self) {
        let mut open = lock(&self.open);
        for _ in 0..open.len().div_ceil(2) {
            open.pop_lru();
        }
    }
}

/// How many source descriptors open view files may hold: a quarter of the open-file limit
/// (the rest for FUSE, listings and the process), between 16 and 16,384.
pub(super) fn capacity() -> usize {
    let (soft, _) = crate::io::open_file_limit();
    ((soft / 4) as usize).clamp(16, 16_384)
}
