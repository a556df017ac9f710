//! Issue 14: vendor private data that analysis tools read is kept or cleaned under `research`
//! (the research-safe dictionary, policies/vendor-private.toml) and removed under `basic`;
//! identifiers planted inside it never survive. Generated Siemens files always; a real
//! Siemens mosaic from ../shared/corpus when present (dcm2niix reads it after cleaning).

mod common;

use common::csa::{items, sv10};
use common::fixtures::{self as fx, Value};
use deidfs::deid::Engine;
use deidfs::policy::{self, Policy};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use dicom_core::Tag;
use std::process::Command;

const NAME: &str = "KOWALSKA^JOSEPHINE";

fn keys() -> Pseudonyms {
    Pseudonyms::new(&SecretKey::from_bytes([14; 32]))
}

fn research() -> Policy {
    policy::load_builtin("research").unwrap()
}

fn plan(src: &[u8], policy: &Policy) -> (Vec<u8>, deidfs::deid::FileInfo) {
    let o = Engine::new(policy, &keys()).plan(&src.to_vec()).unwrap();
    (o.plan.to_vec(&src.to_vec()).unwrap(), o.info)
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The value of a private element of the output (its creator is in block 0x10).
fn private_value(out: &[u8], tag: (u16, u16)) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("o.dcm");
    std::fs::write(&p, out).unwrap();
    let obj = dicom_object::open_file(&p).unwrap();
    let el = obj.element_opt(Tag(tag.0, tag.1)).ok().flatten()?;
    Some(el.to_bytes().unwrap().to_vec())
}

/// A Siemens MR slice with CSA image and series headers: physics, technique, a protocol with
/// the patient's name planted in it, and the patient's weight.
fn siemens(image: &[u8], series: &[u8]) -> Vec<u8> {
    fx::mr_like(NAME, "PID-4821", 8, 8)
        .str((0x0008, 0x0070), "LO", "SIEMENS")
        .str((0x0029, 0x0010), "LO", "SIEMENS CSA HEADER")
        .elem((0x0029, 0x1010), "OB", Value::Bytes(image.to_vec()))
        .elem((0x0029, 0x1020), "OB", Value::Bytes(series.to_vec()))
        .build()
}

fn image_header() -> Vec<u8> {
    sv10(&[
        ("NumberOfImagesInMosaic", "US", &["35"]),
        ("MosaicRefAcqTimes", "FD", &["0", "1032.5", "57.5"]),
        ("B_value", "IS", &["1000"]),
        (
            "DiffusionGradientDirection",
            "FD",
            &["0.57735", "-0.57735", "0.57735"],
        ),
        ("ImaCoilString", "LO", &["T:HEA;HEP"]),
        ("ICE_Dims", "LO", &["X_1_1_1_1_1_1_1_1_1_1_1_1063"]),
        ("ImaComment", "LT", &["seen by Dr Kowalska"]),
        (
            "ReferencedImage",
            "UI",
            &["1.3.12.2.1107.5.2.32.35131.2014031012405855226785388"],
        ),
    ])
}

fn series_header() -> Vec<u8> {
    let protocol = format!(
        "<XProtocol> {{ <Name> \"PhoenixMetaProtocol\" <ParamString.\"tProtocolName\"> {{ \"{NAME}\" }} }}\n\
         ### ASCCONV BEGIN ###\n\
         tSequenceFileName = \"\"%SiemensSeq%\\ep2d_diff\"\"\n\
         tProtocolName = \"\"brain {NAME}\"\"\n\
         sKSpace.lBaseResolution = 64\n\
         sFastImaging.lEchoSpacing = 510\n\
         ### ASCCONV END ###\n"
    );
    sv10(&[
        ("UsedPatientWeight", "DS", &["71.5"]),
        (
            "PatReinPattern",
            "ST",
            &["1;HFS;71.50;35.00;2;0;0;-478201571"],
        ),
        ("MrPhoenixProtocol", "UN", &[protocol.as_str()]),
        ("CoilForGradient2", "SH", &["AS092"]),
    ])
}

