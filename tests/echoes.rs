//! Echoes: a file's identifiers copied into elements the policy keeps are found and removed,
//! in every kept value at every depth. The files are built by the independent writer
//! (tests/common/fixtures/), de-identified by the engine and the `deidfs` binary, and checked
//! by readers that share no code with deidfs: dicom-object, and scripts/oracle.py (pydicom),
//! whose PHI search also looks for names by component and dates as people write them.

mod common;

use common::fixtures::{self as fx, Elem, FileBuilder, Value};
use deidfs::deid::Engine;
use deidfs::policy::{self, Action, Policy, PrivateKey, ProfileOption};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use dicom_core::Tag;
use dicom_object::DefaultDicomObject;
use std::path::Path;
use std::process::Command;

use common::echo::*;

fn keys() -> Pseudonyms {
    Pseudonyms::new(&SecretKey::from_bytes([12; 32]))
}

/// The policy with the UN private element kept by an override (how an option or a user keeps
/// private data the dictionary does not know).
fn with_private_kept(mut p: Policy) -> Policy {
    p.private_overrides.insert(
        PrivateKey {
            creator: "ECHO TEST".into(),
            group: 0x0011,
            element: 0x01,
        },
        Action::Keep,
    );
    p
}

/// basic, research, each option alone, and every option that keeps more at once.
fn policies() -> Vec<(String, Policy)> {
    let mut out = vec![
        ("basic".to_string(), policy::load_builtin("basic").unwrap()),
        (
            "research".to_string(),
            policy::load_builtin("research").unwrap(),
        ),
    ];
    for o in ProfileOption::ALL {
        let names = [o.name().to_string()];
        out.push((
            o.name().to_string(),
            policy::file::with_options(Policy::bare(), &names).unwrap(),
        ));
    }
    let retain: Vec<String> = ProfileOption::ALL
        .iter()
        .map(|o| o.name().to_string())
        // Full dates keep more than modified dates (the two exclude each other).
        .filter(|n| n.starts_with("retain-") && n != "retain-longitudinal-modified-dates")
        .collect();
    out.push((
        "every retain option".into(),
        policy::file::with_options(Policy::bare(), &retain).unwrap(),
    ));
    out.into_iter()
        .map(|(n, p)| (n, with_private_kept(p)))
        .collect()
}

fn deidentify(src: &[u8], p: &Policy) -> (Vec<u8>, deidfs::deid::FileInfo) {
    let src = src.to_vec();
    let outcome = Engine::new(p, &keys()).plan(&src).expect("served");
    let bytes = outcome.plan.to_vec(&src).unwrap();
    assert_eq!(bytes.len() as u64, outcome.plan.len(), "exact size");
    (bytes, outcome.info)
}

fn parse(dir: &Path, bytes: &[u8]) -> DefaultDicomObject {
    let p = dir.join("parse.dcm");
    std::fs::write(&p, bytes).unwrap();
    dicom_object::open_file(&p).expect("output parses with dicom-object")
}

fn text_of(obj: &dicom_object::InMemDicomObject, tag: (u16, u16)) -> String {
    obj.element(Tag(tag.0, tag.1))
        .unwrap_or_else(|_| panic!("({:04X},{:04X}) present", tag.0, tag.1))
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let (hay, needle) = (hay.to_ascii_lowercase(), needle.to_ascii_lowercase());
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The oracle's failures of the PHI search (and of dciodvfy when asked), for one pair.
fn oracle(src: &Path, out: &Path, retained: &[&str], dciodvfy: bool) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oracle.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(src)
        .arg(out)
        .args(["--profile", "none", "--json", "--retained"])
        .arg(retained.join(","));
    if dciodvfy {
        cmd.arg("--compare-dciodvfy");
    }
    let o = cmd.output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("oracle output: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .filter(|f| f.starts_with("phi_leak") || f.starts_with("dciodvfy"))
        .collect()
}

/// The fixture's public attributes a policy keeps on purpose: their own values are not PHI
/// to the oracle (Station Name under retain-device-identity, Study Date under full dates).
fn kept_keywords(b: &FileBuilder, p: &Policy) -> Vec<&'static str> {
    let mut kept: Vec<&str> = b
        .elems()
        .iter()
        .map(|e| deidfs::dicom::Tag(e.tag.0, e.tag.1))
        .filter(|t| !t.is_private() && p.public_rule(*t).action == Action::Keep)
        .filter_map(deidfs::dicom::vr::keyword)
        .collect();
    if kept.contains(&"SOPInstanceUID") {
        // The meta follows the data set's SOP Instance UID.
        kept.push("MediaStorageSOPInstanceUID");
    }
    kept
}

