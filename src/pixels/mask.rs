//! Which bytes of a native frame are overwritten, and with what. Built once per image from
//! the ordered blank and keep rectangles; the same mask serves every frame.
//!
//! A mask never changes a frame's length, and its bytes depend only on the geometry and the
//! rectangles: applying it to any sub-range of a frame gives the bytes the whole frame would
//! have there.

use super::geometry::{Geometry, Photometric, Rect};

/// What a rectangle does, applied in order over an image that starts all kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Blank,
    Keep,
}

/// A run of frame bytes filled with a repeating pattern that starts at `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    start: u64,
    len: u64,
    pattern: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    runs: Vec<Run>,
    patterns: Vec<Vec<u8>>,
    frame_len: u64,
}

/// Why a mask cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error("a PALETTE COLOR image without a black palette entry")]
    NoBlackEntry,
}

impl Mask {
    /// The mask of `ops` on an image of `g`. `palette_black`: the palette index closest to
    /// black (PALETTE COLOR only).
    pub fn new(
        g: &Geometry,
        ops: &[(Rect, Op)],
        palette_black: Option<u32>,
    ) -> Result<Mask, MaskError> {
        let ops: Vec<(Rect, Op)> = ops
            .iter()
            .filter_map(|(r, op)| Some((r.clip(g.cols, g.rows)?, *op)))
            .collect();
        let samples = sample_fills(g, palette_black)?;
        let sb = g.sample_bytes();
        let (cols, rows) = (u64::from(g.cols), u64::from(g.rows));
        let mut m = Mask {
            runs: Vec::new(),
            patterns: Vec::new(),
            frame_len: g.frame_bytes(),
        };
        // What a blanked pixel is written as: per plane (Planar Configuration 1), per pixel
        // pair (4:2:2: Y0 Y1 Cb Cr), or per pixel.
        m.patterns = if g.photometric == Photometric::YbrFull422 {
            vec![[samples[0].as_slice(), &samples[0], &samples[1], &samples[2]].concat()]
        } else if g.planar {
            samples.clone()
        } else {
            vec![samples.concat()]
        };
        // Rows fall into bands where the same rectangles apply.
        let mut cuts: Vec<u32> = ops.iter().flat_map(|(r, _)| [r.y0, r.y1]).collect();
        cuts.extend([0, g.rows]);
        cuts.sort_unstable();
        cuts.dedup();
        for band in cuts.windows(2) {
            let (y0, y1) = (band[0], band[1]);
            let mut spans = row_spans(&ops, y0, g.cols);
            if spans.is_empty() {
                continue;
            }
            if g.photometric == Photometric::YbrFull422 {
                // Pixels come in pairs sharing Cb and Cr: blank whole pairs.
                spans = spans
                    .into_iter()
                    .map(|(a, b)| (a & !1, (b + 1).min(g.cols + 1) & !1))
                    .collect();
            }
            for y in y0..y1 {
                let y = u64::from(y);
                for &(a, b) in &spans {
                    let (a, b) = (u64::from(a), u64::from(b));
                    if g.photometric == Photometric::YbrFull422 {
                        // Two samples per pixel on average.
                        let row = y * cols * 2 * sb;
                        m.push(row + a * 2 * sb, (b - a) * 2 * sb, 0);
                    } else if g.planar {
                        for s in 0..samples.len() {
                            let plane = s as u64 * rows * cols * sb;
                            m.push(plane + (y * cols + a) * sb, (b - a) * sb, s);
                        }
                    } else {
                        let px = u64::from(g.samples) * sb;
                        m.push((y * cols + a) * px, (b - a) * px, 0);
                    }
                }
            }
        }
        m.runs.sort_by_key(|r| r.start);
        m.merge();
        Ok(m)
    }

