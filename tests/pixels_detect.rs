//! The text detector, at both its sensitivities, measured on a labelled set of its own: lines
//! of rendered text (four fonts, sizes 10 to 28 px, five grey levels, anywhere) on dark,
//! speckled and noisy backgrounds; text-free images of the same backgrounds; and text-free
//! anatomy-like images (MR mosaics of head slices, a CT head with bone outlines), where
//! structures that line up must not read as text. Prints recall and precision; fails below
//! the floors measured when it was written (deterministic: same images every run).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use deidfs::pixels::Rect;
use deidfs::pixels::detect::{PRECISE, SENSITIVE, Sensitivity, text_lines_at};

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

/// A text-free image of anatomy-like structure the detector must not take for text: a
/// mosaic of head slices (skull ring, bright ventricles, as an MR mosaic shows them: the same
/// structure in a row of tiles), or one CT-like head slice (a thick skull with holes and
/// bright flecks of bone).
fn anatomy(kind: u32, rng: &mut Rng) -> Vec<u8> {
    let mut img = vec![0u8; W * H];
    let ellipse = |img: &mut [u8], cx: f32, cy: f32, rx: f32, ry: f32, level: u8, ring: f32| {
        for y in 0..H {
            for x in 0..W {
                let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                let d = (dx * dx + dy * dy).sqrt();
                if d <= 1.0 && d >= 1.0 - ring {
                    img[y * W + x] = level;
                }
            }
        }
    };
    if kind == 0 {
        let tile = 40 + rng.below(14) as usize;
        for ty in 0..H / tile {
            for tx in 0..W / tile {
                let (cx, cy) = ((tx * tile + tile / 2) as f32, (ty * tile + tile / 2) as f32);
                let r = tile as f32 * (0.30 + rng.below(10) as f32 / 100.0);
                ellipse(&mut img, cx, cy, r, r * 1.2, 90, 1.0);
                ellipse(&mut img, cx, cy, r, r * 1.2, 200, 0.12);
                let v = r * 0.22;
                ellipse(&mut img, cx - v * 0.8, cy, v * 0.5, v, 230, 1.0);
                ellipse(&mut img, cx + v * 0.8, cy, v * 0.5, v, 230, 1.0);
            }
        }
    } else {
        ellipse(&mut img, 160.0, 120.0, 110.0, 100.0, 110, 1.0);
        ellipse(
            &mut img,
            160.0,
            120.0,
            110.0,
            100.0,
            240,
            0.1 + rng.below(8) as f32 / 100.0,
        );
        for _ in 0..12 {
            let (cx, cy) = (60.0 + rng.below(200) as f32, 40.0 + rng.below(160) as f32);
            let (rx, ry) = (4.0 + rng.below(10) as f32, 4.0 + rng.below(14) as f32);
            ellipse(&mut img, cx, cy, rx, ry, 235, 0.35);
        }
    }
    for p in img.iter_mut() {
        *p = p.saturating_add(rng.below(24) as u8);
    }
    img
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

#[derive(Debug)]
struct Score {
    recall: f64,
    bright_recall: f64,
    precision: f64,
    negative_boxes: usize,
    /// On 40 anatomy-like images without text.
    anatomy_boxes: usize,
}

fn measure(sens: &Sensitivity, fonts: &[FontRef]) -> Score {
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
        let got = text_lines_at(sens, &img, W, H);
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
        negative_boxes += text_lines_at(sens, &img, W, H).len();
    }
    let mut anatomy_boxes = 0;
    for n in 0..40 {
        let img = anatomy(n % 2, &mut rng);
        anatomy_boxes += text_lines_at(sens, &img, W, H).len();
    }
    Score {
        recall: found as f64 / planted as f64,
        bright_recall: bright_found as f64 / bright_planted.max(1) as f64,
        precision: true_boxes as f64 / boxes.max(1) as f64,
        negative_boxes,
        anatomy_boxes,
    }
}