#[test]
fn no_identifier_survives_in_any_kept_value_under_basic_research_and_every_option() {
    common::require_pydicom();
    let dir = tempfile::tempdir().unwrap();
    let fixture = echo_ct();
    let src = fixture.build();
    let src_path = dir.path().join("src.dcm");
    std::fs::write(&src_path, &src).unwrap();
    for (name, p) in policies() {
        let (out, info) = deidentify(&src, &p);
        let out_path = dir.path().join("out.dcm");
        std::fs::write(&out_path, &out).unwrap();
        let dciodvfy = (name == "basic" || name == "research") && which("dciodvfy");
        let failures = oracle(&src_path, &out_path, &kept_keywords(&fixture, &p), dciodvfy);
        assert!(failures.is_empty(), "{name}: {failures:#?}");
        // What the oracle's byte search cannot see: identifiers in other cases and forms.
        let obj = parse(dir.path(), &out);
        for id in [FAMILY, GIVEN, MRN, OTHER_ID, ACCESSION, "1948", "4567"] {
            assert!(!contains_ci(&out, id), "{name}: {id} survives");
        }
        // The values stay, valid, with the echo masked in place.
        assert_eq!(
            text_of(&obj, IMAGE_TYPE),
            "ORIGINAL\\PRIMARY\\AXIAL\\XXXXXXXX",
            "{name}"
        );
        assert_eq!(text_of(&obj, BODY_PART), "XXXXXXXX", "{name}");
        assert!(
            info.echoes.contains(&"BodyPartExamined".to_string()),
            "{name}: {:?}",
            info.echoes
        );
        let region = &obj.element(Tag(0x0008, 0x2218)).unwrap().items().unwrap()[0];
        assert_eq!(text_of(region, CODE_MEANING), "Chest of XXXXXXXX", "{name}");
        let modifier = &region
            .element(Tag(0x0008, 0x2220))
            .unwrap()
            .items()
            .unwrap()[0];
        assert_eq!(
            text_of(modifier, CODE_MEANING),
            "left, XXXXXXXXXX",
            "{name}"
        );
        assert_eq!(
            text_of(&obj, ACQUISITION_NUMBER),
            "0",
            "{name}: IS gets its dummy"
        );
    }
}

#[test]
fn a_shifted_date_is_shifted_in_kept_text_in_the_form_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_private_kept(policy::load_builtin("research").unwrap());
    let (out, _) = deidentify(&echo_ct().build(), &p);
    let obj = parse(dir.path(), &out);
    let study = text_of(&obj, (0x0008, 0x0020));
    assert_ne!(study, STUDY_DATE, "research shifts the study date");
    let dashed = format!("{}-{}-{}", &study[..4], &study[4..6], &study[6..8]);
    let text = text_of(&obj, TEXT_VALUE);
    assert!(text.ends_with(&format!("seen {dashed}")), "{text}");
    // The birth date is removed, not shifted: every form of it is masked.
    assert!(
        text.starts_with("dob XXXXXXXXXX XXXXXXXXXX XXXXXXXXXX XXXXXXXXXXX XXXXXXXXXXXXX;"),
        "{text}"
    );
}

