//! OCR through real tools: text rendered into synthetic images (every photometric
//! interpretation deidfs cleans, both byte orders, planar and multi-frame) and the burned-in
//! text of the shared corpus are read by tesseract (after dcmtk's dcmj2pnm renders the
//! DICOM file) in the source, and not in what `clean-pixel-data` serves.

mod common;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use common::fixtures::{self as fx, Elem, FileBuilder, Ts, Value, tags as t};
use deidfs::deid::Engine;
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use std::path::Path;
use std::process::Command;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
const W: usize = 320;
const H: usize = 240;
/// The clinical region (kept): x 20..=299, y 60..=219, as the Sequence of Ultrasound Regions
/// writes it (inclusive maxima).
const REGION: (u32, u32, u32, u32) = (20, 60, 299, 219);
/// Planted text, above and below the region.
const BANNER: &str = "JOSEPHINE KOWALSKA";
const FOOTER: &str = "ID 48213977";

fn tools() {
    common::require_tool("tesseract", "tesseract-ocr");
    common::require_tool("dcmj2pnm", "dcmtk");
    assert!(
        Path::new(FONT).is_file(),
        "{FONT} missing: `apt-get install fonts-dejavu-core`"
    );
}

/// A grey image, 0..=1: a dim gradient, a speckled region, white text outside it.
fn picture() -> Vec<f32> {
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
fn draw_text(img: &mut [f32], w: usize, text: &str, px: f32, mut x: f32, top: f32) {
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

struct Variant {
    name: &'static str,
    ts: Ts,
    photometric: &'static str,
    samples: u16,
    bits: u16,
    signed: bool,
    planar: bool,
    frames: usize,
}

/// The pixel bytes (little endian; the fixture writer swaps for big endian) of `img`.
fn encode(img: &[f32], v: &Variant) -> Vec<u8> {
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

fn image(v: &Variant) -> FileBuilder {
    let img = picture();
    let mut b = FileBuilder::new(v.ts)
        .sop(
            fx::US_MULTIFRAME_IMAGE_STORAGE,
            "1.2.826.0.1.3680043.10.1047.99.1",
        )
        .str(t::MODALITY, "CS", "US")
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
    b.elem(t::PIXEL_DATA, vr, Value::Bytes(encode(&img, v)))
}

/// What tesseract reads in a DICOM file (every frame dcmj2pnm renders: the first).
fn ocr(dicom: &Path) -> String {
    let png = dicom.with_extension("png");
    let st = Command::new("dcmj2pnm")
        .args(["+on", "-il", "+Wm"])
        .arg(dicom)
        .arg(&png)
        .output()
        .unwrap();
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

fn planted_read(text: &str) -> Vec<&'static str> {
    ["JOSEPHINE", "KOWALSKA", "48213977"]
        .into_iter()
        .filter(|w| text.contains(w))
        .collect()
}

#[test]
fn no_planted_text_is_readable_in_any_served_frame() {
    tools();
    let variants = [
        Variant {
            name: "rgb",
            ts: Ts::ExplicitLE,
            photometric: "RGB",
            samples: 3,
            bits: 8,
            signed: false,
            planar: false,
            frames: 1,
        },
        Variant {
            name: "rgb-planar-2-frames",
            ts: Ts::ExplicitLE,
            photometric: "RGB",
            samples: 3,
            bits: 8,
            signed: false,
            planar: true,
            frames: 2,
        },
        Variant {
            name: "ybr-full",
            ts: Ts::ExplicitLE,
            photometric: "YBR_FULL",
            samples: 3,
            bits: 8,
            signed: false,
            planar: false,
            frames: 1,
        },
        Variant {
            name: "ybr-full-422",
            ts: Ts::ExplicitLE,
            photometric: "YBR_FULL_422",
            samples: 3,
            bits: 8,
            signed: false,
            planar: false,
            frames: 1,
        },
        Variant {
            name: "mono2-8",
            ts: Ts::ImplicitLE,
            photometric: "MONOCHROME2",
            samples: 1,
            bits: 8,
            signed: false,
            planar: false,
            frames: 1,
        },
        Variant {
            name: "mono2-16-signed-be",
            ts: Ts::ExplicitBE,
            photometric: "MONOCHROME2",
            samples: 1,
            bits: 16,
            signed: true,
            planar: false,
            frames: 1,
        },
        Variant {
            name: "mono1-16",
            ts: Ts::ExplicitLE,
            photometric: "MONOCHROME1",
            samples: 1,
            bits: 16,
            signed: false,
            planar: false,
            frames: 3,
        },
        Variant {
            name: "palette",
            ts: Ts::ExplicitLE,
            photometric: "PALETTE COLOR",
            samples: 1,
            bits: 8,
            signed: false,
            planar: false,
            frames: 1,
        },
    ];
    let research = policy::load_builtin("research").unwrap();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([8; 32]));
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for v in &variants {
        let src = image(v).build();
        let (sp, op) = (
            dir.path().join(format!("{}-src.dcm", v.name)),
            dir.path().join(format!("{}-out.dcm", v.name)),
        );
        std::fs::write(&sp, &src).unwrap();
        let plan = Engine::new(&research, &keys)
            .plan(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name))
            .plan;
        std::fs::write(&op, plan.to_vec(&src).unwrap()).unwrap();
        let (before, after) = (ocr(&sp), ocr(&op));
        // The test has teeth: the planted text is readable in the source.
        if planted_read(&before).is_empty() {
            failures.push(format!(
                "{}: tesseract reads no planted text in the source: {before:?}",
                v.name
            ));
        }
        let left = planted_read(&after);
        if !left.is_empty() {
            failures.push(format!("{}: served file still reads {left:?}", v.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Header values of the corpus files that research cleans, looked for by OCR in the source
/// rendering and in the served one.
#[test]
#[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]
fn burned_in_text_of_the_corpus_is_unreadable_once_cleaned() {
    tools();
    let research = policy::load_builtin("research").unwrap();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([8; 32]));
    let dir = tempfile::tempdir().unwrap();
    let mut cleaned = 0;
    let mut identifying_checked = 0;
    for path in common::walk(&common::corpus()) {
        let Ok(src) = std::fs::read(&path) else {
            continue;
        };
        let Ok(outcome) = Engine::new(&research, &keys).plan(&src) else {
            continue;
        };
        if outcome.info.pixels.is_empty() {
            continue;
        }
        cleaned += 1;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (sp, op) = (
            dir.path().join(format!("{cleaned}-src.dcm")),
            dir.path().join(format!("{cleaned}-out.dcm")),
        );
        std::fs::write(&sp, &src).unwrap();
        std::fs::write(&op, outcome.plan.to_vec(&src).unwrap()).unwrap();
        let (before, after) = (ocr(&sp), ocr(&op));
        // Words of at least 4 letters or digits that OCR reads in the source's burned-in
        // text and that the served header no longer carries: none may be read once cleaned.
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() >= 4)
                .map(String::from)
                .collect()
        };
        let before_words = words(&before);
        let out_header =
            String::from_utf8_lossy(&outcome.plan.to_vec(&src).unwrap()[..4096.min(src.len())])
                .to_uppercase();
        let src_header = String::from_utf8_lossy(&src[..8192.min(src.len())]).to_uppercase();
        let identifying: Vec<&String> = before_words
            .iter()
            .filter(|w| src_header.contains(w.as_str()) && !out_header.contains(w.as_str()))
            .collect();
        identifying_checked += identifying.len();
        for w in identifying {
            assert!(
                !after.contains(w.as_str()),
                "{name}: {w:?} is still readable: {after:?}"
            );
        }
    }
    assert!(cleaned >= 3, "the corpus has cleaned files: {cleaned}");
    // The test has teeth: tesseract reads identifying header values in some source's pixels.
    assert!(
        identifying_checked > 0,
        "no identifying word was read in any source"
    );
}

/// A GE LightSpeed VCT dose screen (the rule "LightSpeed Dose Report" blanks y 0..121): text
/// only inside the rule's band is served blanked; text below it too is refused, since only
/// the detector's check stands between it and the reader.
#[test]
fn text_a_device_rule_does_not_cover_makes_the_file_fail_closed() {
    tools();
    let (w, h) = (256usize, 256usize);
    let render = |lines: &[(&str, f32)]| -> Vec<u8> {
        let mut img = vec![0f32; w * h];
        for (text, top) in lines {
            draw_text(&mut img, w, text, 18.0, 10.0, *top);
        }
        img.iter()
            .flat_map(|p| ((p * 4095.0) as u16).to_le_bytes())
            .collect()
    };
    let screen = |pixels: Vec<u8>| {
        fx::ct_like("DOSE^SCREEN", "P-DOSE", h as u16, w as u16)
            .str(t::MANUFACTURER, "LO", "GE MEDICAL SYSTEMS")
            .str((0x0008, 0x1090), "LO", "LightSpeed VCT")
            .str(t::IMAGE_TYPE, "CS", "DERIVED\\SECONDARY\\SCREEN SAVE")
            .elem(t::PIXEL_DATA, "OW", Value::Bytes(pixels))
            .build()
    };
    let research = policy::load_builtin("research").unwrap();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([8; 32]));
    let dir = tempfile::tempdir().unwrap();

    let inside = screen(render(&[
        ("JOSEPHINE KOWALSKA", 30.0),
        ("ID 48213977", 70.0),
    ]));
    let plan = Engine::new(&research, &keys)
        .plan(&inside)
        .expect("served")
        .plan;
    let (sp, op) = (dir.path().join("in-src.dcm"), dir.path().join("in-out.dcm"));
    std::fs::write(&sp, &inside).unwrap();
    std::fs::write(&op, plan.to_vec(&inside).unwrap()).unwrap();
    assert!(!planted_read(&ocr(&sp)).is_empty(), "the source reads");
    assert!(
        planted_read(&ocr(&op)).is_empty(),
        "the served file does not"
    );

    let below = screen(render(&[
        ("JOSEPHINE KOWALSKA", 30.0),
        ("ID 48213977", 170.0),
    ]));
    match Engine::new(&research, &keys).plan(&below) {
        Err(deidfs::deid::DeidError::Refused(r)) => assert_eq!(r.reason(), "pixels-text-remains"),
        other => panic!("served with text left: {:?}", other.map(|o| o.info)),
    }
}
