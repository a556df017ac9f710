//! Per-file cost of planning: a 512x512 CT slice (from memory and from a file on disk), an
//! enhanced multi-frame header (synthetic, and a real one from `../shared/corpus` when present)
//! and a deflated file.
//! Run: cargo bench --bench plan

use criterion::{Criterion, criterion_group, criterion_main};
use deidfs::deid::Engine;
use deidfs::synth::{self, item};

/// The synthetic writer's element, for values known to fit.
fn el(out: &mut Vec<u8>, g: u16, e: u16, vr: &str, value: &[u8]) {
    synth::el(out, g, e, vr, value).expect("value fits its length field");
}

fn file(class: &str, sop: &str, ts: &str, dataset: &[u8]) -> Vec<u8> {
    synth::file(class, sop, ts, dataset).expect("meta values fit")
}
use deidfs::io::FileAt;
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use std::hint::black_box;
use std::io::Write;

/// Frames of the synthetic enhanced MR: each is a Per-frame Functional Groups item.
const FRAMES: u32 = 200;
/// A real enhanced MR (Philips, 64 frames, ~2,800 private elements), when the corpus is there.
const CORPUS_ENHANCED: &str = "../shared/corpus/enhanced_dcm_qa_enh/Philips_IM_0027_fMAP.dcm";
const DEFLATED_TS: &str = "1.2.840.10008.1.2.1.99";

/// Items with explicit lengths, one per content.
fn items(contents: &[Vec<u8>]) -> Vec<u8> {
    contents.iter().flat_map(|c| item(c)).collect()
}

fn at(g: u16, e: u16) -> Vec<u8> {
    [g.to_le_bytes(), e.to_le_bytes()].concat()
}