#[test]
fn research_removes_the_echoes_its_options_keep_in_device_and_safe_private_elements() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_private_kept(policy::load_builtin("research").unwrap());
    let (out, info) = deidentify(&echo_ct().build(), &p);
    let obj = parse(dir.path(), &out);
    assert_eq!(text_of(&obj, DETECTOR_ID), "XXXXXXXXXX");
    assert_eq!(text_of(&obj, SIEMENS_SAFE), "XXXXXXXX");
    let un = obj
        .element(Tag(UN_PRIVATE.0, UN_PRIVATE.1))
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(
        &un[..],
        b"\x01name=XXXXXXXX;id=XXXXXXXXXX\0\0",
        "same length"
    );
    for e in ["DetectorID", "(0019,xx0D) private", "(0011,xx01) private"] {
        assert!(
            info.echoes.contains(&e.to_string()),
            "{e}: {:?}",
            info.echoes
        );
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_oracle_finds_an_echo_left_in_place() {
    // The PHI search must be able to fail: the de-identified file with one echo put back.
    common::require_pydicom();
    let dir = tempfile::tempdir().unwrap();
    let fixture = echo_ct();
    let src = fixture.build();
    let p = with_private_kept(policy::load_builtin("basic").unwrap());
    let (mut out, _) = deidentify(&src, &p);
    let masked = b"ORIGINAL\\PRIMARY\\AXIAL\\XXXXXXXX";
    let at = out.windows(masked.len()).position(|w| w == masked).unwrap();
    out[at + masked.len() - 8..at + masked.len()].copy_from_slice(b"Kowalski");
    let (s, o) = (dir.path().join("s.dcm"), dir.path().join("o.dcm"));
    std::fs::write(&s, &src).unwrap();
    std::fs::write(&o, &out).unwrap();
    let failures = oracle(&s, &o, &kept_keywords(&fixture, &p), false);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("KOWALSKI") && f.contains("(0008,0008)")),
        "{failures:#?}"
    );
}

fn encoded_name_file(charset: &str, name: &[u8], echo: &[u8]) -> Vec<u8> {
    let even = |mut v: Vec<u8>| {
        if v.len() % 2 == 1 {
            v.push(b' ');
        }
        v
    };
    plain_ct("PLACEHOLDER^NAME", MRN)
        .str((0x0008, 0x0005), "CS", charset)
        .elem((0x0010, 0x0010), "PN", Value::Bytes(even(name.to_vec())))
        .elem(WINDOW_EXPLANATION, "LO", Value::Bytes(even(echo.to_vec())))
        .build()
}

#[test]
fn names_are_found_in_any_case_in_the_files_character_set() {
    let dir = tempfile::tempdir().unwrap();
    let basic = policy::load_builtin("basic").unwrap();
    for (charset, name, echo, gone) in [
        (
            "ISO_IR 100",
            &b"M\xdcLLER^J\xd6RG"[..],
            &b"j\xf6rg m\xfcller"[..],
            [&b"m\xfcller"[..], b"j\xf6rg"],
        ),
        (
            "ISO_IR 192",
            "Zoë^Núñez".as_bytes(),
            "NÚÑEZ ZOË".as_bytes(),
            ["NÚÑEZ".as_bytes(), "ZOË".as_bytes()],
        ),
    ] {
        let (out, info) = deidentify(&encoded_name_file(charset, name, echo), &basic);
        for g in gone {
            assert!(
                !out.windows(g.len()).any(|w| w == g),
                "{charset}: {g:?} survives"
            );
        }
        assert_eq!(info.echoes, ["WindowCenterWidthExplanation"], "{charset}");
        let obj = parse(dir.path(), &out);
        let explanation = obj
            .element(Tag(0x0028, 0x1055))
            .unwrap()
            .to_bytes()
            .unwrap();
        assert!(
            explanation.iter().all(|b| *b == b'X' || *b == b' '),
            "{charset}: {explanation:?}"
        );
    }
}

// Regressions: values that must stay (found on the shared corpus, or chosen).

/// The fixture CT without its echoes: the shared fixtures name the patient's other name and
/// the physicians "...^FIXTURE", and the software "FIXTURE-SW 1.0".
fn plain_ct(name: &str, id: &str) -> FileBuilder {
    fx::ct_like(name, id, 8, 8)
        .str((0x0010, 0x1001), "PN", "ROE^JANE")
        .str((0x0018, 0x1020), "LO", "SW 1.0")
}

fn basic_out(b: FileBuilder) -> (DefaultDicomObject, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (out, info) = deidentify(&b.build(), &policy::load_builtin("basic").unwrap());
    (parse(dir.path(), &out), info.echoes, dir)
}

