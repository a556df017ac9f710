//! Reading the archive. The view only ever sees the source through this trait: a local
//! directory (confined to its root), an object store (S3), a DICOMweb server, an in-memory
//! tree, or a fault-injecting wrapper (tests).

mod dicomweb;
mod fault;
mod local;
mod memory;
mod object;

pub use dicomweb::{DicomWebSource, PAGE as QIDO_PAGE};
pub use fault::{Fault, FaultSource};
pub use local::LocalSource;
pub use memory::MemorySource;
pub use object::ObjectSource;

use crate::io::ReadAt;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// What identifies one version of a source file: any change gives another stamp. Opaque
/// beyond its size: a local file's device, inode and change times; an object's digest of
/// its key and ETag (or version id). Two files never share a stamp (plans are cached by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub size: u64,
    pub version: [u64; 4],
}

impl Stamp {
    /// A local file's stamp (times in nanoseconds since the epoch, saturating).
    pub fn local(dev: u64, ino: u64, size: u64, mtime_ns: i64, ctime_ns: i64) -> Self {
        let version = [dev, ino, mtime_ns as u64, ctime_ns as u64];
        Self { size, version }
    }

    /// A stamp from a digest of whatever names the version (a remote object's key and ETag).
    pub fn digest(size: u64, digest: &[u8; 32]) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&digest[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Self {
            size,
            version: [word(0), word(1), word(2), word(3)],
        }
    }

    /// The fields in a fixed little-endian layout (for digests kept across runs): the one
    /// digests were made with when stamps were local only (device, inode, size, then the two
    /// times as 128-bit numbers), so a local file keeps its digests.
    pub fn to_bytes(&self) -> [u8; 56] {
        let [a, b, c, d] = self.version;
        let mut out = [0u8; 56];
        out[0..8].copy_from_slice(&a.to_le_bytes());
        out[8..16].copy_from_slice(&b.to_le_bytes());
        out[16..24].copy_from_slice(&self.size.to_le_bytes());
        out[24..40].copy_from_slice(&i128::from(c as i64).to_le_bytes());
        out[40..56].copy_from_slice(&i128::from(d as i64).to_le_bytes());
        out
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
    /// Opens a regular file and takes its stamp, as one step: a source that learns the
    /// stamp when it opens (a local `fstat`) answers without asking again.
    fn open_stamped(&self, file: &Path) -> io::Result<(Box<dyn SourceFile>, Stamp)> {
        let f = self.open(file)?;
        let stamp = f.stamp()?;
        Ok((f, stamp))
    }
    /// The stamp of a file without opening it for reading.
    fn stamp(&self, file: &Path) -> io::Result<Stamp>;
    /// Hints that the first `len` bytes of each of `files` will be read soon, without
    /// waiting for them. `false`: this source ignores hints (do not give it more).
    fn prefetch(&self, _files: &[PathBuf], _len: u64) -> bool {
        false
    }
    /// The requests made to a remote store so far (`None`: a local source).
    fn requests(&self) -> Option<String> {
        None
    }
    /// The view is done with the source: remove what it keeps on disk.
    fn close(&self) {}
}

/// The runtime a remote source blocks on, its own (the engine stays synchronous): two
/// threads named `name`, enough for the requests of many planners in flight.
fn runtime(name: &str) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
}