/// An enhanced MR of `frames` 256x256 frames with PHI at the top level, in a private block and
/// in nested sequences; a functional group item (frame content, position, dimension index)
/// per frame: the header alone is ~100 bytes per frame more than a single slice's.
fn enhanced_mr(frames: u32) -> Vec<u8> {
    let class = "1.2.840.10008.5.1.4.1.1.4.1";
    let root = "1.2.826.0.1.3680043.10.1047.88.1";
    let sop = format!("{root}.5.1");
    let mut ds = Vec::new();
    el(&mut ds, 0x0008, 0x0005, "CS", b"ISO_IR 100");
    el(&mut ds, 0x0008, 0x0008, "CS", b"ORIGINAL\\PRIMARY\\M\\NONE");
    el(&mut ds, 0x0008, 0x0016, "UI", class.as_bytes());
    el(&mut ds, 0x0008, 0x0018, "UI", sop.as_bytes());
    el(&mut ds, 0x0008, 0x0020, "DA", b"20240311");
    el(&mut ds, 0x0008, 0x002A, "DT", b"20240311101502");
    el(&mut ds, 0x0008, 0x0050, "SH", b"RA12345678");
    el(&mut ds, 0x0008, 0x0060, "CS", b"MR");
    el(
        &mut ds,
        0x0008,
        0x0080,
        "LO",
        b"ST. EXAMPLE GENERAL HOSPITAL",
    );
    el(&mut ds, 0x0008, 0x0090, "PN", b"HOUSE^GREGORY");
    el(&mut ds, 0x0008, 0x1030, "LO", b"MR BRAIN for DOE^JANE");
    el(&mut ds, 0x0009, 0x0010, "LO", b"ACME PRIVATE");
    el(&mut ds, 0x0009, 0x1001, "LO", b"operator note: JANE DOE");
    el(&mut ds, 0x0010, 0x0010, "PN", b"DOE^JANE");
    el(&mut ds, 0x0010, 0x0020, "LO", b"MRN-0001");
    el(&mut ds, 0x0010, 0x0030, "DA", b"19450317");
    let mut other = Vec::new();
    el(&mut other, 0x0010, 0x0020, "LO", b"EXT-0001");
    el(&mut ds, 0x0010, 0x1002, "SQ", &items(&[other]));
    el(&mut ds, 0x0020, 0x000D, "UI", root.as_bytes());
    el(
        &mut ds,
        0x0020,
        0x000E,
        "UI",
        format!("{root}.5").as_bytes(),
    );
    el(&mut ds, 0x0020, 0x0013, "IS", b"1");
    el(
        &mut ds,
        0x0020,
        0x0052,
        "UI",
        format!("{root}.9").as_bytes(),
    );
    let mut dim = Vec::new();
    el(&mut dim, 0x0020, 0x9165, "AT", &at(0x0020, 0x9057));
    el(&mut dim, 0x0020, 0x9167, "AT", &at(0x0020, 0x9111));
    el(&mut ds, 0x0020, 0x9222, "SQ", &items(&[dim]));
    el(&mut ds, 0x0028, 0x0002, "US", &1u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0004, "CS", b"MONOCHROME2");
    el(&mut ds, 0x0028, 0x0008, "IS", frames.to_string().as_bytes());
    el(&mut ds, 0x0028, 0x0010, "US", &256u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0011, "US", &256u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0100, "US", &16u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0101, "US", &12u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0102, "US", &11u16.to_le_bytes());
    el(&mut ds, 0x0028, 0x0103, "US", &0u16.to_le_bytes());
    let mut request = Vec::new();
    el(&mut request, 0x0040, 0x0009, "SH", b"SPS0001");
    el(&mut request, 0x0040, 0x1001, "SH", b"RP0001");
    el(&mut ds, 0x0040, 0x0275, "SQ", &items(&[request]));
    let mut measures = Vec::new();
    el(&mut measures, 0x0018, 0x0050, "DS", b"1");
    el(&mut measures, 0x0028, 0x0030, "DS", b"0.9\\0.9");
    let mut shared = Vec::new();
    el(&mut shared, 0x0028, 0x9110, "SQ", &items(&[measures]));
    el(&mut ds, 0x5200, 0x9229, "SQ", &items(&[shared]));
    let per_frame: Vec<Vec<u8>> = (1..=frames)
        .map(|f| {
            let mut content = Vec::new();
            el(&mut content, 0x0018, 0x9151, "DT", b"20240311101502");
            el(&mut content, 0x0020, 0x9057, "UL", &f.to_le_bytes());
            el(&mut content, 0x0020, 0x9157, "UL", &f.to_le_bytes());
            let mut position = Vec::new();
            el(
                &mut position,
                0x0020,
                0x0032,
                "DS",
                format!("-115\\-115\\{f}").as_bytes(),
            );
            let mut item = Vec::new();
            el(&mut item, 0x0020, 0x9111, "SQ", &items(&[content]));
            el(&mut item, 0x0020, 0x9113, "SQ", &items(&[position]));
            item
        })
        .collect();
    el(&mut ds, 0x5200, 0x9230, "SQ", &items(&per_frame));
    let pixels = vec![0u8; 256 * 256 * 2 * frames as usize];
    el(&mut ds, 0x7FE0, 0x0010, "OW", &pixels);
    file(class, &sop, "1.2.840.10008.1.2.1", &ds)
}

/// `f` (explicit VR little endian) re-encoded as Deflated Explicit VR Little Endian: the data
/// set after the meta group deflated (raw deflate, as PS3.5 A.5 says), the meta group's
/// transfer syntax changed.
fn deflated(f: &[u8]) -> Vec<u8> {
    let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
    assert_eq!(&f[128..132], b"DICM");
    let meta_end = 144 + u32_at(140) as usize;
    let (mut class, mut sop) = (String::new(), String::new());
    let mut i = 144;
    while i < meta_end {
        let (e, vr) = (u16_at(i + 2), &f[i + 4..i + 6]);
        let (hdr, len) = if vr == b"OB" {
            (12, u32_at(i + 8) as usize)
        } else {
            (8, usize::from(u16_at(i + 6)))
        };
        let value = String::from_utf8_lossy(&f[i + hdr..i + hdr + len])
            .trim_end_matches('\0')
            .to_string();
        match e {
            0x0002 => class = value,
            0x0003 => sop = value,
            _ => {}
        }
        i += hdr + len;
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&f[meta_end..]).unwrap();
    file(&class, &sop, DEFLATED_TS, &enc.finish().unwrap())
}

