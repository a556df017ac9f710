//! Bytes in and out: positional reads of a source (`ReadAt`, with one file type for every
//! source file, `FileAt`), copies that keep pixel data in the kernel, and the two ways files
//! are written: atomically under their final name, and private (mode 0600) for secrets and
//! logs.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Something that can be read at an offset: a file (`pread`), or bytes in memory.
pub trait ReadAt: Send + Sync {
    /// Exact length of the readable bytes.
    fn len(&self) -> u64;
    /// Fills `buf` from `offset`; short reads are errors.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `len` bytes from `offset` to `out` (at its position). Files override this with
    /// an in-kernel copy; the default reads through a buffer.
    fn copy_to(&self, offset: u64, len: u64, out: &mut File) -> io::Result<()> {
        copy_buffered(self, offset, len, out)
    }

    /// The `len` bytes at `offset` where they are already in memory (a source that keeps
    /// some bytes, such as a file's header read once), to be read without a copy.
    fn resident(&self, _offset: u64, _len: usize) -> Option<&[u8]> {
        None
    }
}

/// `ReadAt::copy_to` through a user-space buffer (at most 1 MiB).
pub fn copy_buffered<R: ReadAt + ?Sized>(
    src: &R,
    offset: u64,
    len: u64,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0u64;
    while done < len {
        let n = ((len - done) as usize).min(buf.len());
        src.read_exact_at(&mut buf[..n], offset + done)?;
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// `ReadAt::copy_to` for a source file: `copy_file_range(2)`, so the bytes go from page cache
/// to page cache (or are shared, on file systems that can) without passing through this
/// process. Falls back to a buffered copy from `file_at` (the same file) where the kernel
/// cannot (across file systems on old kernels, special files).
fn copy_file_range_to(
    src: &File,
    file_at: &dyn ReadAt,
    offset: u64,
    len: u64,
    out: &mut File,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut off = i64::try_from(offset).map_err(|_| eof())?;
    let mut left = len;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        // SAFETY: both descriptors are open for the duration of the call; `off` is a valid
        // pointer to the source offset, and the destination offset is its file position.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off,
                out.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            let unsupported = matches!(
                e.raw_os_error(),
                Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
            );
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if unsupported {
                let at = u64::try_from(off).map_err(|_| eof())?;
                return copy_buffered(file_at, at, left, out);
            }
            return Err(e);
        }
        if n == 0 {
            return Err(eof()); // the source is shorter than planned: it changed
        }
        left -= n as u64;
    }
    Ok(())
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

/// A file plus the length it had when it was opened (`stat` once, not per read).
pub struct FileAt {
    file: File,
    len: u64,
}

impl FileAt {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self::with_len(file, len))
    }
    /// A file whose length the caller has just read (from the `fstat` it made anyway).
    pub fn with_len(file: File, len: u64) -> Self {
        Self { file, len }
    }
    /// The open file, e.g. for caching hints and its stamp.
    pub fn file(&self) -> &File {
        &self.file
    }
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::new(File::open(path)?)
    }
}

impl ReadAt for FileAt {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
    fn copy_to(&self, offset: u64, len: u64, out: &mut File) -> io::Result<()> {
        copy_file_range_to(&self.file, self, offset, len, out)
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the source",
    )
}

/// Files at least this big start their writeback as soon as written (`write_atomically`).
const EARLY_WRITEBACK: u64 = 128 << 10;

/// Writes through a temporary file in the same directory, renamed into place only when
/// complete: an interrupted run never leaves a partial file under the final name. `durable`
/// also flushes the file to disk before the rename (batch writers sync once at the end).
pub fn write_atomically(
    path: &Path,
    durable: bool,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.deidfs-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        fill(&mut f)?;
        if durable {
            f.sync_all()?;
        } else if f.metadata().is_ok_and(|m| m.len() >= EARLY_WRITEBACK) {
            // Start writing a big file to disk now, without waiting: the batch's final sync
            // then has little left to do, and the disk works while the next files are made.
            // Small files are left to that sync, which writes them together (one writeback
            // per small file cost more than the copy).
            use std::os::fd::AsRawFd;
            // SAFETY: sync_file_range on a descriptor we own; it only starts writeback.
            unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How a private file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Private {
    /// A new file; an existing one is an error (keys are never overwritten).
    New,
    /// Appended to, created if missing (logs).
    Append,
}

/// Opens a file that only its owner may read (mode 0600 when created): keys, logs, the
/// audit log, crosswalk tables.
pub fn create_private(path: &Path, how: Private) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.mode(0o600);
    match how {
        Private::New => o.write(true).create_new(true),
        Private::Append => o.append(true).create(true),
    };
    o.open(path)
}

/// The process's limits on open files (soft, hard); (1024, 1024) if they cannot be read.
pub fn open_file_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid resource and a pointer to a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (1024, 1024);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Raises the soft limit on open files to the hard limit (the mount: every file read through
/// the view needs a source descriptor, and the usual soft limit of 1,024 is reached by an
/// ordinary batch job). Returns the limits now in force.
pub fn raise_open_file_limit() -> (u64, u64) {
    let (soft, hard) = open_file_limit();
    if soft < hard {
        let raised = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit with a valid resource and a pointer to a local struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return (hard, hard);
        }
    }
    (soft, hard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    fn source(bytes: &[u8]) -> FileAt {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        FileAt::new(f).unwrap()
    }

    #[test]
    fn kernel_copy_appends_the_range_and_refuses_a_short_source() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let src = source(&bytes);
        let mut out = tempfile::tempfile().unwrap();
        out.write_all(b"head").unwrap();
        src.copy_to(1000, 200_000, &mut out).unwrap();
        out.write_all(b"tail").unwrap();
        let mut got = Vec::new();
        out.rewind().unwrap();
        out.read_to_end(&mut got).unwrap();
        assert_eq!(&got[..4], b"head");
        assert!(got[4..200_004] == bytes[1000..201_000]);
        assert_eq!(&got[200_004..], b"tail");
        // The source is shorter than the plan says (it changed): an error, not a short file.
        let e = src.copy_to(299_000, 2_000, &mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // The buffered copy (sources without a kernel copy) gives the same bytes.
        let mut v = Vec::new();
        copy_buffered(bytes.as_slice(), 1000, 200_000, &mut v).unwrap();
        assert!(v == bytes[1000..201_000]);
    }
}