fn fonts() -> Vec<Vec<u8>> {
    FONTS
        .iter()
        .map(|p| {
            std::fs::read(p)
                .unwrap_or_else(|e| panic!("{p}: {e}: apt-get install fonts-dejavu-core"))
        })
        .collect()
}

#[test]
fn the_detector_finds_rendered_text_lines_and_little_else() {
    let data = fonts();
    let fonts: Vec<FontRef> = data
        .iter()
        .map(|d| FontRef::try_from_slice(d).unwrap())
        .collect();
    for (name, sens, floor) in [
        ("precise", PRECISE, &PRECISE_FLOORS),
        ("sensitive", SENSITIVE, &SENSITIVE_FLOORS),
    ] {
        let s = measure(&sens, &fonts);
        println!(
            "detector ({name}): recall {:.3} ({:.3} for text at 200/255 or brighter), precision {:.3}, {} boxes on 60 text-free backgrounds, {} on 40 anatomy-like images",
            s.recall, s.bright_recall, s.precision, s.negative_boxes, s.anatomy_boxes
        );
        assert!(s.recall >= floor.recall, "{name}: {s:?}");
        assert!(s.bright_recall >= floor.bright_recall, "{name}: {s:?}");
        assert!(s.precision >= floor.precision, "{name}: {s:?}");
        assert!(s.negative_boxes <= floor.negative_boxes, "{name}: {s:?}");
        assert!(s.anatomy_boxes <= floor.anatomy_boxes, "{name}: {s:?}");
    }
}

// Measured when written (2026-12-01): precise recall 0.644 (0.858 bright), precision 0.966,
// 1 box on the backgrounds, 5 on anatomy; sensitive recall 0.806 (0.896 bright), precision
// 0.318, 344 boxes on the backgrounds (speckle and noise: what makes it refuse), 4 on
// anatomy. Raise the floors as the detector improves; a change that lowers them is a
// regression.
const PRECISE_FLOORS: Score = Score {
    recall: 0.64,
    bright_recall: 0.85,
    precision: 0.96,
    negative_boxes: 1,
    anatomy_boxes: 5,
};
const SENSITIVE_FLOORS: Score = Score {
    recall: 0.80,
    bright_recall: 0.89,
    precision: 0.30,
    negative_boxes: 344,
    anatomy_boxes: 4,
};

/// Screening searches coarse to fine (`screen_lines`) for speed; it must not miss an image
/// the full search at the same settings flags: checked on every image of the set.
#[test]
fn coarse_to_fine_screening_flags_every_image_the_full_search_flags() {
    use deidfs::pixels::detect::{SCREENING, screen_lines};
    let data = fonts();
    let fonts: Vec<FontRef> = data
        .iter()
        .map(|d| FontRef::try_from_slice(d).unwrap())
        .collect();
    let mut rng = Rng(77);
    let (mut flagged, mut missed) = (0, 0);
    for n in 0..120 {
        let mut img = if n % 4 == 3 {
            anatomy(n % 2, &mut rng)
        } else {
            background(n % 3, &mut rng)
        };
        if n % 2 == 0 {
            let font = &fonts[rng.below(4) as usize];
            let px = 10.0 + rng.below(19) as f32;
            let (x, y) = (rng.below(140) as f32, rng.below(H as u32 - 30) as f32);
            draw(&mut img, WORDS[rng.below(8) as usize], font, px, x, y, 255);
        }
        let full = text_lines_at(&SCREENING, &img, W, H);
        if !full.is_empty() {
            flagged += 1;
            missed += usize::from(screen_lines(&img, W, H).is_empty());
        }
    }
    println!(
        "screening: {flagged} images flagged by the full search, {missed} missed coarse to fine"
    );
    assert!(
        flagged >= 20,
        "the set has text on plain backgrounds: {flagged}"
    );
    assert_eq!(missed, 0);
}
