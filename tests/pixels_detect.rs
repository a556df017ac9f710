//! The text detector measured on a labelled set of its own: lines of rendered text (four
//! fonts, sizes 10 to 28 px, five colours, anywhere) on dark, speckled and noisy backgrounds,
//! and text-free images of the same backgrounds. Prints recall and precision; fails below the
//! floors measured when it was written (deterministic: same images every run).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use deidfs::pixels::Rect;
use deidfs::pixels::detect::text_lines;

const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
];
const WORDS: [&str; 8] = [
    "SMITH^JOHN",
    "ID 4821397",
    "12.03.1961",
    "ST MARY HOSP",
    "Dr. K. Weber",
    "ACC 99120",
    "2023-05-17 10:42",
    "Mayo Clinic",
];
const W: usize = 320;
const H: usize = 240;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

fn background(kind: u32, rng: &mut Rng) -> Vec<u8> {
    (0..W * H)
        .map(|i| {
            let (x, y) = (i % W, i / W);
            match kind {
                0 => (x * 40 / W) as u8,
                // Ultrasound-like speckle in a fan.
                1 => {
                    let (dx, dy) = (x as i32 - 160, y as i32);
                    if dx * dx + dy * dy < 220 * 220 && dx.abs() < dy {
                        (40 + rng.below(120)) as u8
                    } else {
                        0
                    }
                }
                // CT-like: a bright disc of noise.
                _ => {
                    let (dx, dy) = (x as i32 - 160, y as i32 - 120);
                    if dx * dx + dy * dy < 100 * 100 {
                        (90 + rng.below(60)) as u8
                    } else {
                        10
                    }
                }
            }
        })
        .collect()
}

/// Draws `text` and returns its box.
fn draw(
    img: &mut [u8],
    text: &str,
    font: &FontRef,
    px: f32,
    x0: f32,
    y0: f32,
    level: u8,
) -> Option<Rect> {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut x = x0;
    let mut bbox: Option<Rect> = None;
    for c in text.chars() {
        let mut g = scaled.scaled_glyph(c);
        let advance = scaled.h_advance(g.id);
        g.position = point(x, y0 + scaled.ascent());
        if let Some(o) = font.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, v| {
                let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                if (0..W as i32).contains(&px) && (0..H as i32).contains(&py) && v > 0.3 {
                    let p = &mut img[py as usize * W + px as usize];
                    *p = (*p).max((v * level as f32) as u8);
                    let r = bbox.get_or_insert(Rect {
                        x0: px as u32,
                        y0: py as u32,
                        x1: px as u32 + 1,
                        y1: py as u32 + 1,
                    });
                    r.x0 = r.x0.min(px as u32);
                    r.y0 = r.y0.min(py as u32);
                    r.x1 = r.x1.max(px as u32 + 1);
                    r.y1 = r.y1.max(py as u32 + 1);
                }
            });
        }
        x += advance;
    }
    bbox
}

fn area(r: &Rect) -> u64 {
    u64::from(r.x1.saturating_sub(r.x0)) * u64::from(r.y1.saturating_sub(r.y0))
}

fn intersection(a: &Rect, b: &Rect) -> u64 {
    let r = Rect {
        x0: a.x0.max(b.x0),
        y0: a.y0.max(b.y0),
        x1: a.x1.min(b.x1),
        y1: a.y1.min(b.y1),
    };
    if r.x0 < r.x1 && r.y0 < r.y1 {
        area(&r)
    } else {
        0
    }
}

#[test]
fn the_detector_finds_rendered_text_lines_and_little_else() {
    let fonts: Vec<Vec<u8>> = FONTS
        .iter()
        .map(|p| {
            std::fs::read(p)
                .unwrap_or_else(|e| panic!("{p}: {e}: apt-get install fonts-dejavu-core"))
        })
        .collect();
    let fonts: Vec<FontRef> = fonts
        .iter()
        .map(|d| FontRef::try_from_slice(d).unwrap())
        .collect();
    let mut rng = Rng(2026);
    let (mut planted, mut found, mut boxes, mut true_boxes, mut negative_boxes) = (0, 0, 0, 0, 0);
    let (mut bright_planted, mut bright_found) = (0usize, 0usize);
    for n in 0..90 {
        let mut img = background(n % 3, &mut rng);
        let mut lines = Vec::new();
        for _ in 0..2 {
            let font = &fonts[rng.below(4) as usize];
            let px = 10.0 + rng.below(19) as f32;
            let level = [255u8, 230, 200, 170, 140][rng.below(5) as usize];
            let text = WORDS[rng.below(8) as usize];
            let (x, y) = (rng.below(140) as f32, rng.below(H as u32 - 30) as f32);
            if let Some(r) = draw(&mut img, text, font, px, x, y, level) {
                lines.push((r, level));
            }
        }
        let got = text_lines(&img, W, H);
        for (l, level) in &lines {
            planted += 1;
            bright_planted += usize::from(*level >= 200);
            let covered: u64 = got.iter().map(|g| intersection(g, l)).sum();
            if covered * 10 >= area(l) * 8 {
                found += 1;
                bright_found += usize::from(*level >= 200);
            }
        }
        for g in &got {
            boxes += 1;
            if lines.iter().any(|(l, _)| intersection(g, l) > 0) {
                true_boxes += 1;
            }
        }
    }
    for n in 0..60 {
        let img = background(n % 3, &mut rng);
        negative_boxes += text_lines(&img, W, H).len();
    }
    let recall = found as f64 / planted as f64;
    let bright_recall = bright_found as f64 / bright_planted.max(1) as f64;
    let precision = true_boxes as f64 / boxes.max(1) as f64;
    println!(
        "detector: recall {recall:.3} ({found}/{planted} lines at least 80% covered; {bright_recall:.3} for text at 200/255 or brighter, {bright_found}/{bright_planted}), precision {precision:.3} ({true_boxes}/{boxes} boxes on text), {negative_boxes} boxes on 60 text-free images"
    );
    assert!(recall >= RECALL_FLOOR, "recall {recall:.3}");
    assert!(
        bright_recall >= BRIGHT_RECALL_FLOOR,
        "bright recall {bright_recall:.3}"
    );
    assert!(precision >= PRECISION_FLOOR, "precision {precision:.3}");
    assert!(
        negative_boxes <= NEGATIVE_BOXES_MAX,
        "{negative_boxes} boxes on text-free images"
    );
}

// Measured when written (2026-12-01): recall 0.639 (0.849 for text at 200/255 or brighter),
// precision 0.948, 1 box on the text-free
// images. Raise the floors as the detector improves; a change that lowers them is a regression.
const RECALL_FLOOR: f64 = 0.63;
const BRIGHT_RECALL_FLOOR: f64 = 0.84;
const PRECISION_FLOOR: f64 = 0.94;
const NEGATIVE_BOXES_MAX: usize = 1;
