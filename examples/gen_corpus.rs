//! A synthetic PACS-like archive for benchmarks: fake patients, studies, series and slices,
//! with fake PHI in folder names and headers, deterministic for a seed.
//!
//!   cargo run --release --example gen_corpus -- OUT_DIR [--files 2000] [--seed 1]
//!
//! Layout: `PATIENTNAME_MRN/STUDYDATE_DESC/SEnn_DESC/IMxxxx.dcm`. About 70% of the files are
//! CT slices of 512x512 (~525 KB) and 30% MR slices of 256x256 (~133 KB): ~800 MB at 2,000
//! files. Same seed and file count, same bytes (only the file times differ).
//! Prints the file count and the total bytes written. OUT_DIR must not exist or be empty.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Fake patients for folder names (headers carry `deidfs::demo`'s two fake patients).
const SURNAMES: &[&str] = &[
    "DOE", "ROE", "SMITH", "MOUSE", "BLOGGS", "PUBLIC", "EXAMPLE", "SAMPLE", "TESTER", "NOBODY",
];
const GIVEN: &[&str] = &[
    "JANE", "RICHARD", "JOHN", "MICKEY", "JOE", "JOHNQ", "ALEX", "SAM", "TERRY", "CHRIS",
];
const CT_STUDIES: &[&str] = &["CT_CHEST", "CT_ABDOMEN_PELVIS", "CT_HEAD", "CT_ANGIO_CHEST"];
const MR_STUDIES: &[&str] = &["MR_BRAIN", "MR_KNEE_LEFT", "MR_LUMBAR_SPINE"];
const CT_SERIES: &[&str] = &["AXIAL_1.25mm", "AXIAL_5mm", "CORONAL_MPR", "SAGITTAL_MPR"];
const MR_SERIES: &[&str] = &["T1_SAG", "T2_AX", "FLAIR_AX", "DWI", "T1_POST_GD"];

const CT_CLASS: &[u8] = b"1.2.840.10008.5.1.4.1.1.2\0";
const MR_CLASS: &[u8] = b"1.2.840.10008.5.1.4.1.1.4\0";
/// (0008,0060) CS, length 2.
const MODALITY_CT: &[u8] = &[0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'];
const MODALITY_MR: &[u8] = &[0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'M', b'R'];

/// SplitMix64: small, fast and stable across versions (unlike a library's StdRng).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

/// An MR slice: the demo's CT slice at 256x256 with MR's SOP class and modality (same
/// lengths, so every other byte and length stays valid).
fn mr_slice(patient: usize, study: u32, series: u32, instance: u32) -> Vec<u8> {
    let mut f = deidfs::demo::ct_slice(patient, study, series, instance, 256, 256);
    // Only the header: the class UID and modality never occur in the pixel data by design,
    // but stay clear of it anyway.
    let header_end = f.len() - 256 * 256 * 2;
    let h = &mut f[..header_end];
    assert!(
        replace_all(h, CT_CLASS, MR_CLASS) >= 2,
        "SOP class not found"
    );
    assert_eq!(
        replace_all(h, MODALITY_CT, MODALITY_MR),
        1,
        "modality not found"
    );
    f
}

struct Args {
    out: PathBuf,
    files: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: gen_corpus OUT_DIR [--files N] [--seed S]";
    let mut it = std::env::args().skip(1);
    let (mut out, mut files, mut seed) = (None, 2000usize, 1u64);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--files" => {
                files = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--files needs a number")?
            }
            "--seed" => {
                seed = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seed needs a number")?
            }
            "-h" | "--help" => return Err(usage.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{usage}")),
            s if out.is_none() => out = Some(PathBuf::from(s)),
            _ => return Err(usage.into()),
        }
    }
    Ok(Args {
        out: out.ok_or(usage)?,
        files,
        seed,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    if let Ok(mut d) = std::fs::read_dir(&args.out)
        && d.next().is_some()
    {
        return Err(format!("{}: exists and is not empty", args.out.display()));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;

    let mut rng = Rng(args.seed ^ 0x6465_6964_6673); // "deidfs"
    let (mut written, mut bytes, mut ct_files, mut dirs) = (0usize, 0u64, 0usize, 0usize);
    let mut patient = 0usize;
    let mut study_no = 0u32;
    while written < args.files {
        patient += 1;
        let folder = format!(
            "{}^{}_MRN{:07}",
            rng.pick(SURNAMES),
            rng.pick(GIVEN),
            rng.range(1, 9_999_999)
        );
        for _ in 0..rng.range(1, 3) {
            if written >= args.files {
                break;
            }
            study_no += 1;
            // Modality by study, chosen to keep the file mix at ~70% CT.
            let ct = (ct_files as f64) <= 0.7 * written as f64;
            let date = format!(
                "20{:02}{:02}{:02}",
                rng.range(15, 24),
                rng.range(1, 12),
                rng.range(1, 28)
            );
            let desc = rng.pick(if ct { CT_STUDIES } else { MR_STUDIES });
            let study_dir = format!("{date}_{desc}");
            for s in 0..rng.range(1, 4) as u32 {
                if written >= args.files {
                    break;
                }
                let series = s + 2;
                let sdesc = rng.pick(if ct { CT_SERIES } else { MR_SERIES });
                let dir = args
                    .out
                    .join(&folder)
                    .join(&study_dir)
                    .join(format!("SE{series}_{sdesc}"));
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                dirs += 1;
                let slices = if ct {
                    rng.range(20, 80)
                } else {
                    rng.range(12, 40)
                } as usize;
                for i in 1..=slices.min(args.files - written) as u32 {
                    let data = if ct {
                        deidfs::demo::ct_slice(patient, study_no, series, i, 512, 512)
                    } else {
                        mr_slice(patient, study_no, series, i)
                    };
                    write(&dir.join(format!("IM{i:04}.dcm")), &data)?;
                    bytes += data.len() as u64;
                    written += 1;
                    ct_files += usize::from(ct);
                }
            }
        }
    }
    println!(
        "files {written} bytes {bytes} ({:.1} MB) ct {ct_files} mr {} patients {patient} studies {study_no} series {dirs} -> {}",
        bytes as f64 / 1e6,
        written - ct_files,
        args.out.display()
    );
    Ok(())
}
