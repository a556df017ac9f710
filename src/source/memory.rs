//! An in-memory tree, for tests of the view without a disk or a kernel.

use super::{Entry, Kind, Source, SourceFile, Stamp};
use crate::io::ReadAt;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Bytes and a version number (the stamp).
type Versioned = (Arc<Vec<u8>>, u64);

#[derive(Default)]
pub struct MemorySource {
    files: RwLock<BTreeMap<PathBuf, Versioned>>,
    version: std::sync::atomic::AtomicU64,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file (its stamp changes).
    pub fn put(&self, path: impl Into<PathBuf>, bytes: Vec<u8>) {
        let v = self
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.into(), (Arc::new(bytes), v));
    }

    pub fn remove(&self, path: &Path) {
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }

    fn get(&self, path: &Path) -> io::Result<Versioned> {
        self.files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn stamp(bytes: &[u8], version: u64) -> Stamp {
    Stamp::local(
        0,
        version,
        bytes.len() as u64,
        version as i64,
        version as i64,
    )
}

struct MemFile {
    bytes: Arc<Vec<u8>>,
    version: u64,
}

impl ReadAt for MemFile {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.bytes.as_slice().read_exact_at(buf, offset)
    }
}

impl SourceFile for MemFile {
    fn stamp(&self) -> io::Result<Stamp> {
        Ok(stamp(&self.bytes, self.version))
    }
}

impl Source for MemorySource {
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let mut seen = BTreeMap::new();
        for path in files.keys() {
            let Ok(rest) = path.strip_prefix(dir) else {
                continue;
            };
            let mut comps = rest.components();
            let Some(first) = comps.next() else { continue };
            let kind = if comps.next().is_some() {
                Kind::Dir
            } else {
                Kind::File
            };
            seen.insert(first.as_os_str().to_os_string(), kind);
        }
        if seen.is_empty() && !dir.as_os_str().is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(seen
            .into_iter()
            .map(|(name, kind)| Entry { name, kind })
            .collect())
    }

    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>> {
        let (bytes, version) = self.get(file)?;
        Ok(Box::new(MemFile { bytes, version }))
    }

    fn stamp(&self, file: &Path) -> io::Result<Stamp> {
        let (bytes, version) = self.get(file)?;
        Ok(stamp(&bytes, version))
    }
}
