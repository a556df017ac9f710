//! Encapsulated pixel data under `clean-pixel-data`: images with burned-in text, compressed
//! by real encoders (dcmtk's dcmcrle, dcmcjpeg and dcmcjpls, GDCM's gdcmconv) in every
//! compression deidfs decodes, are served decoded as Explicit VR Little Endian with the text
//! blanked. Checked with tools that share no code with deidfs: tesseract reads no planted
//! text in the served file (and reads it in the original); pydicom, decoding the compressed
//! source with the pylibjpeg plugins, finds every kept pixel equal to the served one (exactly
//! for lossless compressions; for lossy ones within 6 levels, and 0.5 on average, since
//! decoders upsample chroma and round the inverse DCT differently) and every blanked pixel
//! black; dcmdump reads the file and dciodvfy finds no error the compressed source does not
//! have.

mod common;

use common::burned::{REGION, Variant, image, ocr, planted_read, tools};
use common::fixtures::Ts;
use deidfs::deid::Engine;
use deidfs::policy;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A compression made by a real encoder from the uncompressed original.
struct Encoder {
    name: &'static str,
    transfer_syntax: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    lossy: bool,
}

const ENCODERS: [Encoder; 7] = [
    Encoder {
        name: "rle",
        transfer_syntax: "1.2.840.10008.1.2.5",
        program: "dcmcrle",
        args: &[],
        lossy: false,
    },
    Encoder {
        name: "jpeg-lossless-sv1",
        transfer_syntax: "1.2.840.10008.1.2.4.70",
        program: "dcmcjpeg",
        args: &["+e1"],
        lossy: false,
    },
    Encoder {
        name: "jpeg-baseline",
        transfer_syntax: "1.2.840.10008.1.2.4.50",
        program: "dcmcjpeg",
        args: &["+eb"],
        lossy: true,
    },
    Encoder {
        name: "jpeg-ls-lossless",
        transfer_syntax: "1.2.840.10008.1.2.4.80",
        program: "dcmcjpls",
        args: &["+el"],
        lossy: false,
    },
    Encoder {
        name: "jpeg-ls-near-lossless",
        transfer_syntax: "1.2.840.10008.1.2.4.81",
        program: "dcmcjpls",
        args: &["+en"],
        lossy: true,
    },
    Encoder {
        name: "j2k-lossless",
        transfer_syntax: "1.2.840.10008.1.2.4.90",
        program: "gdcmconv",
        args: &["--j2k"],
        lossy: false,
    },
    Encoder {
        name: "j2k-lossy",
        transfer_syntax: "1.2.840.10008.1.2.4.91",
        program: "gdcmconv",
        args: &["--j2k", "--lossy", "-r", "8"],
        lossy: true,
    },
];

fn variant(name: &'static str, photometric: &'static str, bits: u16, frames: usize) -> Variant {
    Variant {
        name,
        ts: Ts::ExplicitLE,
        photometric,
        samples: if photometric == "RGB" { 3 } else { 1 },
        bits,
        signed: bits > 8,
        planar: false,
        frames,
    }
}

/// Decodes both files with pydicom and compares them: prints one JSON object.
const COMPARE: &str = r#"
import json, sys
import numpy as np, pydicom
src, out, x0, y0, x1, y1 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
a, b = pydicom.dcmread(src), pydicom.dcmread(out)
pa, pb = a.pixel_array.astype(np.int64), b.pixel_array.astype(np.int64)
r = {"shape": [list(pa.shape), list(pb.shape)], "ts": str(b.file_meta.TransferSyntaxUID),
     "photometric": str(b.PhotometricInterpretation)}
if pa.shape == pb.shape:
    frames = int(getattr(a, "NumberOfFrames", 1) or 1)
    if frames == 1:
        pa, pb = pa[None], pb[None]
    keep = np.zeros(pa.shape[:3], bool)
    keep[:, y0:y1 + 1, x0:x1 + 1] = True
    d = np.abs(pa - pb)
    r["kept_max_diff"] = int(d[keep].max())
    r["kept_mean_diff"] = float(d[keep].mean())
    black = int(pb[~keep].min())
    r["blank_values"] = sorted(set(int(v) for v in np.unique(pb[~keep])))[:5]
    r["blank_is_min"] = bool((pb[~keep] == black).all())
print(json.dumps(r))
"#;

