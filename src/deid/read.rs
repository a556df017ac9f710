//! Positional reads over a source file, with a small forward window so that walking a header
//! costs a handful of `pread` calls. Nothing here allocates a buffer sized by a length read
//! from the file: requests are checked against the real file length first.

use std::io;

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
    fn copy_to(&self, offset: u64, len: u64, out: &mut std::fs::File) -> io::Result<()> {
        copy_buffered(self, offset, len, out)
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
pub fn copy_file_range_to(
    src: &std::fs::File,
    file_at: &dyn ReadAt,
    offset: u64,
    len: u64,
    out: &mut std::fs::File,
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
    file: std::fs::File,
    len: u64,
}

impl FileAt {
    pub fn new(file: std::fs::File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
    pub fn open(path: &std::path::Path) -> io::Result<Self> {
        Self::new(std::fs::File::open(path)?)
    }
}

impl ReadAt for FileAt {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
    fn copy_to(&self, offset: u64, len: u64, out: &mut std::fs::File) -> io::Result<()> {
        copy_file_range_to(&self.file, self, offset, len, out)
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the source",
    )
}

/// First read: enough for a typical header (the Pixel Data element usually starts within a
/// few KiB), so planning a file reads little more than its header. Each further refill doubles
/// up to `WINDOW_MAX`, so large headers (enhanced multi-frame) take few reads.
const WINDOW_FIRST: usize = 8 * 1024;
const WINDOW_MAX: usize = 1024 * 1024;

/// A source with its first `WINDOW_FIRST` bytes read once and kept: the walker, the meta
/// facts and the rewriter each read through their own `Window`, and for a typical header all
/// three find it here (one `pread` per planned file instead of one per window).
pub struct Head<'a> {
    src: &'a dyn ReadAt,
    head: Vec<u8>,
}

impl<'a> Head<'a> {
    pub fn read(src: &'a dyn ReadAt) -> io::Result<Self> {
        let mut head = vec![0u8; src.len().min(WINDOW_FIRST as u64) as usize];
        src.read_exact_at(&mut head, 0)?;
        Ok(Self { src, head })
    }
}

impl ReadAt for Head<'_> {
    fn len(&self) -> u64 {
        self.src.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let inside = usize::try_from(offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(buf.len())?))
            .and_then(|r| self.head.get(r));
        match inside {
            Some(b) => {
                buf.copy_from_slice(b);
                Ok(())
            }
            None => self.src.read_exact_at(buf, offset),
        }
    }
    fn copy_to(&self, offset: u64, len: u64, out: &mut std::fs::File) -> io::Result<()> {
        self.src.copy_to(offset, len, out)
    }
}

/// Buffered positional reader. `get` returns a slice valid until the next call.
pub struct Window<'a> {
    src: &'a dyn ReadAt,
    buf: Vec<u8>,
    start: u64,
    next: usize,
}

impl<'a> Window<'a> {
    pub fn new(src: &'a dyn ReadAt) -> Self {
        Self {
            src,
            buf: Vec::new(),
            start: 0,
            next: WINDOW_FIRST,
        }
    }

    pub fn len(&self) -> u64 {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// `len` bytes at `offset`, or `None` when they are not all in the source.
    pub fn get(&mut self, offset: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = offset.checked_add(len as u64) else {
            return Ok(None);
        };
        if end > self.src.len() {
            return Ok(None);
        }
        let have_end = self.start + self.buf.len() as u64;
        if offset < self.start || end > have_end {
            // Within the first WINDOW_FIRST bytes, read from the start of the file: every
            // window then reads the same bytes (which `Head` keeps), and going back a little
            // (the rewriter does) needs no refill.
            let start = if end <= WINDOW_FIRST as u64 {
                0
            } else {
                offset
            };
            // Bounded by the file length checked above.
            let want = ((end - start) as usize)
                .max(self.next)
                .min((self.src.len() - start) as usize);
            self.next = (self.next * 2).min(WINDOW_MAX);
            self.buf.resize(want, 0);
            self.src.read_exact_at(&mut self.buf, start)?;
            self.start = start;
        }
        let at = (offset - self.start) as usize;
        Ok(Some(&self.buf[at..at + len]))
    }
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
