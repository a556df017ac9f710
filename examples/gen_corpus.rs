//! A synthetic PACS-like archive for benchmarks: fake patients, studies, series and slices,
//! with fake PHI in folder names and headers, deterministic for a seed.
//!
//!   cargo run --release --example gen_corpus -- OUT_DIR [--files 2000] [--seed 1]
//!       [--mix ctmr|pacs|small|flat] [--phi-tokens FILE]
//!
//! `--mix ctmr` (the default, used by `scripts/bench-mount.sh`): `PATIENTNAME_MRN/
//! STUDYDATE_DESC/SEnn_DESC/IMxxxx.dcm`. About 70% of the files are CT slices of 512x512
//! (~525 KB) and 30% MR slices of 256x256 (~133 KB): ~800 MB at 2,000 files. Headers carry
//! `deidfs::synth`'s two fake patients.
//!
//! `--mix small` and `--mix flat` (used by `scripts/bench-scale.sh`): CT slices of 64x64
//! (~10 KB), so that the disk is not the limit; `small` in the same tree shape with 40-80
//! slices per series folder, `flat` all in one folder `FLAT/`.
//!
//! `--mix pacs` (used by `scripts/bench.sh`): the same tree shape and CT/MR mix, plus an
//! enhanced multi-frame MR series in about half the MR studies (one file of 30-60 frames of
//! 256x256) and a Basic Text SR report per study; every patient, study and person has its own
//! fake PHI, put where real archives put it: folder names (name, MRN, study date, accession),
//! the usual header attributes, free text (study description, SR text), private elements and a
//! private sequence, and nested standard sequences (Other Patient IDs, Request Attributes, SR
//! content and verifying observer). With `--phi-tokens FILE` it writes every fake PHI value as
//! `category<TAB>kind<TAB>value` lines (kind `text`: match anywhere; `number`: match only
//! with no digit or '.' on either side, so that digits inside UIDs do not count), for the PHI
//! scan of de-identified copies (`scripts/bench/phi_scan.sh`). Values are built so that no
//! token occurs in pixel data or by chance in another value: names are made-up 9-letter words.
//!
//! Same arguments, same bytes (only the file times differ). Prints the file count and the
//! total bytes written. OUT_DIR must not exist or be empty.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Fake patients for folder names (headers carry `deidfs::synth`'s two fake patients).
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
    let mut f = deidfs::synth::ct_slice(patient, study, series, instance, 256, 256).unwrap();
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// CT and MR slices of the demo's two patients (the mount benchmark's corpus).
    CtMr,
    /// CT, MR, enhanced multi-frame MR and SR, each patient with PHI of its own.
    Pacs,
    /// Small CT slices (64x64) in the CtMr tree shape, 40-80 per series folder.
    Small,
    /// Small CT slices, all in one folder.
    Flat,
}

