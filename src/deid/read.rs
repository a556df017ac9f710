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
            // `len` is bounded by the file length checked above.
            let want = len.max(self.next).min((self.src.len() - offset) as usize);
            self.next = (self.next * 2).min(WINDOW_MAX);
            self.buf.resize(want, 0);
            self.src.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let at = (offset - self.start) as usize;
        Ok(Some(&self.buf[at..at + len]))
    }
}
