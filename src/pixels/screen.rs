//! Screened frames: frames of images nobody marked at risk (CT, MR, XA...) searched for
//! burned-in text the first time any byte of them is read, before it is served.
//!
//! The guarantee: a screened frame is served as its source bytes, and only after the
//! screening detector ([`detect::screen_lines`]) found no line of text in it. Where it finds
//! text, a frame that may be cleaned (native pixels under the Clean Pixel Data Option) is
//! served with the lines blanked, once the sensitive pass finds nothing left; any other
//! frame fails every read (nothing of it is served). The decision is made once per frame and
//! kept; the segment's length is the source range's, so sizes stay exact. A frame screening
//! cannot read (a codestream no decoder here reads) is served as it is: its header did not
//! mark it at risk, and screening is the second line, not the first (docs/pixels.md).

use super::decode::Codec;
use super::detect;
use super::frames::{FrameError, decode_ranges};
use super::geometry::{Geometry, Rect};
use super::mask::{Mask, Op};
use crate::io::ReadAt;
use std::io;
use std::sync::{Arc, Mutex};

/// Where a screened frame's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// The served range is the native frame itself.
    Native,
    /// The served range holds the frame's fragments (items and all); the frame is decoded
    /// from the values at `ranges` to be screened.
    Encoded {
        codec: Codec,
        source_photometric: String,
        ranges: Vec<(u64, u64)>,
    },
}

/// What screening decided for one frame.
#[derive(Debug, Clone)]
enum Decision {
    /// Served as it is.
    Clear,
    /// Served with these lines blanked.
    Cleaned(Arc<Mask>),
    /// Never served.
    Refused(String),
}

/// One frame of a plan, screened before it is served.
pub struct ScreenedFrame {
    index: u32,
    offset: u64,
    len: u64,
    geometry: Geometry,
    pixels: Pixels,
    /// Blank what is found (native pixels under the Clean Pixel Data Option) instead of
    /// refusing.
    clean: bool,
    decision: Mutex<Option<Decision>>,
}

impl std::fmt::Debug for ScreenedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenedFrame")
            .field("index", &self.index)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ScreenedFrame {
    fn eq(&self, o: &Self) -> bool {
        (self.index, self.offset, self.len, self.clean) == (o.index, o.offset, o.len, o.clean)
            && (&self.geometry, &self.pixels) == (&o.geometry, &o.pixels)
    }
}
impl Eq for ScreenedFrame {}

impl ScreenedFrame {
    /// Frame `index` served from the source range `offset..offset + len`.
    pub fn new(
        index: u32,
        offset: u64,
        len: u64,
        geometry: Geometry,
        pixels: Pixels,
        clean: bool,
    ) -> ScreenedFrame {
        let clean = clean && pixels == Pixels::Native;
        ScreenedFrame {
            index,
            offset,
            len,
            geometry,
            pixels,
            clean,
            decision: Mutex::new(None),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` from `within` bytes into the frame as served, screening it first.
    pub fn read(&self, src: &dyn ReadAt, within: u64, dst: &mut [u8]) -> io::Result<()> {
        let decision = self.decide(src)?;
        if let Decision::Refused(why) = &decision {
            return Err(io::Error::new(io::ErrorKind::InvalidData, why.clone()));
        }
        src.read_exact_at(dst, self.offset + within)?;
        if let Decision::Cleaned(mask) = &decision {
            mask.apply(within, dst);
        }
        Ok(())
    }

    /// The decision, made on the first call (concurrent first readers wait for it). I/O
    /// errors are not kept: the next read tries again.
    fn decide(&self, src: &dyn ReadAt) -> io::Result<Decision> {
        let mut held = crate::lock(&self.decision);
        if let Some(d) = held.as_ref() {
            return Ok(d.clone());
        }
        let d = self.screen(src)?;
        *held = Some(d.clone());
        Ok(d)
    }

    fn screen(&self, src: &dyn ReadAt) -> io::Result<Decision> {
        let g = &self.geometry;
        let frame = match &self.pixels {
            Pixels::Native => {
                let mut b = vec![0u8; self.len as usize];
                src.read_exact_at(&mut b, self.offset)?;
                b
            }
            Pixels::Encoded {
                codec,
                source_photometric,
                ranges,
            } => match decode_ranges(src, *codec, g, source_photometric, ranges) {
                Ok(b) => b,
                Err(FrameError::Io(e)) => return Err(e),
                // Screening cannot look: the frame is served as it is, as every reader
                // would decode (or fail to decode) it anyway.
                Err(FrameError::Decode(_)) => return Ok(Decision::Clear),
            },
        };
        let (w, h) = (g.cols as usize, g.rows as usize);
        let Some(luma) = detect::luminance(g, &frame) else {
            return Ok(Decision::Clear);
        };
        let lines = detect::screen_lines(&luma, w, h);
        if lines.is_empty() {
            return Ok(Decision::Clear);
        }
        let refused = || {
            Decision::Refused(format!(
                "burned-in text found in frame {} (pixels-text-found): the file is refused",
                self.index
            ))
        };
        if !self.clean {
            return Ok(refused());
        }
        let ops: Vec<(Rect, Op)> = lines.iter().map(|r| (margin(*r), Op::Blank)).collect();
        let Ok(mask) = Mask::new(g, &ops, None) else {
            return Ok(refused());
        };
        let mut cleaned = frame;
        mask.apply(0, &mut cleaned);
        // A frame that had luminance has it once cleaned: anything but "no text" refuses.
        match detect::text_remains(g, &cleaned) {
            Some(false) => Ok(Decision::Cleaned(Arc::new(mask))),
            _ => Ok(refused()),
        }
    }
}

/// A detected line's box grown by half its height on every side: anti-aliased edges,
/// accents and descenders go with it.
pub fn margin(r: Rect) -> Rect {
    let m = ((r.y1 - r.y0) / 2).max(3);
    Rect {
        x0: r.x0.saturating_sub(m),
        y0: r.y0.saturating_sub(m),
        x1: r.x1.saturating_add(m),
        y1: r.y1.saturating_add(m),
    }
}