fn plan(c: &mut Criterion) {
    let keys = Pseudonyms::new(&SecretKey::from_bytes([9; 32]));
    let basic = policy::load_builtin("basic").unwrap();
    let research = policy::load_builtin("research").unwrap();
    let ct = deidfs::synth::ct_slice(0, 1, 2, 3, 512, 512).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.dcm");
    std::fs::write(&path, &ct).unwrap();

    c.bench_function("plan CT 512x512 header, basic, in memory", |b| {
        b.iter(|| Engine::new(&basic, &keys).plan(black_box(&ct)).unwrap())
    });
    c.bench_function("plan CT 512x512 header, research, in memory", |b| {
        b.iter(|| Engine::new(&research, &keys).plan(black_box(&ct)).unwrap())
    });
    c.bench_function(
        "plan CT 512x512 header, basic, open + pread from file",
        |b| {
            b.iter(|| {
                let src = FileAt::open(&path).unwrap();
                Engine::new(&basic, &keys).plan(&src).unwrap()
            })
        },
    );

    let mf = enhanced_mr(FRAMES);
    Engine::new(&basic, &keys).plan(&mf).unwrap();
    c.bench_function(
        &format!("plan enhanced MR {FRAMES} frames header (synthetic), basic, in memory"),
        |b| b.iter(|| Engine::new(&basic, &keys).plan(black_box(&mf)).unwrap()),
    );
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_ENHANCED);
    match std::fs::read(&real) {
        Ok(bytes) => {
            c.bench_function(
                "plan enhanced MR 64 frames header (corpus, Philips), basic, in memory",
                |b| b.iter(|| Engine::new(&basic, &keys).plan(black_box(&bytes)).unwrap()),
            );
        }
        Err(e) => eprintln!(
            "skipped: plan enhanced MR (corpus): {} not readable ({e})",
            real.display()
        ),
    }

    // A deflated file is inflated whole (pixels too), planned, and its header deflated again:
    // the one case where planning is not header-only.
    let ct_deflated = deflated(&ct);
    Engine::new(&basic, &keys).plan(&ct_deflated).unwrap();
    c.bench_function(
        "plan CT 512x512 deflated (whole data set), basic, in memory",
        |b| {
            b.iter(|| {
                Engine::new(&basic, &keys)
                    .plan(black_box(&ct_deflated))
                    .unwrap()
            })
        },
    );
}

/// The device rules of the built-in table against one header, without the memo's help (each
/// iteration a new model name): the cost for the first file of a series.
fn pixel_rules(c: &mut Criterion) {
    let basic = policy::load_builtin("basic").unwrap();
    let set = &basic.pixel_rules;
    let mut n = 0u64;
    c.bench_function("device rules, 105 acting, first file of a series", |b| {
        b.iter(|| {
            n += 1;
            let values: Vec<Option<String>> = set
                .tags()
                .iter()
                .map(|t| match (t.0, t.1) {
                    (0x0008, 0x0070) => Some("ACME MEDICAL".to_string()),
                    (0x0008, 0x1090) => Some(format!("SCANMASTER {n}")),
                    (0x0008, 0x0060) => Some("CT".to_string()),
                    (0x0008, 0x0008) => Some("ORIGINAL\\PRIMARY\\AXIAL".to_string()),
                    _ => None,
                })
                .collect();
            black_box(set.matching(&values))
        })
    });
}

/// One interleaved little-endian frame, 12 bits stored of 16 (or all 8).
fn frame_geometry(
    rows: u32,
    cols: u32,
    samples: u16,
    bits: u16,
    photometric: deidfs::pixels::Photometric,
) -> deidfs::pixels::Geometry {
    deidfs::pixels::Geometry {
        rows,
        cols,
        samples,
        bits_allocated: bits,
        bits_stored: bits.min(12),
        signed: false,
        planar: false,
        frames: 1,
        photometric,
        big_endian: false,
    }
}