#[test]
fn research_keeps_the_csa_physics_and_technique_and_blanks_every_other_text_at_its_length() {
    let (image, series) = (image_header(), series_header());
    let (out, info) = plan(&siemens(&image, &series), &research());
    assert!(info.blobs_removed.is_empty(), "{:?}", info.blobs_removed);
    let got = private_value(&out, (0x0029, 0x1010)).expect("CSA image header kept");
    assert_eq!(got.len(), image.len(), "cleaned in place");
    let got = items(&got);
    let of = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(of("NumberOfImagesInMosaic"), ["35"]);
    assert_eq!(of("MosaicRefAcqTimes"), ["0", "1032.5", "57.5"]);
    assert_eq!(
        of("DiffusionGradientDirection"),
        ["0.57735", "-0.57735", "0.57735"]
    );
    assert_eq!(of("ImaCoilString"), ["T:HEA;HEP"]);
    assert_eq!(of("ImaComment"), [""], "free text is blanked");
    assert_eq!(of("ReferencedImage"), [""], "a UID is digits, not a number");

    let s = private_value(&out, (0x0029, 0x1020)).expect("CSA series header kept");
    assert_eq!(s.len(), series.len());
    let got = items(&s);
    let of = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1.clone();
    // research retains patient characteristics: the weight stays; the pattern goes.
    assert_eq!(of("UsedPatientWeight"), ["71.5"]);
    assert_eq!(of("PatReinPattern"), [""]);
    let protocol = &of("MrPhoenixProtocol")[0];
    for kept in [
        "ep2d_diff",
        "lBaseResolution = 64",
        "lEchoSpacing = 510",
        "PhoenixMetaProtocol",
    ] {
        assert!(protocol.contains(kept), "{kept}: {protocol}");
    }
    assert_eq!(of("CoilForGradient2"), ["AS092"]);
    // The planted name, whole or in parts, is nowhere in the file.
    for part in [NAME, "KOWALSKA", "JOSEPHINE"] {
        assert!(!find(&out, part.as_bytes()), "{part} survives");
    }
}

#[test]
fn the_weight_in_a_csa_header_goes_without_retain_patient_characteristics() {
    let p = policy::file::parse(
        "extends = \"basic\"\nvendor_private = true\n",
        "p.toml",
        None,
        0,
    )
    .unwrap();
    let (out, _) = plan(&siemens(&image_header(), &series_header()), &p);
    let got = items(&private_value(&out, (0x0029, 0x1020)).unwrap());
    assert_eq!(
        got[0],
        ("UsedPatientWeight".to_string(), vec![String::new()])
    );
}

#[test]
fn a_csa_header_that_does_not_parse_is_removed_and_said_so_and_the_file_still_served() {
    let image = image_header();
    for bad in [image[..40].to_vec(), b"not a CSA header at all".to_vec()] {
        let (out, info) = plan(&siemens(&bad, &series_header()), &research());
        assert!(private_value(&out, (0x0029, 0x1010)).is_none(), "removed");
        assert!(
            private_value(&out, (0x0029, 0x1020)).is_some(),
            "the other kept"
        );
        assert_eq!(info.blobs_removed.len(), 1, "{:?}", info.blobs_removed);
        assert!(
            info.blobs_removed[0].contains("siemens-csa"),
            "{:?}",
            info.blobs_removed
        );
    }
}

#[test]
fn basic_removes_the_vendor_data_research_keeps() {
    let basic = policy::load_builtin("basic").unwrap();
    let (out, _) = plan(&siemens(&image_header(), &series_header()), &basic);
    assert!(private_value(&out, (0x0029, 0x1010)).is_none());
    assert!(private_value(&out, (0x0029, 0x1020)).is_none());
}