fn python_compare(src: &Path, out: &Path) -> serde_json::Value {
    let (x0, y0, x1, y1) = REGION;
    let o = Command::new("python3")
        .args(["-c", COMPARE])
        .arg(src)
        .arg(out)
        .args([x0, y0, x1, y1].map(|v| v.to_string()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pydicom: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// dciodvfy's error lines, without the line numbers that vary.
fn dciodvfy_errors(file: &Path) -> BTreeMap<String, usize> {
    let o = Command::new("dciodvfy").arg(file).output().unwrap();
    let mut errors = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stderr).lines() {
        if line.starts_with("Error") {
            *errors.entry(line.to_string()).or_default() += 1;
        }
    }
    errors
}

fn run(program: &str, args: &[&str], from: &Path, to: &Path) -> Result<(), String> {
    let o = Command::new(program)
        .args(args)
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    if o.status.success() && to.is_file() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn meta_transfer_syntax(file: &Path) -> String {
    let o = Command::new("dcmdump")
        .args(["-M", "-Un", "+P", "0002,0010"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "dcmdump {}: {text}", file.display());
    text.split('[')
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap_or_default()
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn compressed_images_are_served_decoded_with_the_text_blanked_and_every_other_pixel_kept() {
    tools();
    for (program, package) in [
        ("dcmcrle", "dcmtk"),
        ("dciodvfy", "dicom3tools"),
        ("gdcmconv", "libgdcm-tools"),
    ] {
        common::require_tool(program, package);
    }
    common::require_pydicom();
    let research = policy::load_builtin("research").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let o = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("keygen")
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success());
    let keys = Pseudonyms::new(&SecretKey::load(&key).unwrap());
    let sources = dir.path().join("sources");
    std::fs::create_dir(&sources).unwrap();
    let mut served_files = Vec::new();
    let variants = [
        variant("mono8-2-frames", "MONOCHROME2", 8, 2),
        variant("mono16-signed", "MONOCHROME2", 16, 1),
        variant("rgb", "RGB", 8, 1),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for v in &variants {
        let original = dir.path().join(format!("{}.dcm", v.name));
        std::fs::write(&original, image(v).build()).unwrap();
        let planted = planted_read(&ocr(&original));
        assert!(
            !planted.is_empty(),
            "{}: the test has no teeth: tesseract reads no planted text in the original",
            v.name
        );
        for enc in &ENCODERS {
            let case = format!("{} {}", v.name, enc.name);
            let src = sources.join(format!("{}-{}.dcm", v.name, enc.name));
            if let Err(e) = run(enc.program, enc.args, &original, &src) {
                // Encoders that cannot make this combination (8-bit JPEG baseline only, no
                // signed near-lossless JPEG-LS in dcmtk) are skipped, visibly.
                println!(
                    "skipped {case}: {} cannot encode it: {}",
                    enc.program,
                    e.trim()
                );
                continue;
            }
            assert_eq!(meta_transfer_syntax(&src), enc.transfer_syntax, "{case}");
            let bytes = std::fs::read(&src).unwrap();
            let outcome = match Engine::new(&research, &keys).plan(&bytes) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{case}: not served: {e}"));
                    continue;
                }
            };
            let served = outcome.plan.to_vec(&bytes).unwrap();
            assert_eq!(
                served.len() as u64,
                outcome.plan.len(),
                "{case}: exact size"
            );
            let out = dir
                .path()
                .join(format!("{}-{}-served.dcm", v.name, enc.name));
            std::fs::write(&out, &served).unwrap();
            served_files.push(served);
            checked += 1;

            if meta_transfer_syntax(&out) != "1.2.840.10008.1.2.1" {
                failures.push(format!("{case}: not served as Explicit VR Little Endian"));
            }
            let left = planted_read(&ocr(&out));
            if !left.is_empty() {
                failures.push(format!("{case}: tesseract still reads {left:?}"));
            }
            let r = python_compare(&src, &out);
            let (max, mean) = if enc.lossy { (6, 0.5) } else { (0, 0.0) };
            match (r["kept_max_diff"].as_i64(), r["kept_mean_diff"].as_f64()) {
                (Some(d), Some(m)) if d <= max && m <= mean => {}
                (Some(_), _) => failures.push(format!(
                    "{case}: kept pixels differ from pydicom's decoding: {r}"
                )),
                _ => failures.push(format!("{case}: shapes differ: {r}")),
            }
            if r["blank_is_min"] != serde_json::Value::Bool(true) {
                failures.push(format!("{case}: blanked pixels are not all black: {r}"));
            }
            if v.photometric == "RGB" && r["photometric"] != "RGB" {
                failures.push(format!("{case}: decoded colour is not named RGB: {r}"));
            }
            let source_errors = dciodvfy_errors(&src);
            let new_errors: Vec<_> = dciodvfy_errors(&out)
                .into_iter()
                .filter(|(e, n)| source_errors.get(e).is_none_or(|m| m < n))
                .collect();
            if !new_errors.is_empty() {
                failures.push(format!("{case}: dciodvfy: {new_errors:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // 3 images x 7 encoders, less the combinations the encoders refuse.
    assert!(
        checked >= 15,
        "only {checked} compressed files were checked"
    );
}
