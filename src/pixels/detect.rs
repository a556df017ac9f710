//! Finding lines of text in a frame: bright strokes against their surroundings, grouped into
//! glyph-sized components, grouped into horizontal lines of at least three glyphs. A
//! deliberately simple detector of rendered annotation text (the fonts devices burn in), not
//! of handwriting or text in photographs.
//!
//! Works on a luminance image (one byte per pixel, 0 black). Deterministic: the same frame
//! always gives the same boxes.
//!
//! Two sensitivities: [`PRECISE`] locates the text to blank (few boxes on anything else:
//! anatomy that lines up is told apart by the gaps and the variety of letters), [`SENSITIVE`]
//! checks the cleaned frame and finds more, text or not (a box makes the file fail closed).
//! Measured by `tests/pixels_detect.rs`; see docs/pixels.md for the numbers.

use super::geometry::{Geometry, Photometric, Rect};

/// How readily pixels count as ink and components as glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sensitivity {
    /// Pixels brighter than their neighbourhood's mean by this much are ink...
    pub contrast: i32,
    /// ...and at least this bright.
    pub floor: u8,
    /// Glyphs at least this many pixels tall.
    pub min_height: u32,
    /// Only lines drawn on a plain background (see [`SCREENING`]).
    pub plain: bool,
}

/// Few boxes on anything but text: what locates text to blank.
pub const PRECISE: Sensitivity = Sensitivity {
    contrast: 60,
    floor: 96,
    min_height: 6,
    plain: false,
};

/// What screens images nobody marked at risk (CT, MR...): the precise pass, keeping only
/// lines on a plain background, as annotations are written (over black or a flat grey).
/// Anatomy that lines up sits on more anatomy, so a screened series is not refused, or
/// blanked, for the shape of a bone.
pub const SCREENING: Sensitivity = Sensitivity {
    plain: true,
    ..PRECISE
};

/// Finds fainter and smaller text, and more that is not text: what checks that none is left
/// (a box it finds makes a file fail closed, so a false one costs a refusal, not a leak).
pub const SENSITIVE: Sensitivity = Sensitivity {
    contrast: 35,
    floor: 64,
    min_height: 5,
    plain: false,
};

/// Half the side of the neighbourhood.
const RADIUS: usize = 8;
/// Strokes at most this fraction of a glyph's height wide (bold fonts reach ~0.2).
const STROKE_PER_HEIGHT: f32 = 0.35;
/// Glyphs of a line at most this many tenths of their height apart (letters ~0.1 of it
/// apart, words ~0.5).
const GAP_TENTHS: u32 = 15;
/// Lines of at most this many glyphs must be tight (see `line_box`).
const SHORT_LINE: usize = 4;
/// The median gap between a line's glyphs, in tenths of their median height, at most.
const MEDIAN_GAP_TENTHS: u32 = 6;
/// Glyphs of a line peak within this much of each other's brightness.
const PEAK_SPREAD: u8 = 60;

/// Whether the [`SENSITIVE`] pass finds a line of text in a frame of `g` as it is served:
/// the check after cleaning. `None` when the frame has no luminance (PALETTE COLOR).
pub fn text_remains(g: &Geometry, served: &[u8]) -> Option<bool> {
    let luma = luminance(g, served)?;
    Some(!text_lines_at(&SENSITIVE, &luma, g.cols as usize, g.rows as usize).is_empty())
}

/// The boxes of the text lines found at [`PRECISE`], padded a little.
pub fn text_lines(luma: &[u8], w: usize, h: usize) -> Vec<Rect> {
    text_lines_at(&PRECISE, luma, w, h)
}

