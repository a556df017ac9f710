//! Images with text burned into them, for the pixel tests: a synthetic ultrasound picture
//! (a speckled clinical region, a name above it and an ID below, rendered with a real font)
//! in any photometric interpretation, bit depth and byte order, and what tesseract reads in
//! a DICOM file after dcmtk renders it.

use super::fixtures::{self as fx, Elem, FileBuilder, Ts, Value, tags as t};
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use std::path::Path;
use std::process::Command;

pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
pub const W: usize = 320;
pub const H: usize = 240;
/// The clinical region (kept): x 20..=299, y 60..=219, as the Sequence of Ultrasound Regions
/// writes it (inclusive maxima).
pub const REGION: (u32, u32, u32, u32) = (20, 60, 299, 219);
/// Planted text, above and below the region.
pub const BANNER: &str = "JOSEPHINE KOWALSKA";
pub const FOOTER: &str = "ID 48213977";

pub fn tools() {
    super::require_tool("tesseract", "tesseract-ocr");
    super::require_tool("dcmj2pnm", "dcmtk");
    assert!(
        Path::new(FONT).is_file(),
        "{FONT} missing: `apt-get install fonts-dejavu-core`"
    );
}

/// A grey image, 0..=1: a dim gradient, a speckled region, white text outside it.
pub fn picture() -> Vec<f32> {
    let mut img = vec![0f32; W * H];
    for y in 0..H {
        for x in 0..W {
            let inside = (REGION.0..=REGION.2).contains(&(x as u32))
                && (REGION.1..=REGION.3).contains(&(y as u32));
            let speckle = ((x * 7919 + y * 104_729) % 97) as f32 / 97.0;
            img[y * W + x] = if inside {
                0.2 + 0.5 * speckle
            } else {
                0.05 * (x as f32 / W as f32)
            };
        }
    }
    for (text, top) in [(BANNER, 12.0), (FOOTER, 222.0)] {
        draw_text(&mut img, W, text, 17.0, 24.0, top);
    }
    img
}

/// Draws `text` in white (1.0) into a grey image `w` pixels wide, `px` pixels high, its top
/// left at (`x`, `top`).
pub fn draw_text(img: &mut [f32], w: usize, text: &str, px: f32, mut x: f32, top: f32) {
    let data = std::fs::read(FONT).unwrap();
    let font = FontRef::try_from_slice(&data).unwrap();
    let h = img.len() / w;
    let scaled = font.as_scaled(PxScale::from(px));
    for c in text.chars() {
        let mut g = scaled.scaled_glyph(c);
        let advance = scaled.h_advance(g.id);
        g.position = point(x, top + scaled.ascent());
        if let Some(outline) = font.outline_glyph(g) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, v| {
                let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                if (0..w as i32).contains(&px) && (0..h as i32).contains(&py) {
                    let p = &mut img[py as usize * w + px as usize];
                    *p = p.max(v);
                }
            });
        }
        x += advance;
    }
}

pub struct Variant {
    pub name: &'static str,
    pub ts: Ts,
    pub photometric: &'static str,
    pub samples: u16,
    pub bits: u16,
    pub signed: bool,
    pub planar: bool,
    pub frames: usize,
}

/// The pixel bytes (little endian; the fixture writer swaps for big endian) of `img`.
pub fn encode(img: &[f32], v: &Variant) -> Vec<u8> {
    let mut frame = Vec::new();
    let level = |p: f32| -> i64 {
        let max = (1i64 << v.bits.min(12)) - 1;
        let q = (p * max as f32).round() as i64;
        match (v.photometric, v.signed) {
            ("MONOCHROME1", _) => max - q,
            (_, true) => q - (max + 1) / 2,
            _ => q,
        }
    };
    let put = |out: &mut Vec<u8>, value: i64| {
        let bytes = (value as u64).to_le_bytes();
        out.extend_from_slice(&bytes[..(v.bits / 8) as usize]);
    };
    match (v.photometric, v.planar) {
        ("RGB", false) | ("YBR_FULL", false) => {
            for p in img {
                let y = (p * 255.0) as i64;
                if v.photometric == "RGB" {
                    // Yellow text, as on many ultrasound screens.
                    frame.extend([y as u8, y as u8, (y / 3) as u8]);
                } else {
                    frame.extend([y as u8, 128, 128]);
                }
            }
        }
        ("RGB", true) => {
            for scale in [1.0, 1.0, 0.33] {
                frame.extend(img.iter().map(|p| (p * 255.0 * scale) as u8));
            }
        }
        ("YBR_FULL_422", _) => {
            for pair in img.chunks(2) {
                frame.extend([(pair[0] * 255.0) as u8, (pair[1] * 255.0) as u8, 128, 128]);
            }
        }
        _ => img.iter().for_each(|p| put(&mut frame, level(*p))),
    }
    frame.repeat(v.frames)
}

pub fn image(v: &Variant) -> FileBuilder {
    image_of(v, &picture())
}

/// A picture like [`picture`]'s, but the region holds smooth structure with a little noise,
/// as anatomy looks (the lattice speckle of [`picture`] is a texture the detector's precise
/// pass can take for glyphs where the region's edge cuts it).
pub fn smooth_picture() -> Vec<f32> {
    let mut img = picture();
    let mut seed = 7u64;
    for y in REGION.1..=REGION.3 {
        for x in REGION.0..=REGION.2 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (seed >> 40) as f32 / (1u64 << 24) as f32;
            let (fx, fy) = (x as f32, y as f32);
            img[y as usize * W + x as usize] =
                0.35 + 0.2 * (fx / 17.0).sin() * (fy / 23.0).cos() + 0.08 * noise;
        }
    }
    img
}