#[test]
fn a_patient_named_like_a_body_part_keeps_the_body_part_and_loses_the_rest_of_the_name() {
    let (obj, _, _d) = basic_out(plain_ct("HEAD^JOHN", MRN).str(BODY_PART, "CS", "HEAD").str(
        WINDOW_EXPLANATION,
        "LO",
        "head of JOHN, JOHN HEAD",
    ));
    assert_eq!(
        text_of(&obj, BODY_PART),
        "HEAD",
        "a stop word is not hunted"
    );
    assert_eq!(
        text_of(&obj, WINDOW_EXPLANATION),
        "head of XXXX, XXXXXXXXX",
        "the given name alone, and the whole name written together"
    );
}

#[test]
fn placeholder_person_names_in_a_report_do_not_wipe_its_value_types() {
    // pydicom's reportsi.dcm: Person Name "Enter text", Patient Name "Last Name^First Name".
    let content = vec![
        Elem::str((0x0040, 0xA010), "CS", "HAS OBS CONTEXT"),
        Elem::str((0x0040, 0xA040), "CS", "TEXT"),
        Elem::seq((0x0040, 0xA043), vec![code("121106", "Report Text")]),
    ];
    let (obj, echoes, _d) = basic_out(
        plain_ct("Last Name^First Name", MRN)
            .str((0x0040, 0xA123), "PN", "Enter text")
            .push(Elem::seq((0x0040, 0xA730), vec![content])),
    );
    let item = &obj.element(Tag(0x0040, 0xA730)).unwrap().items().unwrap()[0];
    assert_eq!(text_of(item, (0x0040, 0xA040)), "TEXT");
    let concept = &item.element(Tag(0x0040, 0xA043)).unwrap().items().unwrap()[0];
    assert_eq!(text_of(concept, CODE_MEANING), "Report Text");
    assert!(echoes.is_empty(), "{echoes:?}");
}

#[test]
fn a_content_creator_or_institution_named_like_the_manufacturer_keeps_the_manufacturer() {
    // pydicom's Issue168.dcm (Content Creator's Name LUNIT, Manufacturer "Lunit Inc.") and
    // mf.dcm (Institution Name and Manufacturer PixelMed).
    let (obj, echoes, _d) = basic_out(
        plain_ct("KOWALSKI^MARTA", MRN)
            .str((0x0070, 0x0084), "PN", "LUNIT")
            .str((0x0008, 0x0080), "LO", "PixelMed")
            .str((0x0008, 0x0070), "LO", "Lunit Inc.")
            .str((0x0018, 0x1016), "LO", "PixelMed")
            .str((0x0008, 0x1090), "LO", "com.pixelmed.Factory"),
    );
    assert_eq!(text_of(&obj, (0x0008, 0x0070)), "Lunit Inc.");
    assert_eq!(text_of(&obj, (0x0008, 0x1090)), "com.pixelmed.Factory");
    assert!(echoes.is_empty(), "{echoes:?}");
}

#[test]
fn short_ids_do_not_wipe_numbers_and_measurements_keep_their_values() {
    let (obj, echoes, _d) = basic_out(
        plain_ct("KOWALSKI^MARTA", "1")
            .str((0x0020, 0x0010), "SH", "1234")
            .str((0x0020, 0x0013), "IS", "1")
            .str((0x0028, 0x1051), "DS", "1234")
            .str((0x0018, 0x0050), "DS", "1234.5"),
    );
    assert_eq!(text_of(&obj, (0x0020, 0x0013)), "1");
    assert_eq!(
        text_of(&obj, (0x0028, 0x1051)),
        "1234",
        "numbers need 6 digits"
    );
    assert_eq!(text_of(&obj, (0x0018, 0x0050)), "1234.5");
    assert!(echoes.is_empty(), "{echoes:?}");
}

#[test]
fn a_kept_number_equal_to_a_long_patient_id_is_replaced() {
    // pydicom's mf.dcm: Series Number 123456 and Patient ID 123456. Six digits equal to the
    // patient's ID are treated as the ID: the series number becomes 0.
    let (obj, echoes, _d) =
        basic_out(plain_ct("KOWALSKI^MARTA", "123456").str((0x0020, 0x0011), "IS", "123456"));
    assert_eq!(text_of(&obj, (0x0020, 0x0011)), "0");
    assert_eq!(echoes, ["SeriesNumber"]);
}