/// The lines [`SCREENING`] finds, coarse to fine: glyph-sized ink is looked for first at half
/// resolution (each 2x2 block by its brightest pixel, so strokes one pixel wide keep their
/// brightness), and only the neighbourhoods of what is found there are searched at full
/// resolution. The same lines as the full search wherever the coarse pass sees their
/// glyphs, for a fraction of the work on frames without text (nearly every CT and MR
/// slice).
pub fn screen_lines(luma: &[u8], w: usize, h: usize) -> Vec<Rect> {
    if w < 64 || h < 64 || luma.len() < w * h {
        return text_lines_at(&SCREENING, luma, w, h);
    }
    let (cw, ch) = (w / 2, h / 2);
    let mut coarse = vec![0u8; cw * ch];
    for y in 0..ch {
        let (a, b) = (&luma[2 * y * w..], &luma[(2 * y + 1) * w..]);
        for (x, c) in coarse[y * cw..(y + 1) * cw].iter_mut().enumerate() {
            *c = a[2 * x].max(a[2 * x + 1]).max(b[2 * x]).max(b[2 * x + 1]);
        }
    }
    let ink = ink_of(&SCREENING, &coarse, cw, ch);
    // Each component no taller than a glyph (of any width: at half resolution the letters
    // of boxed or tightly set text run together), back at full resolution with room around
    // it for its line's neighbours and the ink test's neighbourhood; overlapping boxes
    // merged.
    let m = 48u32;
    let mut boxes: Vec<Rect> = components(&ink, &coarse, cw, ch)
        .into_iter()
        .filter(|c| (2..=24).contains(&(c.r.y1 - c.r.y0)) && c.pixels >= 3)
        .map(|c| Rect {
            x0: (c.r.x0 * 2).saturating_sub(m),
            y0: (c.r.y0 * 2).saturating_sub(m / 2),
            x1: (c.r.x1 * 2 + m).min(w as u32),
            y1: (c.r.y1 * 2 + m / 2).min(h as u32),
        })
        .collect();
    let overlaps = |a: &Rect, b: &Rect| a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
    let mut merged: Vec<Rect> = Vec::new();
    while let Some(mut r) = boxes.pop() {
        loop {
            let before = boxes.len();
            boxes.retain(|b| {
                if overlaps(&r, b) {
                    r = Rect {
                        x0: r.x0.min(b.x0),
                        y0: r.y0.min(b.y0),
                        x1: r.x1.max(b.x1),
                        y1: r.y1.max(b.y1),
                    };
                    false
                } else {
                    true
                }
            });
            if boxes.len() == before {
                break;
            }
        }
        merged.push(r);
    }
    merged.sort_by_key(|r| (r.y0, r.x0));
    let mut found = Vec::new();
    for full in merged {
        let (bw, bh) = ((full.x1 - full.x0) as usize, (full.y1 - full.y0) as usize);
        let mut crop = Vec::with_capacity(bw * bh);
        for y in full.y0 as usize..full.y1 as usize {
            crop.extend_from_slice(&luma[y * w + full.x0 as usize..y * w + full.x1 as usize]);
        }
        found.extend(
            text_lines_at(&SCREENING, &crop, bw, bh)
                .into_iter()
                .map(|l| Rect {
                    x0: l.x0 + full.x0,
                    y0: l.y0 + full.y0,
                    x1: l.x1 + full.x0,
                    y1: l.y1 + full.y0,
                }),
        );
    }
    found
}

/// The boxes of the text lines found at sensitivity `s`, padded a little.
pub fn text_lines_at(s: &Sensitivity, luma: &[u8], w: usize, h: usize) -> Vec<Rect> {
    if w == 0 || h == 0 || luma.len() < w * h {
        return Vec::new();
    }
    let ink = ink_of(s, luma, w, h);
    let glyphs = components(&ink, luma, w, h)
        .into_iter()
        .filter(|c| glyph_like(c, s.min_height))
        .collect::<Vec<_>>();
    lines(&glyphs)
        .into_iter()
        .filter(|r| !s.plain || plain_background(&ink, luma, w, r))
        .map(|r| {
            let pad = ((r.y1 - r.y0) / 4).max(2);
            Rect {
                x0: r.x0.saturating_sub(pad),
                y0: r.y0.saturating_sub(pad),
                x1: (r.x1 + pad).min(w as u32),
                y1: (r.y1 + pad).min(h as u32),
            }
        })
        .collect()
}