/// A real Siemens mosaic (64x64x35, ep2d_bold) with the patient's name planted in its protocol
/// name inside the CSA series header: gone from the research view, and dcm2niix still builds
/// the same 35-slice volume from it.
#[test]
#[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]
fn a_name_planted_in_a_real_siemens_protocol_is_gone_and_dcm2niix_still_reads_the_mosaic() {
    common::require_tool("dcm2niix", "dcm2niix");
    let mut src = std::fs::read(common::corpus().join("siemens_dcm_qa_ts/1.dcm")).unwrap();
    // Same length as the protocol name it replaces (in the ASCCONV section).
    let (from, to) = (
        b"ax+AF8-asc+AF8-35sl".as_slice(),
        b"KOWALSKA^JOSEPHINE_".as_slice(),
    );
    let mut planted = 0;
    let mut i = 0;
    while let Some(p) = src[i..].windows(from.len()).position(|w| w == from) {
        src[i + p..i + p + from.len()].copy_from_slice(to);
        planted += 1;
        i += p + from.len();
    }
    assert!(planted >= 1, "the protocol name was not found");
    let (out, info) = plan(&src, &research());
    assert!(info.blobs_removed.is_empty(), "{:?}", info.blobs_removed);
    for part in ["KOWALSKA", "JOSEPHINE"] {
        assert!(!find(&out, part.as_bytes()), "{part} survives");
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("src", &src), ("view", &out)] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("1.dcm"), bytes).unwrap();
        let o = Command::new("dcm2niix")
            .args(["-b", "n", "-z", "n", "-f", "x", "-o"])
            .arg(&d)
            .arg(&d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    let nii = |side: &str| std::fs::read(dir.path().join(side).join("x.nii")).unwrap();
    let (a, b) = (nii("src"), nii("view"));
    let dims = |n: &[u8]| -> Vec<i16> {
        (0..4)
            .map(|k| i16::from_le_bytes([n[40 + 2 * k], n[41 + 2 * k]]))
            .collect()
    };
    assert_eq!(dims(&a), [3, 64, 64, 35]);
    assert_eq!(dims(&b), dims(&a));
    assert!(a[352..] == b[352..], "the same voxels");
}

/// A kept vendor value (GE's pulse sequence name) that repeats the patient's name is masked
/// like any kept value; the rest of the GE block stays.
#[test]
fn a_name_planted_in_a_kept_vendor_value_is_masked() {
    let src = fx::mr_like(NAME, "PID-4821", 8, 8)
        .str((0x0008, 0x0070), "LO", "GE MEDICAL SYSTEMS")
        .str((0x0019, 0x0010), "LO", "GEMS_ACQU_01")
        .str((0x0019, 0x109C), "LO", "epiRT KOWALSKA")
        .str((0x0019, 0x10BB), "DS", "0.707107")
        .build();
    let (out, info) = plan(&src, &research());
    assert!(!find(&out, b"KOWALSKA"));
    assert!(find(&out, b"epiRT") && find(&out, b"0.707107"));
    assert!(
        info.echoes.contains(&"(0019,xx9C) private".to_string()),
        "{:?}",
        info.echoes
    );
}

/// What is not structure in a CSA header is zeroed: bytes after a name's NUL and in an item's
/// padding (writers leave memory there).
#[test]
fn bytes_between_the_structure_of_a_csa_header_are_zeroed() {
    let mut image = image_header();
    // The first element's name ("NumberOfImagesInMosaic", 22 bytes) is at byte 16.
    image[16 + 30..16 + 38].copy_from_slice(b"KOWALSKA");
    // Its item "35" (3 bytes with the NUL) is padded with one byte at 16 + 84 + 16 + 3.
    image[16 + 84 + 16 + 3] = b'K';
    let (out, _) = plan(&siemens(&image, &series_header()), &research());
    let got = private_value(&out, (0x0029, 0x1010)).unwrap();
    assert_eq!(&got[16 + 22..16 + 64], &[0u8; 42][..]);
    assert_eq!(got[16 + 84 + 16 + 3], 0);
    assert_eq!(items(&got)[0].1, ["35"]);
    assert!(!find(&out, b"KOWALSKA"));
}