#[test]
fn a_kept_date_equal_to_a_date_the_policy_changes_follows_that_date() {
    // The corpus's Date of Last Calibration equal to the Study Date, kept by
    // retain-device-identity: dummied where the study date is removed, shifted with it
    // where it is shifted (research).
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0008, 0x0020), "DA", STUDY_DATE)
        .str((0x0018, 0x1200), "DA", &format!("{STUDY_DATE}\\20200101"));
    let dir = tempfile::tempdir().unwrap();
    let device =
        policy::file::with_options(Policy::bare(), &["retain-device-identity".into()]).unwrap();
    let (out, _) = deidentify(&b.build(), &device);
    let obj = parse(dir.path(), &out);
    assert_eq!(text_of(&obj, (0x0018, 0x1200)), "19000101\\20200101");
    let (out, _) = deidentify(&b.build(), &policy::load_builtin("research").unwrap());
    let obj = parse(dir.path(), &out);
    let study = text_of(&obj, (0x0008, 0x0020));
    assert_eq!(
        text_of(&obj, (0x0018, 0x1200)),
        format!("{study}\\20200101")
    );
}

#[test]
fn inspect_shows_each_echo_and_scan_counts_them_without_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.dcm"), echo_ct().build()).unwrap();
    let key = dir.path().join("k.key");
    let bin = env!("CARGO_BIN_EXE_deidfs");
    let run = |args: &[&str]| {
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["keygen", key.to_str().unwrap()]);
    let file = src.join("a.dcm");
    let inspect = run(&[
        "inspect",
        "--key-file",
        key.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    for (path, kind) in [
        ("(0008,0008) ", "echo of patient name (PatientName)"),
        ("(0018,0015) ", "echo of patient name (PatientName)"),
        ("(0028,1055) ", "birth date (PatientBirthDate)"),
        ("(0008,2218)[1]/(0008,0104) ", "patient name"),
        (
            "(0008,2218)[1]/(0008,2220)[1]/(0008,0104) ",
            "patient ID (PatientID)",
        ),
        ("(0018,0024) ", "patient ID"),
        ("(0018,9004) ", "ID or number (AccessionNumber)"),
        ("(0020,0012) ", "patient ID (OtherPatientIDs)"),
        ("(0040,A160) ", "phone number (PatientTelephoneNumbers)"),
    ] {
        let line = inspect
            .lines()
            .find(|l| l.starts_with(path))
            .unwrap_or_else(|| panic!("{path}: no line\n{inspect}"));
        assert!(line.contains(" echo ") && line.contains(kind), "{line}");
    }
    let scan = run(&["scan", "--policy", "basic", src.to_str().unwrap()]);
    assert!(scan.contains("files with echoes: 1"), "{scan}");
    for element in ["BodyPartExamined", "ImageType", "CodeMeaning", "TextValue"] {
        assert!(
            scan.lines()
                .any(|l| l.trim_start().starts_with(element) && l.trim_end().ends_with(" 1")),
            "{element}: {scan}"
        );
    }
    for id in [FAMILY, GIVEN, MRN, ACCESSION, BIRTH] {
        assert!(!contains_ci(scan.as_bytes(), id), "scan shows {id}");
    }
}

// Regressions from a review of the first version (each a way an identifier survived, or a
// value was damaged).

fn explanation_after(b: FileBuilder, p: &Policy) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = deidentify(&b.build(), p);
    text_of(&parse(dir.path(), &out), WINDOW_EXPLANATION)
}

#[test]
fn hyphenated_and_short_names_are_found_by_part_and_written_together() {
    let basic = policy::load_builtin("basic").unwrap();
    let b = plain_ct("SMITH-JONES^MARY", MRN).str(WINDOW_EXPLANATION, "LO", "Jones, Mary");
    assert_eq!(explanation_after(b, &basic), "XXXXX, XXXX");
    let b = plain_ct("LI^XU", MRN).str(WINDOW_EXPLANATION, "LO", "XU LI w1");
    assert_eq!(explanation_after(b, &basic), "XXXXX w1");
}