/// Whether the pixels of a line's box that are neither ink nor next to it are nearly all one
/// level: at least 85% within 20 of their median.
fn plain_background(ink: &[bool], luma: &[u8], w: usize, r: &Rect) -> bool {
    let h = ink.len() / w;
    let near_ink = |x: usize, y: usize| {
        (y.saturating_sub(1)..(y + 2).min(h))
            .any(|yy| (x.saturating_sub(1)..(x + 2).min(w)).any(|xx| ink[yy * w + xx]))
    };
    let mut levels: Vec<u8> = Vec::new();
    for y in r.y0 as usize..r.y1 as usize {
        for x in r.x0 as usize..r.x1 as usize {
            if !near_ink(x, y) {
                levels.push(luma[y * w + x]);
            }
        }
    }
    if levels.is_empty() {
        return false;
    }
    let mut sorted = levels.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let close = levels.iter().filter(|v| v.abs_diff(median) <= 20).count();
    close * 100 >= levels.len() * 85
}

/// Which pixels are ink at sensitivity `s`: brighter than `s.floor`, and than the mean of
/// their 17x17 neighbourhood by `s.contrast`.
fn ink_of(s: &Sensitivity, luma: &[u8], w: usize, h: usize) -> Vec<bool> {
    // Integral image for neighbourhood means.
    let mut sum = vec![0u64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += u64::from(luma[y * w + x]);
            sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + row;
        }
    }
    // Ink: v - mean >= contrast, the mean rounded down: sum < (v - contrast + 1) * area,
    // without a division per pixel.
    let mut ink = vec![false; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(RADIUS), (y + RADIUS + 1).min(h));
        let (top, bottom) = (&sum[y0 * (w + 1)..], &sum[y1 * (w + 1)..]);
        for x in 0..w {
            let v = luma[y * w + x];
            if v < s.floor {
                continue;
            }
            let (x0, x1) = (x.saturating_sub(RADIUS), (x + RADIUS + 1).min(w));
            let total = bottom[x1] + top[x0] - top[x1] - bottom[x0];
            let area = ((x1 - x0) * (y1 - y0)) as i64;
            ink[y * w + x] = (total as i64) < (i64::from(v) - i64::from(s.contrast) + 1) * area;
        }
    }
    ink
}

#[derive(Debug, Clone, Copy)]
struct Component {
    r: Rect,
    pixels: u32,
    /// Ink pixels with a 4-neighbour that is not ink: for strokes, most of them.
    boundary: u32,
    /// The brightest ink pixel (rendered text has one level per line).
    peak: u8,
}

fn glyph_like(c: &Component, min_height: u32) -> bool {
    let (w, h) = (c.r.x1 - c.r.x0, c.r.y1 - c.r.y0);
    let fill = c.pixels as f32 / (w * h) as f32;
    // Twice the area over the boundary approximates the stroke width: glyphs are drawn
    // with strokes far thinner than they are tall; blobs (ventricles, bone) are not.
    let stroke = 2.0 * c.pixels as f32 / c.boundary.max(1) as f32;
    (min_height..=48).contains(&h)
        && (1..=48).contains(&w)
        && w <= h * 5 / 2
        // A solid box is no glyph, but a thin one is (l, i, 1, I).
        && fill >= 0.08
        && (fill <= 0.95 || w <= 3)
        && c.pixels >= 6
        && stroke <= (h as f32 * STROKE_PER_HEIGHT).max(3.0)
}