struct Args {
    out: PathBuf,
    files: usize,
    seed: u64,
    mix: Mix,
    phi_tokens: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: gen_corpus OUT_DIR [--files N] [--seed S] [--mix ctmr|pacs|small|flat] [--phi-tokens FILE]";
    let mut it = std::env::args().skip(1);
    let (mut out, mut files, mut seed) = (None, 2000usize, 1u64);
    let (mut mix, mut phi_tokens) = (Mix::CtMr, None);
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
            "--mix" => {
                mix = match it.next().as_deref() {
                    Some("ctmr") => Mix::CtMr,
                    Some("pacs") => Mix::Pacs,
                    Some("small") => Mix::Small,
                    Some("flat") => Mix::Flat,
                    _ => return Err("--mix takes ctmr, pacs, small or flat".into()),
                }
            }
            "--phi-tokens" => {
                phi_tokens = Some(PathBuf::from(
                    it.next().ok_or("--phi-tokens needs a file name")?,
                ))
            }
            "-h" | "--help" => return Err(usage.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{usage}")),
            s if out.is_none() => out = Some(PathBuf::from(s)),
            _ => return Err(usage.into()),
        }
    }
    if phi_tokens.is_some() && mix != Mix::Pacs {
        return Err("--phi-tokens needs --mix pacs (the ctmr mix shares two demo patients)".into());
    }
    Ok(Args {
        out: out.ok_or(usage)?,
        files,
        seed,
        mix,
        phi_tokens,
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
    match args.mix {
        Mix::CtMr => ct_mr(&args),
        Mix::Pacs => pacs::generate(&args),
        Mix::Small | Mix::Flat => small(&args),
    }
}

/// Small CT slices for the scale benchmark: a tree of series folders of 40-80 files, or one
/// flat folder.
fn small(args: &Args) -> Result<(), String> {
    let mut rng = Rng(args.seed ^ 0x0073_6361_6c65); // "scale"
    let (mut written, mut bytes, mut dirs) = (0usize, 0u64, 0usize);
    let mut series = 0u32;
    while written < args.files {
        series += 1;
        let (dir, slices) = if args.mix == Mix::Flat {
            (args.out.join("FLAT"), args.files)
        } else {
            let patient = format!(
                "{}^{}_MRN{:07}",
                rng.pick(SURNAMES),
                rng.pick(GIVEN),
                series
            );
            let study = format!(
                "20{:02}{:02}{:02}_CT_CHEST",
                rng.range(15, 24),
                rng.range(1, 12),
                rng.range(1, 28)
            );
            let d = args
                .out
                .join(patient)
                .join(study)
                .join(format!("SE{series}"));
            (d, rng.range(40, 80) as usize)
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        dirs += 1;
        for i in 1..=slices.min(args.files - written) as u32 {
            let data = deidfs::synth::ct_slice(series as usize, series, series, i, 64, 64).unwrap();
            write(&dir.join(format!("IM{i:06}.dcm")), &data)?;
            bytes += data.len() as u64;
            written += 1;
        }
    }
    println!(
        "files {written} bytes {bytes} ({:.1} MB) folders {dirs} -> {}",
        bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}

/// The original mix; its bytes must not change (published mount figures were made with it).
fn ct_mr(args: &Args) -> Result<(), String> {
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
                        deidfs::synth::ct_slice(patient, study_no, series, i, 512, 512).unwrap()
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

/// The `--mix pacs` corpus: its own minimal explicit-VR-little-endian writer, so that every
/// patient, study and person can carry PHI of its own (the demo's files are fixed).
mod pacs {
    use super::{Args, Rng, write};
    use std::collections::BTreeSet;
    use std::fmt::Write as _;
    use std::path::Path;

    const CT_STUDIES: &[&str] = &["CT_CHEST", "CT_ABDOMEN_PELVIS", "CT_HEAD", "CT_ANGIO_CHEST"];
    const MR_STUDIES: &[&str] = &["MR_BRAIN", "MR_KNEE_LEFT", "MR_LUMBAR_SPINE"];
    const CT_SERIES: &[&str] = &["AXIAL_1.25mm", "AXIAL_5mm", "CORONAL_MPR", "SAGITTAL_MPR"];
    const MR_SERIES: &[&str] = &["T1_SAG", "T2_AX", "FLAIR_AX", "DWI", "T1_POST_GD"];
    /// Given names are common words: never scanned for (they would match by chance).
    const GIVEN: &[&str] = &[
        "JANE", "RICHARD", "JOHN", "MARIA", "JOE", "ANNA", "ALEX", "SAM", "TERRY", "CHRIS",
    ];
    const TOWNS: &[&str] = &[
        "SPRINGFIELD",
        "RIVERTON",
        "LAKEWOOD",
        "FAIRVIEW",
        "GREENVILLE",
    ];

    const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
    const MR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
    const ENHANCED_MR: &str = "1.2.840.10008.5.1.4.1.1.4.1";
    const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    const ROOT: &str = "1.2.826.0.1.3680043.10.1047.77";

    /// A data set under construction: elements in any order, sorted when encoded.
    #[derive(Default)]
    struct Ds(Vec<(u32, Vec<u8>)>);

    impl Ds {
        fn put(&mut self, g: u16, e: u16, vr: &str, value: &[u8]) -> &mut Self {
            let mut out = Vec::with_capacity(value.len() + 13);
            deidfs::synth::el(&mut out, g, e, vr, value).expect("value fits its length field");
            self.0.push(((u32::from(g) << 16) | u32::from(e), out));
            self
        }
        fn s(&mut self, g: u16, e: u16, vr: &str, value: &str) -> &mut Self {
            self.put(g, e, vr, value.as_bytes())
        }
        fn us(&mut self, g: u16, e: u16, value: u16) -> &mut Self {
            self.put(g, e, "US", &value.to_le_bytes())
        }
        /// A sequence of items (explicit lengths).
        fn seq(&mut self, g: u16, e: u16, items: Vec<Ds>) -> &mut Self {
            let v: Vec<u8> = items
                .into_iter()
                .flat_map(|i| deidfs::synth::item(&i.encode()))
                .collect();
            self.put(g, e, "SQ", &v)
        }
        fn encode(mut self) -> Vec<u8> {
            self.0.sort_by_key(|(t, _)| *t);
            for w in self.0.windows(2) {
                assert_ne!(w[0].0, w[1].0, "duplicate tag {:08X}", w[0].0);
            }
            self.0.into_iter().flat_map(|(_, v)| v).collect()
        }
    }

    fn code(value: &str, scheme: &str, meaning: &str) -> Ds {
        let mut d = Ds::default();
        d.s(0x0008, 0x0100, "SH", value)
            .s(0x0008, 0x0102, "SH", scheme)
            .s(0x0008, 0x0104, "LO", meaning);
        d
    }

    /// A file: preamble, meta group, data set.
    fn file(class: &str, sop_uid: &str, ds: Ds) -> Vec<u8> {
        deidfs::synth::file(class, sop_uid, EXPLICIT_LE, &ds.encode()).expect("meta values fit")
    }

    /// 16-bit pixels below 4096: the high byte of every sample is < 0x10, so no two adjacent
    /// bytes are both printable letters and no text token can occur in pixel data.
    fn pixels(rows: u16, cols: u16, frames: u32, seed: u32) -> Vec<u8> {
        let (rows, cols) = (usize::from(rows), usize::from(cols));
        let mut out = Vec::with_capacity(rows * cols * 2 * frames as usize);
        for f in 0..frames as usize {
            for y in 0..rows {
                for x in 0..cols {
                    let v = ((x * 7 + y * 13 + (seed as usize + f) * 31) % 4096) as u16;
                    out.extend(v.to_le_bytes());
                }
            }
        }
        out
    }

    /// The fake PHI of the corpus, written out for the scan.
    #[derive(Default)]
    struct Tokens(BTreeSet<(String, &'static str, String)>);

    impl Tokens {
        fn text(&mut self, category: &str, value: &str) -> String {
            self.0.insert((category.into(), "text", value.into()));
            value.into()
        }
        fn number(&mut self, category: &str, value: &str) -> String {
            self.0.insert((category.into(), "number", value.into()));
            value.into()
        }
    }

    /// Made-up words (three consonant-vowel-consonant syllables), unique in the corpus: they
    /// cannot be common names that a de-identifier puts in as replacements.
    struct Words {
        seen: BTreeSet<String>,
    }

    impl Words {
        fn next(&mut self, rng: &mut Rng) -> String {
            const C: &[u8] = b"BDFGKLMNPRSTVZ";
            const V: &[u8] = b"AEIOU";
            loop {
                let mut w = String::with_capacity(9);
                for _ in 0..3 {
                    for set in [C, V, C] {
                        w.push(set[(rng.next() % set.len() as u64) as usize] as char);
                    }
                }
                if self.seen.insert(w.clone()) {
                    return w;
                }
            }
        }
    }

    fn unique_number(rng: &mut Rng, seen: &mut BTreeSet<u64>, lo: u64, hi: u64) -> u64 {
        loop {
            let n = rng.range(lo, hi);
            if seen.insert(n) {
                return n;
            }
        }
    }

    struct Patient {
        surname: String,
        given: &'static str,
        mrn: String,
        birth: String,
        sex: &'static str,
        address: String,
        phone: String,
        mother: String,
        other_id: String,
        legacy_id: String,
        institution: String,
        institution_address: String,
    }

    struct Study {
        no: u32,
        uid: String,
        date: String,
        accession: String,
        description: String,
        referring: String,
        performing: String,
        operator: String,
        requested_procedure: String,
        scheduled_step: String,
        device_serial: String,
    }

    /// Patient, study and equipment attributes shared by every object of a study.
    fn common(p: &Patient, st: &Study, modality: &str, ds: &mut Ds) {
        let dob = &p.birth;
        ds.s(0x0008, 0x0005, "CS", "ISO_IR 100")
            .s(0x0008, 0x0020, "DA", &st.date)
            .s(0x0008, 0x0021, "DA", &st.date)
            .s(0x0008, 0x0023, "DA", &st.date)
            .s(0x0008, 0x0030, "TM", "101502")
            .s(0x0008, 0x0050, "SH", &st.accession)
            .s(0x0008, 0x0060, "CS", modality)
            .s(0x0008, 0x0070, "LO", "ACME MEDICAL")
            .s(0x0008, 0x0080, "LO", &p.institution)
            .s(0x0008, 0x0081, "ST", &p.institution_address)
            .s(0x0008, 0x0090, "PN", &st.referring)
            .s(0x0008, 0x1010, "SH", "CT-ROOM-7")
            .s(
                0x0008,
                0x1030,
                "LO",
                &format!("{} {} {}", st.description, p.given, p.surname),
            )
            .s(0x0008, 0x1050, "PN", &st.performing)
            .s(0x0008, 0x1070, "PN", &st.operator)
            .s(0x0008, 0x1090, "LO", "SCANMASTER 3000")
            // Private block: a vendor's copy of the name and a legacy identifier.
            .s(0x0009, 0x0010, "LO", "ACME PRIVATE")
            .s(
                0x0009,
                0x1001,
                "LO",
                &format!("operator note: {} {}", p.given, p.surname),
            )
            .s(0x0009, 0x1002, "LO", &p.legacy_id)
            .s(0x0010, 0x0010, "PN", &format!("{}^{}", p.surname, p.given))
            .s(0x0010, 0x0020, "LO", &p.mrn)
            .s(0x0010, 0x0021, "LO", "HOSPITAL-MRN")
            .s(0x0010, 0x0030, "DA", dob)
            .s(0x0010, 0x0040, "CS", p.sex)
            .s(0x0010, 0x1010, "AS", "061Y")
            .s(0x0010, 0x1040, "LO", &p.address)
            .s(0x0010, 0x1060, "PN", &format!("{}^{}", p.mother, "ANNA"))
            .s(0x0010, 0x2154, "SH", &p.phone)
            .s(0x0018, 0x1000, "LO", &st.device_serial)
            .s(0x0020, 0x000D, "UI", &st.uid)
            .s(0x0020, 0x0010, "SH", &format!("S{}", st.no));
        // Nested: other IDs of the patient, and the order this study fulfils.
        let mut other = Ds::default();
        other
            .s(0x0010, 0x0020, "LO", &p.other_id)
            .s(0x0010, 0x0021, "LO", "REGIONAL-EHR")
            .s(0x0010, 0x0022, "CS", "TEXT");
        ds.seq(0x0010, 0x1002, vec![other]);
        let mut request = Ds::default();
        request
            .s(0x0040, 0x0007, "LO", &st.description)
            .s(0x0040, 0x0009, "SH", &st.scheduled_step)
            .s(0x0040, 0x1001, "SH", &st.requested_procedure);
        ds.seq(0x0040, 0x0275, vec![request]);
        // A private sequence (its own creator in the item) holding a copy of the patient.
        let mut item = Ds::default();
        item.s(0x0029, 0x0010, "LO", "ACME SEQ DATA")
            .s(0x0029, 0x1001, "LO", &p.legacy_id)
            .s(0x0010, 0x0010, "PN", &format!("{}^{}", p.surname, p.given))
            .s(0x0010, 0x0020, "LO", &p.mrn);
        ds.s(0x0029, 0x0010, "LO", "ACME SEQ")
            .seq(0x0029, 0x1010, vec![item]);
    }

    fn image_module(ds: &mut Ds, rows: u16, cols: u16) {
        ds.us(0x0028, 0x0002, 1)
            .s(0x0028, 0x0004, "CS", "MONOCHROME2")
            .us(0x0028, 0x0010, rows)
            .us(0x0028, 0x0011, cols)
            .us(0x0028, 0x0100, 16)
            .us(0x0028, 0x0101, 12)
            .us(0x0028, 0x0102, 11)
            .us(0x0028, 0x0103, 0);
    }

    /// A CT (512x512) or MR (256x256) slice.
    fn slice(p: &Patient, st: &Study, ct: bool, series: u32, desc: &str, instance: u32) -> Vec<u8> {
        let (class, size) = if ct { (CT_IMAGE, 512) } else { (MR_IMAGE, 256) };
        let series_uid = format!("{}.{series}", st.uid);
        let sop = format!("{series_uid}.{instance}");
        let mut ds = Ds::default();
        common(p, st, if ct { "CT" } else { "MR" }, &mut ds);
        ds.s(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL")
            .s(0x0008, 0x0016, "UI", class)
            .s(0x0008, 0x0018, "UI", &sop)
            .s(0x0008, 0x103E, "LO", &desc.replace('_', " "))
            .s(0x0018, 0x0050, "DS", if ct { "1.25" } else { "4" })
            .s(0x0020, 0x000E, "UI", &series_uid)
            .s(0x0020, 0x0011, "IS", &series.to_string())
            .s(0x0020, 0x0013, "IS", &instance.to_string())
            .s(
                0x0020,
                0x0032,
                "DS",
                &format!("-200\\-200\\{}", instance as f32 * 1.25),
            )
            .s(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0")
            .s(0x0020, 0x0052, "UI", &format!("{}.9", st.uid))
            .s(0x0028, 0x0030, "DS", "0.78\\0.78")
            .s(0x0028, 0x1050, "DS", "40")
            .s(0x0028, 0x1051, "DS", "400");
        if ct {
            ds.s(0x0018, 0x0060, "DS", "120")
                .s(0x0028, 0x1052, "DS", "-1024")
                .s(0x0028, 0x1053, "DS", "1");
        } else {
            ds.s(0x0018, 0x0080, "DS", "500")
                .s(0x0018, 0x0081, "DS", "15");
        }
        let mut refd = Ds::default();
        refd.s(0x0008, 0x1150, "UI", class)
            .s(0x0008, 0x1155, "UI", &format!("{series_uid}.1"));
        ds.seq(0x0008, 0x1140, vec![refd]);
        image_module(&mut ds, size, size);
        ds.put(0x7FE0, 0x0010, "OW", &pixels(size, size, 1, instance));
        file(class, &sop, ds)
    }

    /// An enhanced MR image: `frames` frames of 256x256, a functional group item per frame.
    fn multiframe(p: &Patient, st: &Study, series: u32, frames: u32) -> Vec<u8> {
        let series_uid = format!("{}.{series}", st.uid);
        let sop = format!("{series_uid}.1");
        let mut ds = Ds::default();
        common(p, st, "MR", &mut ds);
        ds.s(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\M\\NONE")
            .s(0x0008, 0x0016, "UI", ENHANCED_MR)
            .s(0x0008, 0x0018, "UI", &sop)
            .s(0x0008, 0x002A, "DT", &format!("{}101502", st.date))
            .s(0x0008, 0x103E, "LO", "3D T1 MPRAGE")
            .s(0x0020, 0x000E, "UI", &series_uid)
            .s(0x0020, 0x0011, "IS", &series.to_string())
            .s(0x0020, 0x0013, "IS", "1")
            .s(0x0020, 0x0052, "UI", &format!("{}.9", st.uid))
            .s(0x0028, 0x0008, "IS", &frames.to_string());
        let mut shared = Ds::default();
        let mut measures = Ds::default();
        measures
            .s(0x0018, 0x0050, "DS", "1")
            .s(0x0028, 0x0030, "DS", "0.9\\0.9");
        let mut orientation = Ds::default();
        orientation.s(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0");
        shared
            .seq(0x0028, 0x9110, vec![measures])
            .seq(0x0020, 0x9116, vec![orientation]);
        ds.seq(0x5200, 0x9229, vec![shared]);
        // One dimension: the position in the stack.
        let at = |g: u16, e: u16| [g.to_le_bytes(), e.to_le_bytes()].concat();
        let dimension_uid = format!("{series_uid}.7");
        let mut organization = Ds::default();
        organization.s(0x0020, 0x9164, "UI", &dimension_uid);
        let mut dimension = Ds::default();
        dimension
            .s(0x0020, 0x9164, "UI", &dimension_uid)
            .put(0x0020, 0x9165, "AT", &at(0x0020, 0x9057))
            .put(0x0020, 0x9167, "AT", &at(0x0020, 0x9111));
        ds.seq(0x0020, 0x9221, vec![organization])
            .seq(0x0020, 0x9222, vec![dimension]);
        let per_frame = (1..=frames)
            .map(|f| {
                let mut content = Ds::default();
                content
                    .put(0x0020, 0x9157, "UL", &f.to_le_bytes())
                    .s(0x0020, 0x9056, "SH", "1")
                    .put(0x0020, 0x9057, "UL", &f.to_le_bytes())
                    .s(0x0018, 0x9151, "DT", &format!("{}101502", st.date));
                let mut position = Ds::default();
                position.s(0x0020, 0x0032, "DS", &format!("-115\\-115\\{f}"));
                let mut item = Ds::default();
                item.seq(0x0020, 0x9111, vec![content])
                    .seq(0x0020, 0x9113, vec![position]);
                item
            })
            .collect();
        ds.seq(0x5200, 0x9230, per_frame);
        image_module(&mut ds, 256, 256);
        ds.put(0x7FE0, 0x0010, "OW", &pixels(256, 256, frames, series));
        file(ENHANCED_MR, &sop, ds)
    }

    /// A Basic Text SR report: PHI in the content tree and the verifying observer.
    fn report(p: &Patient, st: &Study, series: u32) -> Vec<u8> {
        let series_uid = format!("{}.{series}", st.uid);
        let sop = format!("{series_uid}.1");
        let mut ds = Ds::default();
        common(p, st, "SR", &mut ds);
        ds.s(0x0008, 0x0016, "UI", BASIC_TEXT_SR)
            .s(0x0008, 0x0033, "TM", "170000")
            .s(0x0008, 0x0018, "UI", &sop)
            .s(0x0008, 0x103E, "LO", "REPORT")
            .s(0x0020, 0x000E, "UI", &series_uid)
            .s(0x0020, 0x0011, "IS", &series.to_string())
            .s(0x0020, 0x0013, "IS", "1")
            .s(0x0040, 0xA040, "CS", "CONTAINER")
            .s(0x0040, 0xA050, "CS", "SEPARATE")
            .s(0x0040, 0xA491, "CS", "COMPLETE")
            .s(0x0040, 0xA493, "CS", "VERIFIED")
            .seq(
                0x0040,
                0xA043,
                vec![code("18782-3", "LN", "Radiology Study observation")],
            );
        let mut observer = Ds::default();
        observer
            .s(0x0040, 0xA027, "LO", &p.institution)
            .s(0x0040, 0xA030, "DT", &format!("{}170000", st.date))
            .s(0x0040, 0xA075, "PN", &st.referring);
        ds.seq(0x0040, 0xA073, vec![observer]);
        let text = |concept: Ds, value: String| {
            let mut d = Ds::default();
            d.s(0x0040, 0xA010, "CS", "CONTAINS")
                .s(0x0040, 0xA040, "CS", "TEXT")
                .seq(0x0040, 0xA043, vec![concept])
                .put(0x0040, 0xA160, "UT", value.as_bytes());
            d
        };
        let findings = text(
            code("121071", "DCM", "Finding"),
            format!(
                "{} {}, MRN {}, born {}: no acute findings. Compared with the study of {} \
                 (accession {}). Discussed with Dr {} by phone {}.",
                p.given,
                p.surname,
                p.mrn,
                p.birth,
                st.date,
                st.accession,
                st.referring.replace('^', " "),
                p.phone
            ),
        );
        let mut observer_name = Ds::default();
        observer_name
            .s(0x0040, 0xA010, "CS", "HAS OBS CONTEXT")
            .s(0x0040, 0xA040, "CS", "PNAME")
            .seq(
                0x0040,
                0xA043,
                vec![code("121008", "DCM", "Person Observer Name")],
            )
            .s(0x0040, 0xA123, "PN", &st.performing);
        let mut section = Ds::default();
        section
            .s(0x0040, 0xA010, "CS", "CONTAINS")
            .s(0x0040, 0xA040, "CS", "CONTAINER")
            .s(0x0040, 0xA050, "CS", "SEPARATE")
            .seq(0x0040, 0xA043, vec![code("121070", "DCM", "Findings")])
            .seq(0x0040, 0xA730, vec![findings]);
        ds.seq(0x0040, 0xA730, vec![observer_name, section]);
        file(BASIC_TEXT_SR, &sop, ds)
    }

    /// Files written so far.
    #[derive(Default)]
    struct Sink {
        written: usize,
        bytes: u64,
    }

    impl Sink {
        fn put(&mut self, dir: &Path, name: &str, data: Vec<u8>) -> Result<(), String> {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            write(&dir.join(name), &data)?;
            self.bytes += data.len() as u64;
            self.written += 1;
            Ok(())
        }
    }

    pub fn generate(args: &Args) -> Result<(), String> {
        let mut rng = Rng(args.seed ^ 0x7061_6373); // "pacs"
        let mut words = Words {
            seen: BTreeSet::new(),
        };
        let mut numbers = BTreeSet::new();
        let mut tokens = Tokens::default();
        let mut out = Sink::default();
        let mut dirs = 0usize;
        let (mut ct_files, mut mr_files, mut mf_files, mut sr_files) = (0usize, 0, 0, 0);
        let mut patients = 0usize;
        let mut study_no = 0u32;
        let mut mr_studies = 0u32;
        // (name word, street word, name, address); words become tokens once used.
        let institutions: Vec<(String, String, String, String)> = (0..3)
            .map(|_| {
                let name = words.next(&mut rng);
                let street = words.next(&mut rng);
                let address = format!("{} {street} AVENUE, {}", rng.range(1, 999), rng.pick(TOWNS));
                (
                    name.clone(),
                    street,
                    format!("{name} MEMORIAL HOSPITAL"),
                    address,
                )
            })
            .collect();
        while out.written < args.files {
            patients += 1;
            let (name_word, street_word, institution, institution_address) =
                institutions[(rng.next() % institutions.len() as u64) as usize].clone();
            tokens.text("institution", &name_word);
            tokens.text("institution", &street_word);
            let surname = words.next(&mut rng);
            let street = words.next(&mut rng);
            let mother = words.next(&mut rng);
            let p = Patient {
                surname: tokens.text("patient name", &surname),
                given: rng.pick(GIVEN),
                mrn: tokens.number(
                    "patient id",
                    &unique_number(&mut rng, &mut numbers, 1_000_000, 9_999_999).to_string(),
                ),
                birth: tokens.number(
                    "birth date",
                    &format!(
                        "19{:02}{:02}{:02}",
                        rng.range(30, 99),
                        rng.range(1, 12),
                        rng.range(1, 28)
                    ),
                ),
                sex: if rng.next() % 2 == 0 { "F" } else { "M" },
                address: format!(
                    "{} {} LANE, {}",
                    rng.range(1, 999),
                    tokens.text("address", &street),
                    rng.pick(TOWNS)
                ),
                phone: tokens.text(
                    "phone",
                    &format!("555-01{:02}-{:04}", rng.range(0, 99), rng.range(0, 9999)),
                ),
                mother: tokens.text("relative name", &mother),
                other_id: tokens.text(
                    "other id (nested)",
                    &format!(
                        "EXT{}",
                        unique_number(&mut rng, &mut numbers, 10_000_000, 99_999_999)
                    ),
                ),
                legacy_id: tokens.text(
                    "legacy id (private)",
                    &format!(
                        "LGC{}",
                        unique_number(&mut rng, &mut numbers, 100_000, 999_999)
                    ),
                ),
                institution,
                institution_address,
            };
            let folder = format!("{}^{}_MRN{}", p.surname, p.given, p.mrn);
            for _ in 0..rng.range(1, 3) {
                if out.written >= args.files {
                    break;
                }
                study_no += 1;
                let ct = (ct_files as f64) <= 0.7 * (ct_files + mr_files) as f64;
                let (referring, performing, operator) = (
                    words.next(&mut rng),
                    words.next(&mut rng),
                    words.next(&mut rng),
                );
                let desc = rng.pick(if ct { CT_STUDIES } else { MR_STUDIES });
                let date = format!(
                    "20{:02}{:02}{:02}",
                    rng.range(15, 24),
                    rng.range(1, 12),
                    rng.range(1, 28)
                );
                // Date-times hold the date too, digits run on: tokens of their own.
                tokens.number("study date", &format!("{date}170000"));
                let st = Study {
                    no: study_no,
                    uid: format!("{ROOT}.{patients}.{study_no}"),
                    date: tokens.number("study date", &date),
                    accession: tokens.text(
                        "accession",
                        &format!(
                            "RA{}",
                            unique_number(&mut rng, &mut numbers, 10_000_000, 99_999_999)
                        ),
                    ),
                    description: desc.replace('_', " "),
                    referring: format!(
                        "{}^{}",
                        tokens.text("staff name", &referring),
                        rng.pick(GIVEN)
                    ),
                    performing: format!(
                        "{}^{}",
                        tokens.text("staff name", &performing),
                        rng.pick(GIVEN)
                    ),
                    operator: format!(
                        "{}^{}",
                        tokens.text("staff name", &operator),
                        rng.pick(GIVEN)
                    ),
                    requested_procedure: tokens.text(
                        "request ids (nested)",
                        &format!(
                            "RP{}",
                            unique_number(&mut rng, &mut numbers, 10_000_000, 99_999_999)
                        ),
                    ),
                    scheduled_step: tokens.text(
                        "request ids (nested)",
                        &format!(
                            "SPS{}",
                            unique_number(&mut rng, &mut numbers, 1_000_000, 9_999_999)
                        ),
                    ),
                    device_serial: tokens.text(
                        "device serial",
                        &format!(
                            "SN{}",
                            unique_number(&mut rng, &mut numbers, 100_000, 999_999)
                        ),
                    ),
                };
                let study_dir = args
                    .out
                    .join(&folder)
                    .join(format!("{}_{}_{desc}", st.date, st.accession));
                // The report first: a study cut short by --files still has one.
                out.put(
                    &study_dir.join("SE99_REPORT"),
                    "SR0001.dcm",
                    report(&p, &st, 99),
                )?;
                sr_files += 1;
                dirs += 1;
                if !ct {
                    mr_studies += 1;
                }
                // Enhanced multi-frame in the first MR study and about half the others.
                if !ct && (mr_studies == 1 || rng.next() % 2 == 0) && out.written < args.files {
                    let frames = rng.range(30, 60) as u32;
                    tokens.number("study date", &format!("{}101502", st.date));
                    let dir = study_dir.join("SE50_3D_T1_MPRAGE");
                    out.put(&dir, "MF0001.dcm", multiframe(&p, &st, 50, frames))?;
                    mf_files += 1;
                    dirs += 1;
                }
                for s in 0..rng.range(1, 4) as u32 {
                    if out.written >= args.files {
                        break;
                    }
                    let series = s + 2;
                    let sdesc = rng.pick(if ct { CT_SERIES } else { MR_SERIES });
                    let dir = study_dir.join(format!("SE{series}_{sdesc}"));
                    dirs += 1;
                    let slices = if ct {
                        rng.range(20, 80)
                    } else {
                        rng.range(12, 40)
                    } as usize;
                    for i in 1..=slices.min(args.files - out.written) as u32 {
                        out.put(
                            &dir,
                            &format!("IM{i:04}.dcm"),
                            slice(&p, &st, ct, series, sdesc, i),
                        )?;
                        if ct {
                            ct_files += 1;
                        } else {
                            mr_files += 1;
                        }
                    }
                }
            }
        }
        if let Some(path) = &args.phi_tokens {
            let mut text = String::new();
            for (category, kind, value) in &tokens.0 {
                let _ = writeln!(text, "{category}\t{kind}\t{value}");
            }
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        println!(
            "files {} bytes {} ({:.1} MB) ct {ct_files} mr {mr_files} multiframe {mf_files} sr {sr_files} patients {patients} studies {study_no} series {dirs} phi-tokens {} -> {}",
            out.written,
            out.bytes,
            out.bytes as f64 / 1e6,
            tokens.0.len(),
            args.out.display()
        );
        Ok(())
    }
}