#[test]
fn more_date_forms_an_old_style_birth_date_and_a_prefixed_id_are_found() {
    let basic = policy::load_builtin("basic").unwrap();
    let plain_ct = |name, id| plain_ct(name, id).str((0x0010, 0x0030), "DA", BIRTH);
    for (written, expected) in [
        ("d 13071948", "d XXXXXXXX"),
        ("d 07131948", "d XXXXXXXX"),
        ("Jul. 13, 1948", "XXXXXXXXXXXXX"),
        ("1948-JUL-13", "XXXXXXXXXXX"),
    ] {
        let b = plain_ct("KOWALSKI^MARTA", MRN).str(WINDOW_EXPLANATION, "LO", written);
        assert_eq!(explanation_after(b, &basic), expected, "{written}");
    }
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0010, 0x0030), "DA", "1948.07.13")
        .str(WINDOW_EXPLANATION, "LO", "b 19480713");
    assert_eq!(
        explanation_after(b, &basic),
        "b XXXXXXXX",
        "ACR-NEMA birth date"
    );
    let b = plain_ct("KOWALSKI^MARTA", MRN).str(WINDOW_EXPLANATION, "LO", "MRN 48213");
    assert_eq!(
        explanation_after(b, &basic),
        "MRN XXXXX",
        "the number of a prefixed ID"
    );
}

#[test]
fn the_makers_name_excuses_people_and_institutions_only_and_a_model_name_excuses_nothing() {
    let basic = policy::load_builtin("basic").unwrap();
    // An institution in the model name is an echo there, not the maker.
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0008, 0x0080), "LO", "MERCY HOSPITAL")
        .str((0x0008, 0x1090), "LO", "MERCY HOSPITAL CT1")
        .str(WINDOW_EXPLANATION, "LO", "MERCY HOSPITAL");
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = deidentify(&b.build(), &basic);
    let obj = parse(dir.path(), &out);
    assert_eq!(text_of(&obj, WINDOW_EXPLANATION), "XXXXXXXXXXXXXX");
    assert_eq!(text_of(&obj, (0x0008, 0x1090)), "XXXXXXXXXXXXXX CT1");
    // An accession number that happens to be a word of the software version is still an ID.
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0008, 0x0050), "SH", "AX20240")
        .str((0x0018, 0x1020), "LO", "VX AX20240")
        .str(WINDOW_EXPLANATION, "LO", "acc AX20240");
    assert_eq!(explanation_after(b, &basic), "acc XXXXXXX");
}

#[test]
fn a_station_name_and_a_location_are_removed_from_cleaned_descriptions() {
    let p = policy::file::with_options(Policy::bare(), &["clean-descriptors".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0008, 0x1010), "SH", "MERCYCT1")
        .str((0x0040, 0x0243), "SH", "Mercy Trust")
        .str((0x0008, 0x1030), "LO", "CT head MERCYCT1 Mercy Trust");
    let (out, _) = deidentify(&b.build(), &p);
    assert_eq!(
        text_of(&parse(dir.path(), &out), (0x0008, 0x1030)),
        "CT head XXXXXXXX XXXXXXXXXXX"
    );
}