/// 8-connected components of `ink`, by union-find over row runs.
fn components(ink: &[bool], luma: &[u8], w: usize, h: usize) -> Vec<Component> {
    let mut parent: Vec<u32> = Vec::new();
    let mut label = vec![u32::MAX; w * h];
    fn find(p: &mut [u32], mut a: u32) -> u32 {
        while p[a as usize] != a {
            p[a as usize] = p[p[a as usize] as usize];
            a = p[a as usize];
        }
        a
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !ink[i] {
                continue;
            }
            let mut mine = u32::MAX;
            let neighbours = [
                (x > 0).then(|| i - 1),
                (y > 0 && x > 0).then(|| i - w - 1),
                (y > 0).then(|| i - w),
                (y > 0 && x + 1 < w).then(|| i - w + 1),
            ];
            for n in neighbours.into_iter().flatten() {
                let l = label[n];
                if l == u32::MAX {
                    continue;
                }
                if mine == u32::MAX {
                    mine = find(&mut parent, l);
                } else {
                    let (a, b) = (find(&mut parent, mine), find(&mut parent, l));
                    if a != b {
                        parent[a.max(b) as usize] = a.min(b);
                        mine = a.min(b);
                    }
                }
            }
            if mine == u32::MAX {
                mine = parent.len() as u32;
                parent.push(mine);
            }
            label[i] = mine;
        }
    }
    // Components by root label, in the order their first pixel is met (deterministic).
    let mut slot = vec![u32::MAX; parent.len()];
    let mut out: Vec<Component> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let l = label[y * w + x];
            if l == u32::MAX {
                continue;
            }
            let root = find(&mut parent, l) as usize;
            let (x, y) = (x as u32, y as u32);
            if slot[root] == u32::MAX {
                slot[root] = out.len() as u32;
                out.push(Component {
                    r: Rect {
                        x0: x,
                        y0: y,
                        x1: x + 1,
                        y1: y + 1,
                    },
                    pixels: 0,
                    boundary: 0,
                    peak: 0,
                });
            }
            let c = &mut out[slot[root] as usize];
            let (xi, yi) = (x as usize, y as usize);
            let edge = xi == 0
                || yi == 0
                || xi + 1 == w
                || yi + 1 == h
                || !ink[yi * w + xi - 1]
                || !ink[yi * w + xi + 1]
                || !ink[(yi - 1) * w + xi]
                || !ink[(yi + 1) * w + xi];
            c.boundary += u32::from(edge);
            c.peak = c.peak.max(luma[yi * w + xi]);
            c.r.x0 = c.r.x0.min(x);
            c.r.y0 = c.r.y0.min(y);
            c.r.x1 = c.r.x1.max(x + 1);
            c.r.y1 = c.r.y1.max(y + 1);
            c.pixels += 1;
        }
    }
    out
}