/// Per-frame pixel work: the detector (luminance + text lines) and the mask applied as a frame
/// is read, for a 640x480 RGB ultrasound frame and a 512x512 16-bit CT slice.
fn pixel_frames(c: &mut Criterion) {
    use deidfs::pixels::{Mask, Op, Photometric, Rect, detect};
    let frames = [
        ("640x480 RGB", 480u32, 640u32, 3u16, 8u16, Photometric::Rgb),
        (
            "512x512 CT 16-bit",
            512,
            512,
            1,
            16,
            Photometric::Monochrome2,
        ),
    ];
    for (name, rows, cols, samples, bits, photometric) in frames {
        let g = frame_geometry(rows, cols, samples, bits, photometric);
        let frame: Vec<u8> = (0..g.frame_bytes() as usize)
            .map(|i| ((i * 7919) % 251) as u8 & if bits == 16 && i % 2 == 1 { 0x0F } else { 0xFF })
            .collect();
        c.bench_function(&format!("screen (first read), {name} frame"), |b| {
            b.iter(|| {
                let luma = detect::luminance(&g, black_box(&frame)).unwrap();
                black_box(detect::screen_lines(&luma, cols as usize, rows as usize))
            })
        });
        c.bench_function(&format!("detect text, {name} frame"), |b| {
            b.iter(|| {
                let luma = detect::luminance(&g, black_box(&frame)).unwrap();
                black_box(detect::text_lines(&luma, cols as usize, rows as usize))
            })
        });
        let ops = [
            (Rect::whole(cols, rows), Op::Blank),
            (
                Rect {
                    x0: 40,
                    y0: 60,
                    x1: cols - 40,
                    y1: rows - 20,
                },
                Op::Keep,
            ),
        ];
        let mask = Mask::new(&g, &ops, None).unwrap();
        let mut buf = frame.clone();
        c.bench_function(&format!("mask applied, {name} frame"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&frame);
                mask.apply(0, black_box(&mut buf));
            })
        });
    }
}

/// Per-frame cost of an encapsulated frame as first read: decode + mask (what a decoded plan
/// segment does, less the source read), for a 640x480 RGB JPEG baseline ultrasound frame and
/// a 512x512 16-bit CT slice in JPEG-LS lossless.
fn decoded_frames(c: &mut Criterion) {
    use deidfs::pixels::decode::{self, Codec};
    use deidfs::pixels::{Mask, Op, Photometric, Rect};
    // A smooth picture with speckle, as ultrasound and CT compress (noise would not).
    let picture = |cols: u32, rows: u32, max: u32| -> Vec<u32> {
        (0..rows * cols)
            .map(|i| {
                let (x, y) = (i % cols, i / cols);
                ((x + y) * max / (cols + rows) + (i * 7919) % 13) % max
            })
            .collect()
    };
    let us = frame_geometry(480, 640, 3, 8, Photometric::Rgb);
    let rgb: Vec<u8> = picture(640, 480, 255)
        .into_iter()
        .flat_map(|v| [v as u8, v as u8, (v / 3) as u8])
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&rgb, 640, 480, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let ct = frame_geometry(512, 512, 1, 16, Photometric::Monochrome2);
    let samples: Vec<u8> = picture(512, 512, 4095)
        .into_iter()
        .flat_map(|v| (v as u16).to_le_bytes())
        .collect();
    let jls = charls::CharLS::default()
        .encode(
            charls::FrameInfo {
                width: 512,
                height: 512,
                bits_per_sample: 12,
                component_count: 1,
            },
            0,
            &samples,
        )
        .unwrap();
    for (name, codec, g, source, data) in [
        (
            "640x480 RGB JPEG baseline",
            Codec::JpegDct,
            &us,
            "YBR_FULL_422",
            &jpeg,
        ),
        (
            "512x512 CT 16-bit JPEG-LS lossless",
            Codec::JpegLs,
            &ct,
            "MONOCHROME2",
            &jls,
        ),
    ] {
        let ops = [
            (Rect::whole(g.cols, g.rows), Op::Blank),
            (
                Rect {
                    x0: 40,
                    y0: 60,
                    x1: g.cols - 40,
                    y1: g.rows - 20,
                },
                Op::Keep,
            ),
        ];
        let mask = Mask::new(g, &ops, None).unwrap();
        c.bench_function(&format!("decode + mask, {name} frame"), |b| {
            b.iter(|| {
                let mut f = decode::decode(codec, g, source, black_box(data)).unwrap();
                mask.apply(0, &mut f);
                black_box(f)
            })
        });
    }
}

criterion_group!(benches, plan, pixel_rules, pixel_frames, decoded_frames);
criterion_main!(benches);
