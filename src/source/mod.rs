//! Reading the archive. The view only ever sees the source through this trait: a local
//! directory (confined to its root), an in-memory tree, or a fault-injecting wrapper (tests).

mod fault;
mod local;
mod memory;

pub use fault::{Fault, FaultSource};
pub use local::LocalSource;
pub use memory::MemorySource;

use crate::io::ReadAt;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// What identifies one version of a source file: any change gives another stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Nanoseconds since the epoch (years 1678 to 2261; beyond, they saturate).
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl Stamp {
    /// The fields in a fixed little-endian layout (for digests kept across runs).
    pub fn to_bytes(&self) -> [u8; 56] {
        let mut b = [0u8; 56];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16..24].copy_from_slice(&self.size.to_le_bytes());
        // As 128-bit numbers: the layout digests were made with before the fields shrank.
        b[24..40].copy_from_slice(&i128::from(self.mtime_ns).to_le_bytes());
        b[40..56].copy_from_slice(&i128::from(self.ctime_ns).to_le_bytes());
        b
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub kind: Kind,
}

/// An open source file: positional reads plus the stamp it has now.
pub trait SourceFile: ReadAt {
    fn stamp(&self) -> io::Result<Stamp>;
    /// Tells the source that this opening will now be read through (not just its header):
    /// sources opened for planning read only a few KiB and ask for no readahead.
    fn reading_through(&self) {}
}

pub trait Source: Send + Sync + 'static {
    /// Directories and regular files of a directory (relative to the root), sorted by name.
    /// Anything else (devices, FIFOs, sockets, links leading outside the root) is left out.
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>>;
    /// Opens a regular file for reading.
    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>>;
    /// The stamp of a file without opening it for reading.
    fn stamp(&self, file: &Path) -> io::Result<Stamp>;
    /// Hints that the first `len` bytes of each of `files` will be read soon, without
    /// waiting for them. `false`: this source ignores hints (do not give it more).
    fn prefetch(&self, _files: &[PathBuf], _len: u64) -> bool {
        false
    }
}
