//! OCR through real tools: text rendered into synthetic images (every photometric
//! interpretation deidfs cleans, both byte orders, planar and multi-frame) and the burned-in
//! text of the shared corpus are read by tesseract (after dcmtk's dcmj2pnm renders the
//! DICOM file) in the source, and not in what `clean-pixel-data` serves.

mod common;

use common::burned::{
    H, Variant, W, ct_file, ct_slice, draw_text, image, image_of, ocr, planted_read,
    smooth_picture, tools,
};
use common::fixtures::{self as fx, Ts, Value, tags as t};
use deidfs::deid::Engine;
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};

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

/// Secondary captures with no regions and no device rule: the detector locates the planted
/// lines, they are blanked, and the picture between them is kept. Every photometric
/// interpretation the detector reads; each served file is checked by tesseract and pixel by
/// pixel inside the picture.
#[test]
fn text_nothing_in_the_header_locates_is_found_by_the_detector_and_blanked() {
    tools();
    let research = policy::load_builtin("research").unwrap();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([8; 32]));
    let dir = tempfile::tempdir().unwrap();
    let variants = [
        ("rgb", Ts::ExplicitLE, "RGB", 3, 8, false),
        ("mono2-8", Ts::ImplicitLE, "MONOCHROME2", 1, 8, false),
        (
            "mono2-16-signed-be",
            Ts::ExplicitBE,
            "MONOCHROME2",
            1,
            16,
            true,
        ),
        ("mono1-16", Ts::ExplicitLE, "MONOCHROME1", 1, 16, false),
        ("ybr-full", Ts::ExplicitLE, "YBR_FULL", 3, 8, false),
    ];
    let mut failures = Vec::new();
    for (name, ts, photometric, samples, bits, signed) in variants {
        let v = Variant {
            name,
            ts,
            photometric,
            samples,
            bits,
            signed,
            planar: false,
            frames: 1,
        };
        let src = image_of(&v, &smooth_picture())
            .remove(t::SEQUENCE_OF_ULTRASOUND_REGIONS)
            .sop(
                fx::SECONDARY_CAPTURE_IMAGE_STORAGE,
                "1.2.826.0.1.3680043.10.1047.99.2",
            )
            .str(t::MODALITY, "CS", "OT")
            .build();
        let outcome = match Engine::new(&research, &keys).plan(&src) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: not served: {e}"));
                continue;
            }
        };
        assert_eq!(outcome.info.pixels, "text detector", "{name}");
        let served = outcome.plan.to_vec(&src).unwrap();
        let (sp, op) = (
            dir.path().join(format!("{name}-src.dcm")),
            dir.path().join(format!("{name}-out.dcm")),
        );
        std::fs::write(&sp, &src).unwrap();
        std::fs::write(&op, &served).unwrap();
        if planted_read(&ocr(&sp)).is_empty() {
            failures.push(format!(
                "{name}: no teeth: the source reads no planted text"
            ));
        }
        let left = planted_read(&ocr(&op));
        if !left.is_empty() {
            failures.push(format!("{name}: served file still reads {left:?}"));
        }
        // The picture (the speckled region between the lines: rows 70 to 199) is kept
        // whole; the pixel data ends each file.
        let row = W * samples as usize * (bits as usize / 8);
        let picture = |f: &[u8]| {
            let frame = &f[f.len() - row * H..];
            frame[row * 70..row * 200].to_vec()
        };
        let (a, b) = (picture(&src), picture(&served));
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
            let n = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            failures.push(format!(
                "{name}: the picture between the lines changed: {n} bytes, first at row {} col {}",
                70 + first / row,
                (first % row) / (row / W)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Images no header marks at risk are screened when read: a CT slice of an unknown vendor
/// with text in two corners is never served by `basic` (the read fails; the header reads),
/// is served by `research` with the text blanked and the head kept, and a slice without
/// text is served byte for byte as it would be unscreened.
#[test]
fn a_ct_slice_with_text_in_two_corners_is_refused_by_basic_and_cleaned_by_research() {
    tools();
    let keys = Pseudonyms::new(&SecretKey::from_bytes([8; 32]));
    let basic = policy::load_builtin("basic").unwrap();
    let research = policy::load_builtin("research").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_text = ct_file(ct_slice(&[
        ("KOWALSKA JOSEPHINE", 4.0, 2.0),
        ("ID 48213977", 150.0, 236.0),
    ]));
    let src_path = dir.path().join("src.dcm");
    std::fs::write(&src_path, &with_text).unwrap();
    assert!(
        !planted_read(&ocr(&src_path)).is_empty(),
        "the test has teeth: the source reads"
    );

    // basic: listed (the plan is made from the header), never read.
    let plan = Engine::new(&basic, &keys).plan(&with_text).unwrap().plan;
    let err = plan.to_vec(&with_text).unwrap_err();
    assert!(err.to_string().contains("pixels-text-found"), "{err}");
    let pixels_at = plan.len() - 256 * 256 * 2;
    let mut head = vec![0u8; pixels_at as usize];
    assert!(
        plan.read_at(&with_text, 0, &mut head).is_ok(),
        "the header reads"
    );

    // research: cleaned, nothing readable, the head between the lines kept.
    let plan = Engine::new(&research, &keys).plan(&with_text).unwrap().plan;
    let served = plan.to_vec(&with_text).unwrap();
    let out_path = dir.path().join("out.dcm");
    std::fs::write(&out_path, &served).unwrap();
    let left = planted_read(&ocr(&out_path));
    assert!(left.is_empty(), "research serves {left:?}");
    let rows = |f: &[u8]| f[f.len() - 256 * 2 * (256 - 40)..f.len() - 256 * 2 * 40].to_vec();
    assert!(
        rows(&with_text) == rows(&served),
        "the head between the lines changed"
    );

    // Without text: screening changes nothing.
    let plain = ct_file(ct_slice(&[]));
    let mut unscreened = basic.clone();
    unscreened.screen_pixels = false;
    let a = Engine::new(&basic, &keys).plan(&plain).unwrap().plan;
    let b = Engine::new(&unscreened, &keys).plan(&plain).unwrap().plan;
    assert!(a.to_vec(&plain).unwrap() == b.to_vec(&plain).unwrap());
    // And `screen_pixels = false` serves the text as before (the opt-out is real).
    let b = Engine::new(&unscreened, &keys)
        .plan(&with_text)
        .unwrap()
        .plan;
    assert!(b.to_vec(&with_text).is_ok());
}