#[test]
fn values_cleaned_or_written_with_another_vr_are_searched_too() {
    // A `clean` override on a CS, and Body Part Examined written with a binary VR.
    let p = policy::file::parse(
        "extends = \"basic\"\n[[override]]\nkeyword = \"BodyPartExamined\"\naction = \"clean\"\n",
        "t.toml",
        None,
        0,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = deidentify(
        &plain_ct("KOWALSKI^MARTA", MRN)
            .str(BODY_PART, "CS", FAMILY)
            .build(),
        &p,
    );
    assert_eq!(text_of(&parse(dir.path(), &out), BODY_PART), "XXXXXXXX");
    let basic = policy::load_builtin("basic").unwrap();
    let b = plain_ct("KOWALSKI^MARTA", MRN).elem(
        BODY_PART,
        "OB",
        Value::Bytes(FAMILY.as_bytes().to_vec()),
    );
    let (out, info) = deidentify(&b.build(), &basic);
    assert!(!contains_ci(&out, FAMILY), "{:?}", info.echoes);
}

#[test]
fn codes_and_short_numbers_stay_when_a_study_id_is_a_short_number() {
    let basic = policy::load_builtin("basic").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = plain_ct("KOWALSKI^MARTA", MRN)
        .str((0x0020, 0x0010), "SH", "2024")
        .str((0x0008, 0x1040), "LO", "Radiology")
        .str(WINDOW_EXPLANATION, "LO", "Series 2024 Radiology window")
        .push(Elem::seq(
            ANATOMIC_REGION,
            vec![code("2024", "Radiology region")],
        ));
    let (out, echoes) = deidentify(&b.build(), &basic);
    let obj = parse(dir.path(), &out);
    assert_eq!(
        text_of(&obj, WINDOW_EXPLANATION),
        "Series 2024 Radiology window"
    );
    let region = &obj.element(Tag(0x0008, 0x2218)).unwrap().items().unwrap()[0];
    assert_eq!(text_of(region, (0x0008, 0x0100)), "2024");
    assert!(echoes.echoes.is_empty(), "{:?}", echoes.echoes);
}

#[test]
fn a_short_number_in_a_name_does_not_wipe_a_software_version() {
    // The corpus's RT.dcm: a subject number in the patient's name, and a version string.
    let (obj, echoes, _d) = basic_out(plain_ct("SUBJECT^101", MRN).str(
        (0x0018, 0x1020),
        "LO",
        "1.6.5 (v1.6.5-101-g477f95b)",
    ));
    assert_eq!(
        text_of(&obj, (0x0018, 0x1020)),
        "1.6.5 (v1.6.5-101-g477f95b)"
    );
    assert!(echoes.is_empty(), "{echoes:?}");
}

#[test]
fn files_of_a_series_planned_by_one_engine_get_exactly_the_identifiers_each_has_alone() {
    // The engine compiles identifiers once per set of inputs: a file that differs from the
    // one before in one identifier (an operator, a charset, a maker) must not get the
    // other's. Each output equals that of an engine that saw only that file.
    let p = policy::load_builtin("basic").unwrap();
    let file = |operator: &str, charset: Option<&str>, maker: &str| {
        let b = plain_ct("KOWALSKI^MARTA", MRN)
            .str((0x0008, 0x1070), "PN", operator)
            .str((0x0008, 0x0070), "LO", maker)
            .str(
                WINDOW_EXPLANATION,
                "LO",
                "by NOWAK, checked by WIŚNIEWSKI and Lunit",
            );
        match charset {
            Some(cs) => b.str((0x0008, 0x0005), "CS", cs),
            None => b,
        }
        .build()
    };
    let series = [
        file("NOWAK^ADAM", None, "Acme"),
        file("NOWAK^ADAM", None, "Acme"),
        file("WIŚNIEWSKI^EWA", Some("ISO_IR 192"), "Acme"),
        file("LUNIT^OPERATOR", None, "Acme"),
        file("LUNIT^OPERATOR", None, "Lunit Inc."),
        file("NOWAK^ADAM", None, "Acme"),
    ];
    let keys = keys();
    let shared = Engine::new(&p, &keys);
    for (i, src) in series.iter().enumerate() {
        let src = src.to_vec();
        let alone = Engine::new(&p, &keys).plan(&src).unwrap();
        let together = shared.plan(&src).unwrap();
        assert_eq!(
            together.plan.to_vec(&src).unwrap(),
            alone.plan.to_vec(&src).unwrap(),
            "file {i} planned after the others"
        );
        assert_eq!(together.info.echoes, alone.info.echoes, "file {i}");
    }
    let explanation = |src: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let out = shared
            .plan(&src.to_vec())
            .unwrap()
            .plan
            .to_vec(&src.to_vec())
            .unwrap();
        text_of(&parse(dir.path(), &out), WINDOW_EXPLANATION)
    };
    let first = explanation(&series[0]);
    assert!(
        first.starts_with("by XXXXX, checked by WI") && first.ends_with("NIEWSKI and Lunit"),
        "{first}"
    );
    assert!(!explanation(&series[2]).contains("WIŚNIEWSKI"));
    assert!(explanation(&series[2]).contains("NOWAK"));
    assert!(
        !explanation(&series[3]).contains("Lunit"),
        "an operator, not the maker"
    );
}