/// The burned-in test image of `v` with the picture `img`.
pub fn image_of(v: &Variant, img: &[f32]) -> FileBuilder {
    let mut b = FileBuilder::new(v.ts)
        .sop(
            fx::US_MULTIFRAME_IMAGE_STORAGE,
            "1.2.826.0.1.3680043.10.1047.99.1",
        )
        .str(t::MODALITY, "CS", "US")
        .str(
            t::STUDY_INSTANCE_UID,
            "UI",
            "1.2.826.0.1.3680043.10.1047.98.1",
        )
        .str(
            t::SERIES_INSTANCE_UID,
            "UI",
            "1.2.826.0.1.3680043.10.1047.98.2",
        )
        .str(t::PATIENT_NAME, "PN", "KOWALSKA^JOSEPHINE")
        .str(t::PATIENT_ID, "LO", "48213977")
        .push(Elem::seq(
            t::SEQUENCE_OF_ULTRASOUND_REGIONS,
            vec![vec![
                Elem::ul((0x0018, 0x6018), REGION.0),
                Elem::ul((0x0018, 0x601A), REGION.1),
                Elem::ul((0x0018, 0x601C), REGION.2),
                Elem::ul((0x0018, 0x601E), REGION.3),
            ]],
        ))
        .push(Elem::us(t::SAMPLES_PER_PIXEL, v.samples))
        .str(t::PHOTOMETRIC_INTERPRETATION, "CS", v.photometric)
        .push(Elem::us(t::ROWS, H as u16))
        .push(Elem::us(t::COLUMNS, W as u16))
        .push(Elem::us(t::BITS_ALLOCATED, v.bits))
        .push(Elem::us(t::BITS_STORED, v.bits.min(12)))
        .push(Elem::us(t::HIGH_BIT, v.bits.min(12) - 1))
        .push(Elem::us(t::PIXEL_REPRESENTATION, u16::from(v.signed)))
        .str(t::NUMBER_OF_FRAMES, "IS", &v.frames.to_string());
    if v.samples > 1 {
        b = b.push(Elem::us(t::PLANAR_CONFIGURATION, u16::from(v.planar)));
    }
    if v.photometric == "PALETTE COLOR" {
        // A grey ramp: entry n shows as n.
        let ramp: Vec<u16> = (0..256u16).map(|n| n * 257).collect();
        for (d, data) in [(0x1101, 0x1201), (0x1102, 0x1202), (0x1103, 0x1203)] {
            b = b
                .elem((0x0028, d), "US", Value::U16(vec![256, 0, 16]))
                .elem((0x0028, data), "OW", Value::U16(ramp.clone()));
        }
    }
    let vr = if v.bits > 8 { "OW" } else { "OB" };
    b.elem(t::PIXEL_DATA, vr, Value::Bytes(encode(img, v)))
}

/// What tesseract reads in a DICOM file (every frame dcmj2pnm renders: the first). dcmtk
/// has no JPEG 2000 decoder: such files are made uncompressed by GDCM's gdcmconv first.
pub fn ocr(dicom: &Path) -> String {
    let png = dicom.with_extension("png");
    let render = |file: &Path| {
        Command::new("dcmj2pnm")
            .args(["+on", "-il", "+Wm"])
            .arg(file)
            .arg(&png)
            .output()
            .unwrap()
    };
    let mut st = render(dicom);
    if !st.status.success() {
        let raw = dicom.with_extension("raw.dcm");
        let conv = Command::new("gdcmconv")
            .arg("--raw")
            .arg(dicom)
            .arg(&raw)
            .output()
            .unwrap();
        if conv.status.success() {
            st = render(&raw);
        }
    }
    assert!(
        st.status.success(),
        "dcmj2pnm {}: {}",
        dicom.display(),
        String::from_utf8_lossy(&st.stderr)
    );
    let out = Command::new("tesseract")
        .arg(&png)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tesseract: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_uppercase()
}

pub fn planted_read(text: &str) -> Vec<&'static str> {
    ["JOSEPHINE", "KOWALSKA", "48213977"]
        .into_iter()
        .filter(|w| text.contains(w))
        .collect()
}

/// A CT head-like slice (a skull ring with bone flecks over soft tissue and noise), 12 bits
/// in 16, with `lines` of white text drawn over it.
pub fn ct_slice(lines: &[(&str, f32, f32)]) -> Vec<u8> {
    let (w, h) = (256usize, 256usize);
    let mut img = vec![0f32; w * h];
    let mut seed = 11u64;
    for y in 0..h {
        for x in 0..w {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (seed >> 40) as f32 / (1u64 << 24) as f32;
            let (dx, dy) = ((x as f32 - 128.0) / 100.0, (y as f32 - 128.0) / 115.0);
            let d = (dx * dx + dy * dy).sqrt();
            img[y * w + x] = match d {
                d if d > 1.0 => 0.0,
                d if d > 0.92 => 0.8,
                _ => 0.25 + 0.05 * noise,
            };
        }
    }
    for (text, x, top) in lines {
        draw_text(&mut img, w, text, 14.0, *x, *top);
    }
    img.iter()
        .flat_map(|p| ((p * 4095.0) as u16).to_le_bytes())
        .collect()
}

pub fn ct_file(pixels: Vec<u8>) -> Vec<u8> {
    fx::ct_like("SCREEN^TEST", "P-SCREEN", 256, 256)
        .str(t::MANUFACTURER, "LO", "UNKNOWN VENDOR")
        .elem(t::PIXEL_DATA, "OW", Value::Bytes(pixels))
        .build()
}