    /// Bytes of a frame the mask overwrites.
    pub fn filled_bytes(&self) -> u64 {
        self.runs.iter().map(|r| r.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn frame_len(&self) -> u64 {
        self.frame_len
    }

    fn push(&mut self, start: u64, len: u64, pattern: usize) {
        if len > 0 {
            self.runs.push(Run {
                start,
                len,
                pattern,
            });
        }
    }

    /// Joins runs that touch and share a pattern (each run starts on a pattern boundary).
    fn merge(&mut self) {
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len());
        for r in self.runs.drain(..) {
            if let Some(last) = out.last_mut()
                && last.pattern == r.pattern
                && last.start + last.len == r.start
                && last.len % self.patterns[r.pattern].len() as u64 == 0
            {
                last.len += r.len;
                continue;
            }
            out.push(r);
        }
        self.runs = out;
    }

    /// Overwrites `buf`, which holds the frame's bytes from `at` on, where the mask fills.
    pub fn apply(&self, at: u64, buf: &mut [u8]) {
        let end = at + buf.len() as u64;
        let first = self.runs.partition_point(|r| r.start + r.len <= at);
        for r in &self.runs[first..] {
            if r.start >= end {
                break;
            }
            let pattern = &self.patterns[r.pattern];
            let from = r.start.max(at);
            let to = (r.start + r.len).min(end);
            fill(
                &mut buf[(from - at) as usize..(to - at) as usize],
                pattern,
                ((from - r.start) % pattern.len() as u64) as usize,
            );
        }
    }
}

/// Fills `dst` with `pattern` repeated, starting `phase` bytes into it.
fn fill(dst: &mut [u8], pattern: &[u8], phase: usize) {
    if let [b] = pattern {
        dst.fill(*b);
        return;
    }
    let head = (pattern.len() - phase).min(dst.len());
    dst[..head].copy_from_slice(&pattern[phase..phase + head]);
    for chunk in dst[head..].chunks_mut(pattern.len()) {
        chunk.copy_from_slice(&pattern[..chunk.len()]);
    }
}

/// The x-spans of row `y` left blanked by `ops` (applied in order), sorted and disjoint.
fn row_spans(ops: &[(Rect, Op)], y: u32, cols: u32) -> Vec<(u32, u32)> {
    let mut blank: Vec<(u32, u32)> = Vec::new();
    for (r, op) in ops.iter().filter(|(r, _)| r.y0 <= y && y < r.y1) {
        // Remove the span from what is blanked, then add it back if this op blanks.
        let mut next = Vec::with_capacity(blank.len() + 2);
        for &(a, b) in &blank {
            if b <= r.x0 || a >= r.x1 {
                next.push((a, b));
            } else {
                if a < r.x0 {
                    next.push((a, r.x0));
                }
                if b > r.x1 {
                    next.push((r.x1, b));
                }
            }
        }
        if *op == Op::Blank {
            next.push((r.x0, r.x1.min(cols)));
        }
        next.sort_unstable();
        blank = next;
    }
    // Join touching spans.
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (a, b) in blank {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Each sample's fill value, encoded: what shows as black.
fn sample_fills(g: &Geometry, palette_black: Option<u32>) -> Result<Vec<Vec<u8>>, MaskError> {
    let bs = u32::from(g.bits_stored);
    let min_signed = -(1i64 << (bs - 1));
    let max_signed = (1i64 << (bs - 1)) - 1;
    let max_unsigned = (1i64 << bs) - 1;
    let black_grey = if g.signed { min_signed } else { 0 };
    let white_grey = if g.signed { max_signed } else { max_unsigned };
    let mid = 1i64 << (bs - 1);
    let values: Vec<i64> = match g.photometric {
        Photometric::Monochrome2 => vec![black_grey],
        // MONOCHROME1 shows the lowest value as white: black is the highest.
        Photometric::Monochrome1 => vec![white_grey],
        Photometric::Rgb => vec![0, 0, 0],
        Photometric::YbrFull | Photometric::YbrFull422 => vec![0, mid, mid],
        Photometric::Palette => vec![i64::from(palette_black.ok_or(MaskError::NoBlackEntry)?)],
    };
    Ok(values.into_iter().map(|v| encode(v, g)).collect())
}

/// A sample value in the image's width and byte order (two's complement when negative).
fn encode(v: i64, g: &Geometry) -> Vec<u8> {
    let n = g.sample_bytes() as usize;
    let le = (v as u64).to_le_bytes();
    let mut b = le[..n].to_vec();
    if g.big_endian {
        b.reverse();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(photometric: Photometric, samples: u16, bits: u16, planar: bool) -> Geometry {
        Geometry {
            rows: 4,
            cols: 6,
            samples,
            bits_allocated: bits,
            bits_stored: bits,
            signed: false,
            planar,
            frames: 1,
            photometric,
            big_endian: false,
        }
    }

    fn masked(g: &Geometry, ops: &[(Rect, Op)], black: Option<u32>) -> Vec<u8> {
        let m = Mask::new(g, ops, black).unwrap();
        let mut frame = vec![0xAAu8; g.frame_bytes() as usize];
        m.apply(0, &mut frame);
        // Any sub-range gives the same bytes.
        for at in [1usize, 7, 13] {
            let mut part = vec![0xAAu8; frame.len() - at];
            m.apply(at as u64, &mut part);
            assert_eq!(part, frame[at..], "from {at}");
        }
        frame
    }

    fn r(x0: u32, y0: u32, x1: u32, y1: u32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    #[test]
    fn a_blanked_rectangle_has_exclusive_maxima_and_nothing_else_changes() {
        let g = geometry(Photometric::Monochrome2, 1, 8, false);
        let f = masked(&g, &[(r(1, 1, 3, 2), Op::Blank)], None);
        let blanked: Vec<usize> = (0..f.len()).filter(|i| f[*i] == 0).collect();
        assert_eq!(blanked, [7, 8], "row 1, columns 1 and 2");
    }

    #[test]
    fn keep_after_blank_all_leaves_only_the_kept_region() {
        let g = geometry(Photometric::Monochrome2, 1, 16, false);
        let f = masked(
            &g,
            &[(Rect::whole(6, 4), Op::Blank), (r(2, 1, 4, 3), Op::Keep)],
            None,
        );
        let kept: Vec<usize> = (0..24).filter(|p| f[p * 2] == 0xAA).collect();
        assert_eq!(kept, [8, 9, 14, 15]);
    }

    #[test]
    fn rgb_interleaved_and_planar_fill_every_sample_of_the_pixel() {
        let g = geometry(Photometric::Rgb, 3, 8, false);
        let f = masked(&g, &[(r(0, 0, 1, 1), Op::Blank)], None);
        assert_eq!(&f[..4], [0, 0, 0, 0xAA]);
        let g = geometry(Photometric::Rgb, 3, 8, true);
        let f = masked(&g, &[(r(0, 0, 1, 1), Op::Blank)], None);
        let blanked: Vec<usize> = (0..f.len()).filter(|i| f[*i] == 0).collect();
        assert_eq!(blanked, [0, 24, 48], "the first value of each plane");
    }

    #[test]
    fn black_is_the_highest_value_in_monochrome1_and_the_lowest_when_signed() {
        let mut g = geometry(Photometric::Monochrome1, 1, 16, false);
        g.bits_stored = 12;
        let f = masked(&g, &[(r(0, 0, 1, 1), Op::Blank)], None);
        assert_eq!(&f[..2], 4095u16.to_le_bytes());
        let mut g = geometry(Photometric::Monochrome2, 1, 16, false);
        g.signed = true;
        g.big_endian = true;
        let f = masked(&g, &[(r(0, 0, 1, 1), Op::Blank)], None);
        assert_eq!(&f[..2], i16::MIN.to_be_bytes());
    }

    #[test]
    fn ybr_422_blanks_whole_pixel_pairs_with_neutral_chroma() {
        let g = geometry(Photometric::YbrFull422, 3, 8, false);
        // Column 1 alone: its pair (columns 0 and 1) is blanked.
        let f = masked(&g, &[(r(1, 0, 2, 1), Op::Blank)], None);
        assert_eq!(&f[..6], [0, 0, 128, 128, 0xAA, 0xAA]);
    }

    #[test]
    fn palette_images_fill_with_the_black_entry_and_refuse_without_one() {
        let g = geometry(Photometric::Palette, 1, 8, false);
        let f = masked(&g, &[(r(0, 0, 1, 1), Op::Blank)], Some(7));
        assert_eq!(f[0], 7);
        assert_eq!(
            Mask::new(&g, &[(r(0, 0, 1, 1), Op::Blank)], None),
            Err(MaskError::NoBlackEntry)
        );
    }

    #[test]
    fn full_rows_merge_into_one_run() {
        let g = geometry(Photometric::Monochrome2, 1, 8, false);
        let m = Mask::new(&g, &[(r(0, 0, 6, 3), Op::Blank)], None).unwrap();
        assert_eq!(m.runs.len(), 1);
        assert_eq!(m.filled_bytes(), 18);
    }
}
