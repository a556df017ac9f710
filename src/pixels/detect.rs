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
}

/// Few boxes on anything but text: what locates text to blank.
pub const PRECISE: Sensitivity = Sensitivity {
    contrast: 60,
    floor: 96,
    min_height: 6,
};

/// Finds fainter and smaller text, and more that is not text: what checks that none is left
/// (a box it finds makes a file fail closed, so a false one costs a refusal, not a leak).
pub const SENSITIVE: Sensitivity = Sensitivity {
    contrast: 35,
    floor: 64,
    min_height: 5,
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

/// The boxes of the text lines found at [`PRECISE`], padded a little.
pub fn text_lines(luma: &[u8], w: usize, h: usize) -> Vec<Rect> {
    text_lines_at(&PRECISE, luma, w, h)
}

/// The boxes of the text lines found at sensitivity `s`, padded a little.
pub fn text_lines_at(s: &Sensitivity, luma: &[u8], w: usize, h: usize) -> Vec<Rect> {
    if w == 0 || h == 0 || luma.len() < w * h {
        return Vec::new();
    }
    // Integral image for neighbourhood means.
    let mut sum = vec![0u64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += u64::from(luma[y * w + x]);
            sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + row;
        }
    }
    let mean = |x: usize, y: usize| -> i32 {
        let (x0, y0) = (x.saturating_sub(RADIUS), y.saturating_sub(RADIUS));
        let (x1, y1) = ((x + RADIUS + 1).min(w), (y + RADIUS + 1).min(h));
        let s = sum[y1 * (w + 1) + x1] + sum[y0 * (w + 1) + x0]
            - sum[y0 * (w + 1) + x1]
            - sum[y1 * (w + 1) + x0];
        (s / ((x1 - x0) * (y1 - y0)) as u64) as i32
    };
    let ink: Vec<bool> = (0..w * h)
        .map(|i| {
            let v = luma[i];
            v >= s.floor && i32::from(v) - mean(i % w, i / w) >= s.contrast
        })
        .collect();
    let glyphs = components(&ink, luma, w, h)
        .into_iter()
        .filter(|c| glyph_like(c, s.min_height))
        .collect::<Vec<_>>();
    lines(&glyphs)
        .into_iter()
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
    let mut out: std::collections::BTreeMap<u32, Component> = std::collections::BTreeMap::new();
    for y in 0..h {
        for x in 0..w {
            let l = label[y * w + x];
            if l == u32::MAX {
                continue;
            }
            let root = find(&mut parent, l);
            let (x, y) = (x as u32, y as u32);
            let c = out.entry(root).or_insert(Component {
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
    out.into_values().collect()
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
    let sample = |i: usize| -> i64 {
        let b = &frame[i * sb..i * sb + sb];
        let mut v: u64 = 0;
        for k in 0..sb {
            let byte = if g.big_endian { b[k] } else { b[sb - 1 - k] };
            v = (v << 8) | u64::from(byte);
        }
        if g.signed {
            let bits = 8 * sb as u32;
            ((v << (64 - bits)) as i64) >> (64 - bits)
        } else {
            v as i64
        }
    };
    let scale = |vals: Vec<i64>, invert: bool| -> Vec<u8> {
        let (lo, hi) = vals
            .iter()
            .fold((i64::MAX, i64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let span = (hi - lo).max(1);
        vals.into_iter()
            .map(|v| {
                let u = ((v - lo) * 255 / span) as u8;
                if invert { 255 - u } else { u }
            })
            .collect()
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
    fn a_blank_frame_has_no_text() {
        assert!(text_lines(&vec![0u8; 64 * 64], 64, 64).is_empty());
    }
}
