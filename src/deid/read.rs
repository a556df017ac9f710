//! How the engine reads a source: its first bytes once (`Head`), then through a forward
//! window (`Window`), so that walking a header costs a handful of `pread` calls. Nothing here
//! allocates a buffer sized by a length read from the file: requests are checked against the
//! real file length first.

use crate::io::ReadAt;
use std::io;

/// First read: enough for a typical header (the Pixel Data element usually starts within a
/// few KiB), so planning a file reads little more than its header. Each further refill doubles
/// up to `WINDOW_MAX`, so large headers (enhanced multi-frame) take few reads.
pub const WINDOW_FIRST: usize = 8 * 1024;
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
    fn resident(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        self.head.get(start..start.checked_add(len)?)
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
    /// The source the window reads (for reads that bypass the window, such as frames).
    pub fn source(&self) -> &'a dyn ReadAt {
        self.src
    }

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

    /// A value the walker found: its `len` bytes at `offset`, which must all be in the source
    /// (if they are not, the file shrank since it was walked).
    pub fn exact(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.value(offset, len).map(<[u8]>::to_vec)
    }

    /// [`Window::exact`], in place (no copy).
    pub fn value(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        match self.get(offset, len)? {
            Some(b) => Ok(b),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source changed while planning",
            )),
        }
    }

    /// `len` bytes at `offset`, or `None` when they are not all in the source.
    pub fn get(&mut self, offset: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = offset.checked_add(len as u64) else {
            return Ok(None);
        };
        if end > self.src.len() {
            return Ok(None);
        }
        // The header `Head` keeps is read in place: most windows never fill a buffer.
        if let Some(b) = self.src.resident(offset, len) {
            return Ok(Some(b));
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