/// Glyphs of similar height, overlapping vertically and close horizontally, chained into
/// lines; lines of at least three glyphs, wider than tall.
fn lines(glyphs: &[Component]) -> Vec<Rect> {
    let n = glyphs.len();
    let mut group: Vec<usize> = (0..n).collect();
    fn root(g: &mut [usize], mut a: usize) -> usize {
        while g[a] != a {
            g[a] = g[g[a]];
            a = g[a];
        }
        a
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|i| (glyphs[*i].r.x0, glyphs[*i].r.y0));
    for (k, &i) in order.iter().enumerate() {
        let a = glyphs[i].r;
        let ha = a.y1 - a.y0;
        for &j in &order[k + 1..] {
            let b = glyphs[j].r;
            let hb = b.y1 - b.y0;
            let gap = b.x0.saturating_sub(a.x1);
            if gap * 10 > ha.max(hb) * GAP_TENTHS {
                if b.x0 > a.x1 + 48 * 2 {
                    break;
                }
                continue;
            }
            let overlap = a.y1.min(b.y1).saturating_sub(a.y0.max(b.y0));
            let same_level = glyphs[i].peak.abs_diff(glyphs[j].peak) <= PEAK_SPREAD;
            if ha.max(hb) <= ha.min(hb) * 2 && overlap * 2 >= ha.min(hb) && same_level {
                let (ra, rb) = (root(&mut group, i), root(&mut group, j));
                group[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut members: std::collections::BTreeMap<usize, Vec<Component>> =
        std::collections::BTreeMap::new();
    for (i, glyph) in glyphs.iter().enumerate() {
        let g = root(&mut group, i);
        members.entry(g).or_default().push(*glyph);
    }
    members.into_values().filter_map(line_box).collect()
}

/// The box of a group of glyphs if it reads as a line of text: three glyphs or more, wider
/// than tall, and a short line (up to `SHORT_LINE` glyphs) mostly close together (the median
/// gap between neighbours at most `MEDIAN_GAP_TENTHS` of the median height: the letters of a
/// word touch or nearly, where anatomy that happens to line up, such as the same structure
/// in neighbouring tiles of a mosaic, is spaced). Longer lines are not held to it: their
/// punctuation (`=`, `.`, `:`) is too small to count as glyphs and leaves gaps.
fn line_box(components: Vec<Component>) -> Option<Rect> {
    if components.len() < 3 {
        return None;
    }
    // Letters differ; a row of one shape (the same bone outline, the same ring in every
    // tile) is structure, not writing.
    let shape = |c: &Component| {
        let (w, h) = (c.r.x1 - c.r.x0, c.r.y1 - c.r.y0);
        (w * 4 / h.max(1), c.pixels * 8 / (w * h).max(1))
    };
    let first = shape(&components[0]);
    if components.iter().all(|c| shape(c) == first) {
        return None;
    }
    let mut glyphs: Vec<Rect> = components.iter().map(|c| c.r).collect();
    glyphs.sort_by_key(|r| r.x0);
    let mut heights: Vec<u32> = glyphs.iter().map(|r| r.y1 - r.y0).collect();
    heights.sort_unstable();
    let mut gaps: Vec<u32> = glyphs
        .windows(2)
        .map(|p| p[1].x0.saturating_sub(p[0].x1))
        .collect();
    gaps.sort_unstable();
    let (median_h, median_gap) = (heights[heights.len() / 2], gaps[gaps.len() / 2]);
    let r = glyphs.iter().fold(glyphs[0], |a, b| Rect {
        x0: a.x0.min(b.x0),
        y0: a.y0.min(b.y0),
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
    });
    let tallest = heights[heights.len() - 1];
    let tight = glyphs.len() > SHORT_LINE || median_gap * 10 <= median_h * MEDIAN_GAP_TENTHS;
    ((r.x1 - r.x0) * 2 >= tallest * 3 && tight).then_some(r)
}

/// A native frame as luminance, one byte per pixel (0 black): monochrome scaled from its own
/// lowest to highest value (MONOCHROME1 inverted), RGB by its brightest sample, YBR by Y.
/// `None` for PALETTE COLOR (the index says nothing of brightness without the palette).
pub fn luminance(g: &Geometry, frame: &[u8]) -> Option<Vec<u8>> {
    let (w, h) = (g.cols as usize, g.rows as usize);
    let n = w * h;
    let sb = g.sample_bytes() as usize;
    if frame.len() < g.frame_bytes() as usize {
        return None;
    }
    let mono = matches!(
        g.photometric,
        Photometric::Monochrome1 | Photometric::Monochrome2
    );
    if mono && sb == 2 {
        return Some(monochrome16(g, &frame[..n * 2]));
    }
    // Every sample value, read once (byte order and sign by the geometry).
    let values: Vec<i64> = {
        // Only the Bits Stored low bits are the value (the rest may be anything), signed
        // from the highest of them.
        let bits = u32::from(g.bits_stored).clamp(1, 8 * sb as u32);
        let sign = |v: u64| -> i64 {
            let v = v & ((1u64 << bits) - 1);
            if g.signed {
                ((v << (64 - bits)) as i64) >> (64 - bits)
            } else {
                v as i64
            }
        };
        let frame = &frame[..g.frame_bytes() as usize];
        match (sb, g.big_endian) {
            (1, _) => frame.iter().map(|b| sign(u64::from(*b))).collect(),
            (2, false) => frame
                .chunks_exact(2)
                .map(|b| sign(u64::from(u16::from_le_bytes([b[0], b[1]]))))
                .collect(),
            (2, true) => frame
                .chunks_exact(2)
                .map(|b| sign(u64::from(u16::from_be_bytes([b[0], b[1]]))))
                .collect(),
            _ => frame
                .chunks_exact(sb)
                .map(|b| {
                    let mut v: u64 = 0;
                    for k in 0..sb {
                        let byte = if g.big_endian { b[k] } else { b[sb - 1 - k] };
                        v = (v << 8) | u64::from(byte);
                    }
                    sign(v)
                })
                .collect(),
        }
    };
    let sample = |i: usize| -> i64 { values[i] };
    let scale = |vals: Vec<i64>, invert: bool| -> Vec<u8> {
        let (lo, hi) = vals
            .iter()
            .fold((i64::MAX, i64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let span = (hi - lo).max(1);
        let level = |v: i64| -> u8 {
            let u = ((v - lo) * 255 / span) as u8;
            if invert { 255 - u } else { u }
        };
        if span < 1 << 16 {
            // A table of every level in the range: one division per value, not per pixel.
            let table: Vec<u8> = (lo..=hi).map(level).collect();
            vals.into_iter().map(|v| table[(v - lo) as usize]).collect()
        } else {
            vals.into_iter().map(level).collect()
        }
    };
    match g.photometric {
        Photometric::Monochrome1 | Photometric::Monochrome2 => Some(scale(
            (0..n).map(sample).collect(),
            g.photometric == Photometric::Monochrome1,
        )),
        Photometric::Rgb | Photometric::YbrFull => {
            let at = |p: usize, s: usize| if g.planar { s * n + p } else { p * 3 + s };
            let vals: Vec<i64> = (0..n)
                .map(|p| {
                    if g.photometric == Photometric::Rgb {
                        (0..3).map(|s| sample(at(p, s))).max().unwrap_or(0)
                    } else {
                        sample(at(p, 0))
                    }
                })
                .collect();
            Some(scale(vals, false))
        }
        Photometric::YbrFull422 => Some(scale(
            (0..n).map(|p| sample((p / 2) * 4 + p % 2)).collect(),
            false,
        )),
        Photometric::Palette => None,
    }
}

/// 16-bit monochrome (most CT and MR) as luminance, the same levels as the general path
/// without a copy of the samples: the lowest and highest value, then a table of every level
/// between.
fn monochrome16(g: &Geometry, frame: &[u8]) -> Vec<u8> {
    let bits = u32::from(g.bits_stored).clamp(1, 16);
    let value = |b: &[u8]| -> i32 {
        let u = if g.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        };
        // The Bits Stored low bits, signed from the highest of them.
        let v = i32::from(u) & ((1 << bits) - 1);
        if g.signed {
            (v << (32 - bits)) >> (32 - bits)
        } else {
            v
        }
    };
    let (lo, hi) = frame
        .chunks_exact(2)
        .fold((i32::MAX, i32::MIN), |(l, h), b| {
            let v = value(b);
            (l.min(v), h.max(v))
        });
    let span = i64::from((hi - lo).max(1));
    let invert = g.photometric == Photometric::Monochrome1;
    let table: Vec<u8> = (lo..=hi)
        .map(|v| {
            let u = (i64::from(v - lo) * 255 / span) as u8;
            if invert { 255 - u } else { u }
        })
        .collect();
    frame
        .chunks_exact(2)
        .map(|b| table[(value(b) - lo) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(photometric: Photometric, samples: u16, bits: u16, planar: bool) -> Geometry {
        Geometry {
            rows: 1,
            cols: 2,
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

    #[test]
    fn luminance_is_the_brightest_sample_scaled_and_monochrome1_inverted() {
        // RGB, planar: R plane [10, 200], G [0, 0], B [50, 0].
        let l = luminance(&g(Photometric::Rgb, 3, 8, true), &[10, 200, 0, 0, 50, 0]).unwrap();
        assert_eq!(l, [0, 255]);
        let l = luminance(&g(Photometric::Monochrome1, 1, 16, false), &[0, 0, 0, 16]).unwrap();
        assert_eq!(l, [255, 0], "the lowest value shows white");
        assert!(luminance(&g(Photometric::Palette, 1, 8, false), &[0, 1]).is_none());
    }

    #[test]
    fn only_the_stored_bits_count_and_sign_comes_from_the_highest_of_them() {
        // 12 bits stored, signed: -1000 written sign-extended (0xFC18) and written with
        // garbage above bit 11 (0x3C18) are the same value; 0 is brighter.
        let mut geo = g(Photometric::Monochrome2, 1, 16, false);
        geo.cols = 3;
        geo.bits_stored = 12;
        geo.signed = true;
        let frame = [0x18, 0xFC, 0x18, 0x3C, 0x00, 0x00];
        assert_eq!(luminance(&geo, &frame).unwrap(), [0, 0, 255]);
    }

    #[test]
    fn a_blank_frame_has_no_text() {
        assert!(text_lines(&vec![0u8; 64 * 64], 64, 64).is_empty());
    }
}
