//! Engine tests on synthetic files built by an independent writer (tests/common/fixtures/)
//! and read back by an independent reader (dicom-object).

mod common;

use common::fixtures::{self as fx, Elem, FileBuilder, Ts, Value};
use deidfs::deid::{DeidError, Engine, Refusal};
use deidfs::policy::{self, Policy};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use dicom_core::Tag;
use dicom_object::DefaultDicomObject;

fn keys(n: u8) -> Pseudonyms {
    Pseudonyms::new(&SecretKey::from_bytes([n; 32]))
}

fn basic() -> Policy {
    policy::load_builtin("basic").unwrap()
}

fn run(src: &[u8], policy: &Policy, keys: &Pseudonyms) -> Result<Vec<u8>, DeidError> {
    let outcome = Engine::new(policy, keys).plan(&src.to_vec())?;
    let bytes = outcome.plan.to_vec(&src.to_vec()).unwrap();
    assert_eq!(
        bytes.len() as u64,
        outcome.plan.len(),
        "plan length is the file size"
    );
    Ok(bytes)
}

fn parse(bytes: &[u8]) -> DefaultDicomObject {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.dcm");
    std::fs::write(&p, bytes).unwrap();
    dicom_object::open_file(&p).expect("output parses with dicom-object")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn text(obj: &DefaultDicomObject, tag: (u16, u16)) -> Option<String> {
    obj.element_opt(Tag(tag.0, tag.1)).ok().flatten().map(|e| {
        e.to_str()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    })
}

fn variants() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ct explicit LE", fx::ct_default().build()),
        (
            "mr",
            fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 8, 8).build(),
        ),
        (
            "ct implicit undefined lengths",
            fx::ct_implicit_undefined_lengths().build(),
        ),
        ("ct explicit BE", fx::ct_explicit_be().build()),
        ("ct deflated", fx::ct_deflated().build()),
        ("bare implicit", fx::bare_implicit().build()),
        ("bare explicit", fx::bare_explicit().build()),
        ("jpeg baseline", fx::jpeg_baseline().build()),
        (
            "jpeg two frames",
            fx::jpeg_baseline_two_frames()
                .remove((0x0028, 0x0301))
                .str((0x0008, 0x0060), "CS", "XA")
                .sop("1.2.840.10008.5.1.4.1.1.12.1", fx::US_SOP_INSTANCE_UID)
                .build(),
        ),
        (
            "trailing after pixel data",
            fx::trailing_after_pixel_data().build(),
        ),
        (
            "cp246 private UN sequence",
            fx::cp246_private_un_sequence().build(),
        ),
        (
            "cp246 public UN sequence",
            fx::cp246_public_un_sequence().build(),
        ),
        (
            "explicit meta implicit body",
            fx::explicit_meta_implicit_body().build(),
        ),
        ("nested 12", fx::nested(12).build()),
        ("overlays and curves", fx::overlays_and_curves().build()),
    ]
}

#[test]
fn every_variant_is_deidentified_without_phi() {
    // Some fixtures are secondary captures (refused for burned-in risk by default).
    let (mut policy, k) = (basic(), keys(1));
    policy.refuse_modalities.clear();
    policy.refuse_sop_classes.clear();
    for (name, src) in variants() {
        let out = run(&src, &policy, &k).unwrap_or_else(|e| panic!("{name}: {e}"));
        let obj = parse(&out);
        for phi in fx::PHI_STRINGS.iter().chain(fx::PHI_UIDS) {
            assert!(
                find(&out, phi.as_bytes()).is_none(),
                "{name}: {phi:?} survived"
            );
        }
        assert_eq!(
            text(&obj, (0x0012, 0x0062)).as_deref(),
            Some("YES"),
            "{name}"
        );
        let sop = text(&obj, (0x0008, 0x0018)).unwrap_or_default();
        assert!(sop.starts_with("2.25."), "{name}: SOP Instance UID {sop}");
        assert_eq!(
            obj.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            sop,
            "{name}: meta follows"
        );
        for (g, e) in [
            (0x0009u16, 0x0010u16),
            (0x0009, 0x1001),
            (0x6000, 0x3000),
            (0x5000, 0x3000),
            (0xFFFC, 0xFFFC),
            (0xFFFA, 0xFFFA),
        ] {
            assert!(
                obj.element_opt(Tag(g, e)).unwrap().is_none(),
                "{name}: ({g:04X},{e:04X}) survived"
            );
        }
        // Deterministic: same input, key and policy give the same bytes.
        assert_eq!(
            run(&src, &policy, &k).unwrap(),
            out,
            "{name}: deterministic"
        );
    }
}

#[test]
fn pixel_data_is_byte_identical_and_served_from_the_source() {
    let (policy, k) = (basic(), keys(1));
    for (name, b) in [
        ("ct", fx::ct_like("A^B", "X1", 64, 64)),
        ("jpeg", fx::jpeg_baseline()),
    ] {
        let src = b.build();
        let el = b.get((0x7FE0, 0x0010)).unwrap();
        let outcome = Engine::new(&policy, &k).plan(&src).unwrap();
        let out = outcome.plan.to_vec(&src).unwrap();
        match &el.value {
            Value::Bytes(px) => {
                let at = find(&out, px).unwrap_or_else(|| panic!("{name}: pixels not found"));
                assert_eq!(&out[at..at + px.len()], &px[..]);
            }
            Value::U16(px) => {
                let bytes: Vec<u8> = px.iter().flat_map(|v| v.to_le_bytes()).collect();
                assert!(find(&out, &bytes).is_some(), "{name}: pixels not found");
            }
            Value::Encapsulated { fragments, .. } => {
                for f in fragments {
                    assert!(find(&out, f).is_some(), "{name}: fragment not found");
                }
            }
            _ => panic!("unexpected pixel value kind"),
        }
        if name == "ct" {
            let from_source = outcome.plan.len() - outcome.plan.inline_bytes();
            assert!(
                from_source >= 64 * 64 * 2,
                "pixel bytes are a source range, not copied: {from_source}"
            );
        }
    }
}

#[test]
fn uids_are_consistent_across_files_and_keys_unlink() {
    let policy = basic();
    let a = fx::ct_default().build();
    let b = fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 8, 8).build();
    let (oa, ob) = (
        parse(&run(&a, &policy, &keys(1)).unwrap()),
        parse(&run(&b, &policy, &keys(1)).unwrap()),
    );
    // Same study, same patient: same pseudonyms in both files.
    assert_eq!(text(&oa, (0x0020, 0x000D)), text(&ob, (0x0020, 0x000D)));
    assert_eq!(text(&oa, (0x0010, 0x0020)), text(&ob, (0x0010, 0x0020)));
    assert_ne!(text(&oa, (0x0008, 0x0018)), text(&ob, (0x0008, 0x0018)));
    // Another key: nothing in common.
    let other = parse(&run(&a, &policy, &keys(2)).unwrap());
    for tag in [
        (0x0020, 0x000D),
        (0x0008, 0x0018),
        (0x0010, 0x0020),
        (0x0010, 0x0010),
    ] {
        assert_ne!(text(&oa, tag), text(&other, tag), "{tag:?}");
    }
    // Well-known UIDs are never remapped.
    assert_eq!(
        text(&oa, (0x0008, 0x0016)).as_deref(),
        Some(fx::CT_IMAGE_STORAGE)
    );
}

#[test]
fn refusals_fail_closed() {
    let (policy, k) = (basic(), keys(1));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dicomdir", fx::dicomdir_like().build(), "dicomdir"),
        ("pdf", fx::encapsulated_pdf().build(), "document"),
        (
            "burned in",
            fx::ct_burned_in_annotation().build(),
            "burned-in-annotation",
        ),
        (
            "us",
            fx::us_image().remove((0x0028, 0x0301)).build(),
            "burned-in-risk",
        ),
        ("deep", fx::nested(40).build(), "too-deep"),
        ("not dicom", b"%PDF-1.4 hello".to_vec(), "not-dicom"),
    ];
    for (name, src, reason) in cases {
        match Engine::new(&policy, &k).plan(&src) {
            Err(DeidError::Refused(r)) => assert_eq!(r.reason(), reason, "{name}: {r}"),
            other => panic!(
                "{name}: expected refusal {reason}, got {:?}",
                other.map(|o| o.plan.len())
            ),
        }
    }
}

#[test]
fn an_allowed_modality_is_processed() {
    let p = policy::file::parse(
        "extends = \"basic\"\n[[allow]]\nmodality = \"US\"\nmanufacturer = \"FIXTURE-US-VENDOR\"\n",
        "t.toml",
        None,
        0,
    )
    .unwrap();
    let src = fx::us_image()
        .remove((0x0028, 0x0301))
        .str((0x0008, 0x0070), "LO", "FIXTURE-US-VENDOR")
        .build();
    run(&src, &p, &keys(1)).unwrap();
    assert!(run(&src, &basic(), &keys(1)).is_err());
}

/// Issue 13: a file cut exactly between two elements walks as a well-formed data set. Cut
/// there, or at any byte, before the part that tells a cut from a whole object (the pixels,
/// a report's content, the series), it is refused; it never reaches a reader as complete.
#[test]
fn a_file_cut_at_any_element_boundary_or_byte_is_not_served() {
    use common::cuts::{boundaries, must_refuse, outcome};
    let (mut policy, k) = (basic(), keys(1));
    policy.refuse_modalities.clear();
    policy.refuse_sop_classes.clear();
    for (name, src) in [
        ("ct", fx::ct_like("A^B", "X1", 16, 16).build()),
        ("mr", fx::mr_like("A^B", "X1", 8, 8).build()),
        (
            "implicit, undefined lengths",
            fx::ct_implicit_undefined_lengths().build(),
        ),
        ("explicit big endian", fx::ct_explicit_be().build()),
        (
            "jpeg, two frames",
            fx::jpeg_baseline_two_frames()
                .str((0x0028, 0x0301), "CS", "NO")
                .build(),
        ),
        ("report", fx::nested(8).build()),
    ] {
        outcome(&policy, &k, &src).unwrap_or_else(|r| panic!("{name}: whole file refused: {r}"));
        let [(0, end)] = must_refuse(&src).expect("not deflated")[..] else {
            panic!("{name}: a standard class tells a cut up to one end");
        };
        let at_boundaries = boundaries(&src).into_iter().filter(|&b| b < end);
        let at_bytes = (1..end).step_by(7);
        let mut cuts = 0;
        for cut in at_boundaries.chain(at_bytes) {
            cuts += 1;
            if outcome(&policy, &k, &src[..cut as usize]).is_ok() {
                panic!("{name}: cut at byte {cut} of {} is served", src.len());
            }
        }
        assert!(cuts > 20, "{name}: {cuts} cuts");
    }
    // A deflated data set cut anywhere fails to inflate.
    let src = fx::ct_deflated().build();
    for cut in (200..src.len()).step_by(5) {
        assert!(
            outcome(&policy, &k, &src[..cut]).is_err(),
            "deflated cut at {cut} served"
        );
    }
}

/// Regression (issue 13): a slice of a real MR series was followed by 2.5 MB of zeros and
/// refused as `unknown-vr "\0\0"`, so the view had one slice fewer than the source.
#[test]
fn a_tail_of_zeros_after_the_data_set_is_left_out_and_anything_else_still_fails() {
    let (policy, k) = (basic(), keys(1));
    for (name, b) in [
        ("explicit", fx::ct_like("A^B", "X1", 16, 16)),
        ("implicit", fx::ct_implicit_undefined_lengths()),
    ] {
        let src = b.build();
        let expected = run(&src, &policy, &k).unwrap();
        for zeros in [1, 5, 8, 9, 4096, 3 << 20] {
            let padded = [src.clone(), vec![0u8; zeros]].concat();
            let got = run(&padded, &policy, &k).unwrap_or_else(|e| panic!("{name} +{zeros}: {e}"));
            assert!(
                got == expected,
                "{name} +{zeros} zeros: served as the unpadded file"
            );
        }
        for tail in [
            vec![0xFFu8; 16],
            [vec![0u8; 4096], vec![1]].concat(),
            vec![7u8; 5],
        ] {
            let bad = [src.clone(), tail.clone()].concat();
            match run(&bad, &policy, &k) {
                Err(DeidError::Refused(Refusal::Malformed(_))) => {}
                other => panic!(
                    "{name}: a tail of {} bytes that are not all zeros: {:?}",
                    tail.len(),
                    other.map(|o| o.len())
                ),
            }
        }
    }
}

#[test]
fn research_policy_shifts_dates_per_patient_and_cleans_text() {
    let research = policy::load_builtin("research").unwrap();
    let k = keys(7);
    let a = parse(&run(&fx::ct_default().build(), &research, &k).unwrap());
    let b = parse(
        &run(
            &fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 8, 8).build(),
            &research,
            &k,
        )
        .unwrap(),
    );
    let shifted = text(&a, (0x0008, 0x0020)).unwrap();
    assert_ne!(shifted, fx::STUDY_DATE);
    assert_eq!(shifted.len(), 8);
    assert_eq!(
        text(&b, (0x0008, 0x0020)).unwrap(),
        shifted,
        "one patient, one offset"
    );
    let other = fx::ct_like("OTHER^PERSON", "PID-OTHER-0002", 8, 8).build();
    let c = parse(&run(&other, &research, &k).unwrap());
    // Another patient gets another offset (1 in 3652 chance of equality for a given key).
    assert_ne!(text(&c, (0x0008, 0x0020)).unwrap(), shifted);
    assert_eq!(text(&a, (0x0028, 0x0303)).as_deref(), Some("MODIFIED"));
    assert_eq!(
        text(&a, (0x0010, 0x0040)).as_deref(),
        Some(fx::PATIENT_SEX),
        "patient characteristics kept"
    );
    let codes = common::method_codes(&a);
    for code in [
        "113100", "113107", "113108", "113109", "113111", "113105", "113103",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} in {codes:?}");
    }
}

#[test]
fn retain_safe_private_is_creator_aware() {
    let p = policy::file::with_options(basic(), &["retain-safe-private".into()]).unwrap();
    let row = deidfs::policy::generated::SAFE_PRIVATE
        .iter()
        .find(|r| r.vr == "DS")
        .unwrap();
    let src = fx::ct_default()
        .elem((row.group, 0x0010), "LO", Value::str(row.creator))
        .elem(
            (row.group, 0x1000 | u16::from(row.element)),
            "DS",
            Value::str("1.5"),
        )
        .elem((row.group, 0x0011), "LO", Value::str("NOT A SAFE CREATOR"))
        .elem(
            (row.group, 0x1100 | u16::from(row.element)),
            "DS",
            Value::str("2.5"),
        )
        .build();
    let obj = parse(&run(&src, &p, &keys(1)).unwrap());
    assert_eq!(
        text(&obj, (row.group, 0x1000 | u16::from(row.element))).as_deref(),
        Some("1.5")
    );
    assert_eq!(
        text(&obj, (row.group, 0x0010)).as_deref(),
        Some(row.creator)
    );
    assert!(
        text(&obj, (row.group, 0x1100 | u16::from(row.element))).is_none(),
        "same element, other creator"
    );
    assert!(
        text(&obj, (row.group, 0x0011)).is_none(),
        "creator of an emptied block goes"
    );
    assert!(
        text(&obj, (0x0009, 0x1001)).is_none(),
        "ACME block still removed"
    );
}

/// A different valid date for each `n` below 672.
fn unique_date(n: usize) -> String {
    format!(
        "{}{:02}{:02}",
        1950 + n / 336,
        1 + (n / 28) % 12,
        1 + n % 28
    )
}

/// One element per exact-tag row of Table E.1-1, with a value valid for its dictionary VR.
fn every_table_attribute() -> Vec<(u16, u16, &'static str, Elem)> {
    use deidfs::policy::table_types::TagPattern;
    let mut out = Vec::new();
    for (n, row) in deidfs::policy::generated::PROFILE_TABLE.iter().enumerate() {
        let TagPattern::Exact(g, e) = row.tag else {
            continue;
        };
        // Meta and command groups are not data set attributes; a document or a directory
        // record would make the whole file refused (tested elsewhere).
        if g <= 0x0004 || (g, e) == (0x0042, 0x0011) || (g, e) == (0x0004, 0x1220) {
            continue;
        }
        let vr = deidfs::dicom::vr::dictionary_vr(deidfs::dicom::Tag(g, e));
        let code = vr.to_string();
        let value = match code {
            "SQ" => Value::seq(vec![vec![Elem::str((0x0008, 0x0100), "SH", "CODE1")]]),
            // A date of its own per attribute: a kept date equal to one the policy removes
            // would be an echo of it (and is tested as one elsewhere).
            "DA" => Value::str(&unique_date(n)),
            "DT" => Value::str(&format!("{}030405", unique_date(n))),
            "TM" => Value::str("030405"),
            "UI" => Value::str(&format!("1.2.826.0.1.3680043.10.1047.{n}")),
            "AS" => Value::str("042Y"),
            "DS" | "IS" => Value::str("7"),
            "CS" => Value::str("VALUE"),
            "AE" => Value::str("AETITLE"),
            "UR" => Value::str("http://example.org/x"),
            "US" | "SS" => Value::Bytes(vec![7, 0]),
            "UL" | "SL" | "FL" | "AT" => Value::Bytes(vec![7, 0, 0, 0]),
            "FD" | "SV" | "UV" => Value::Bytes(vec![7, 0, 0, 0, 0, 0, 0, 0]),
            "UN" => continue,
            "OB" | "OW" | "OD" | "OF" | "OL" | "OV" => Value::Bytes(vec![7, 7, 7, 7]),
            _ => Value::str(&format!("TEXT{n}")),
        };
        out.push((g, e, row.basic, Elem::new((g, e), code, value)));
    }
    out
}

/// What the standard's action means for the output, checked with dicom-object.
#[allow(clippy::too_many_arguments)]
fn check_fate(
    obj: &dicom_object::InMemDicomObject,
    g: u16,
    e: u16,
    vr: &str,
    action: deidfs::policy::Action,
    code: &str,
    original: &Elem,
    at: &str,
) {
    use deidfs::policy::Action;
    let el = obj.element_opt(Tag(g, e)).unwrap();
    let what = format!("{at} ({g:04X},{e:04X}) {vr} {code} -> {action:?}");
    if action == Action::Remove {
        assert!(el.is_none(), "{what}: should be removed");
        return;
    }
    let el = el.unwrap_or_else(|| panic!("{what}: should be present"));
    if vr == "SQ" {
        let n = el.items().map_or(0, |i| i.len());
        let expect_empty = action == Action::Empty && code != "X/Z";
        assert_eq!(n == 0, expect_empty, "{what}: items {n}");
        return;
    }
    let bytes = el.to_bytes().unwrap().to_vec();
    let orig = match &original.value {
        Value::Bytes(b) => b.clone(),
        Value::Str(s) => s.as_bytes().to_vec(),
        _ => unreachable!(),
    };
    let trimmed = |b: &[u8]| -> Vec<u8> {
        let mut v = b.to_vec();
        while v.last().is_some_and(|c| *c == 0 || *c == b' ') {
            v.pop();
        }
        v
    };
    match action {
        Action::Keep => assert_eq!(trimmed(&bytes), trimmed(&orig), "{what}"),
        Action::Empty => assert!(bytes.is_empty(), "{what}: {bytes:?}"),
        Action::Uid => {
            assert!(
                bytes.starts_with(b"2.25."),
                "{what}: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Action::Dummy if matches!(original.value, Value::Bytes(_)) => {
            assert!(
                bytes.len() == orig.len() && bytes.iter().all(|b| *b == 0),
                "{what}: binary dummy is zeros"
            );
        }
        Action::Dummy => {
            assert!(
                !trimmed(&bytes).is_empty() || vr == "UR",
                "{what}: dummy must not be empty"
            );
            assert_ne!(trimmed(&bytes), trimmed(&orig), "{what}: dummy must differ");
        }
        Action::Clean => {
            if vr == "DA" || vr == "DT" {
                assert_ne!(trimmed(&bytes), trimmed(&orig), "{what}: date shifted");
            }
        }
        Action::Pseudonym | Action::Remove => {}
    }
}

#[test]
fn every_attribute_of_table_e1_1_under_basic_and_each_option_at_two_depths() {
    use deidfs::policy::ProfileOption;
    let attrs = every_table_attribute();
    assert!(attrs.len() > 550, "most rows covered: {}", attrs.len());
    // Top level, and again inside an item of a sequence the profile keeps (VOI LUT Sequence).
    let mut b = FileBuilder::new(Ts::ExplicitLE)
        .sop(fx::CT_IMAGE_STORAGE, "1.2.3.4.5")
        .str((0x0008, 0x0060), "CS", "CT");
    let nested: Vec<Elem> = attrs.iter().map(|(_, _, _, el)| el.clone()).collect();
    for (_, _, _, el) in &attrs {
        b = b.push(el.clone());
    }
    b = b.push(Elem::seq((0x0028, 0x3010), vec![nested]));
    // An image needs its pixels to be served.
    b = b
        .push(Elem::us((0x0028, 0x0010), 2))
        .push(Elem::us((0x0028, 0x0011), 2))
        .push(Elem::us((0x0028, 0x0100), 16))
        .str((0x0028, 0x0004), "CS", "MONOCHROME2")
        .elem((0x7FE0, 0x0010), "OW", Value::Bytes(vec![0; 8]));
    let src = b.build();
    let mut sets: Vec<Vec<ProfileOption>> = vec![vec![]];
    sets.extend(ProfileOption::ALL.iter().map(|o| vec![*o]));
    for opts in sets {
        let names: Vec<String> = opts.iter().map(|o| o.name().to_string()).collect();
        let p = policy::file::with_options(Policy::bare(), &names).unwrap();
        let out = run(&src, &p, &keys(1)).unwrap_or_else(|e| panic!("{names:?}: {e}"));
        let obj = parse(&out);
        let item = &obj.element(Tag(0x0028, 0x3010)).unwrap().items().unwrap()[0];
        for (g, e, code, el) in &attrs {
            let rule = p.public_rule(deidfs::dicom::Tag(*g, *e));
            // The expected action comes from the table row and the option column directly.
            let row = deidfs::policy::generated::PROFILE_TABLE
                .iter()
                .find(|r| r.tag == deidfs::policy::table_types::TagPattern::Exact(*g, *e))
                .unwrap();
            let col = opts
                .first()
                .and_then(|o| o.column())
                .map(|c| row.options[c])
                .unwrap_or("");
            let expected_code = if col.is_empty() { *code } else { col };
            let expected = deidfs::policy::Action::parse(expected_code).unwrap();
            assert_eq!(rule.action, expected, "({g:04X},{e:04X}) {names:?}");
            let vr = el.vr_str().to_string();
            check_fate(
                &obj,
                *g,
                *e,
                &vr,
                expected,
                expected_code,
                el,
                &format!("top {names:?}"),
            );
            check_fate(
                item,
                *g,
                *e,
                &vr,
                expected,
                expected_code,
                el,
                &format!("nested {names:?}"),
            );
        }
    }
}

#[test]
fn clean_descriptors_removes_identifiers_not_the_description() {
    let p = policy::file::with_options(basic(), &["clean-descriptors".into()]).unwrap();
    let src = fx::ct_default()
        .str((0x0008, 0x103E), "LO", "AXIAL CHEST 1.25mm")
        .str((0x0008, 0x1030), "LO", "CT CHEST FOR DOE 20230914")
        .build();
    let obj = parse(&run(&src, &p, &keys(1)).unwrap());
    assert_eq!(
        text(&obj, (0x0008, 0x103E)).as_deref(),
        Some("AXIAL CHEST 1.25mm")
    );
    assert_eq!(
        text(&obj, (0x0008, 0x1030)).as_deref(),
        Some("CT CHEST FOR XXX XXXXXXXX")
    );
}

#[test]
fn meta_never_carries_the_original_sop_instance_uid() {
    // Regression: an override other than `uid` on SOP Instance UID left the original in the meta.
    let p = policy::file::parse(
        "extends = \"basic\"\n[[override]]\nkeyword = \"SOPInstanceUID\"\naction = \"dummy\"\n",
        "t.toml",
        None,
        0,
    )
    .unwrap();
    let out = run(&fx::ct_default().build(), &p, &keys(1)).unwrap();
    assert!(find(&out, fx::CT_SOP_INSTANCE_UID.as_bytes()).is_none());
}

#[test]
fn nested_patient_ids_get_their_own_pseudonym() {
    // Regression: a nested Patient ID (another record) took the file's patient token.
    let other = vec![Elem::str((0x0010, 0x0020), "LO", "PID-OTHER-7")];
    let src = fx::ct_default()
        .push(Elem::seq((0x0010, 0x1002), vec![other]))
        .build();
    let p = policy::file::parse(
        "extends = \"basic\"\n[[override]]\nkeyword = \"OtherPatientIDsSequence\"\naction = \"keep\"\n",
        "t.toml",
        None,
        0,
    )
    .unwrap();
    let obj = parse(&run(&src, &p, &keys(1)).unwrap());
    let top = text(&obj, (0x0010, 0x0020)).unwrap();
    let item = &obj.element(Tag(0x0010, 0x1002)).unwrap().items().unwrap()[0];
    let nested = item
        .element(Tag(0x0010, 0x0020))
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(nested, top);
    assert_ne!(nested, "PID-OTHER-7");
}

#[test]
fn the_fixture_writer_shares_no_code_with_deidfs_or_a_dicom_library() {
    // The fixtures are an oracle only while nothing but `std` goes into them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/fixtures");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let at = format!("{}:{}: {line}", path.display(), n + 1);
            assert!(!code.contains("deidfs") && !code.contains("dicom_"), "{at}");
            let code = code.strip_prefix("pub ").unwrap_or(code);
            if let Some(used) = code.strip_prefix("use ") {
                assert!(
                    ["std::", "super::", "{"]
                        .iter()
                        .any(|p| used.starts_with(p)),
                    "{at}: only std and the fixtures' own modules"
                );
            }
        }
        files += 1;
    }
    assert!(files >= 10, "{} holds {files} files", dir.display());
}

fn patient_id_out(src: &[u8], p: &Policy) -> String {
    text(&parse(&run(src, p, &keys(3)).unwrap()), (0x0010, 0x0020)).unwrap()
}

fn with_identity(list: &str) -> Policy {
    policy::file::parse(
        &format!("extends = \"basic\"\npatient_identity = {list}\n"),
        "t.toml",
        None,
        0,
    )
    .unwrap()
}

#[test]
fn the_default_patient_identity_keeps_the_pseudonyms_of_earlier_versions() {
    let src = fx::ct_like("DOE^JANE", "PID-7", 8, 8)
        .str((0x0010, 0x0021), "LO", "HOSP-A")
        .build();
    let expected = keys(3).patient_token(b"id\0HOSP-A\0PID-7");
    assert_eq!(patient_id_out(&src, &basic()), expected);
}

#[test]
fn patient_identity_is_configurable_issuer_and_id_by_default() {
    let file = |issuer: &str, id: &str, name: &str, birth: &str| {
        fx::ct_like(name, id, 8, 8)
            .str((0x0010, 0x0021), "LO", issuer)
            .str((0x0010, 0x0030), "DA", birth)
            .build()
    };
    let (a, b) = (
        file("HOSP-A", "PID-7", "DOE^JANE", "19450317"),
        file("HOSP-B", "PID-7", "DOE^JANE", "19450317"),
    );
    // By default the issuer separates two patients with the same ID...
    assert_ne!(patient_id_out(&a, &basic()), patient_id_out(&b, &basic()));
    // ...after a merger the ID alone may be the patient.
    let by_id = with_identity("[\"PatientID\"]");
    assert_eq!(patient_id_out(&a, &by_id), patient_id_out(&b, &by_id));
    // Archives without IDs: the name (in any case, trailing components aside) and birth date.
    let by_name = with_identity("[\"PatientName\", \"PatientBirthDate\"]");
    let c = file("", "", "Doe^Jane^", "19450317");
    let d = file("", "", "DOE^JANE", "19450317");
    let e = file("", "", "DOE^JANE", "19450318");
    let token = |f: &[u8]| {
        let o = Engine::new(&by_name, &keys(3)).plan(&f.to_vec()).unwrap();
        o.info.patient_token
    };
    assert_eq!(token(&c), token(&d));
    assert_ne!(token(&d), token(&e));
    assert_ne!(
        by_name.id(),
        basic().id(),
        "the setting is part of the policy id"
    );
}

#[test]
fn a_bad_patient_identity_names_the_problem() {
    for (list, says) in [
        ("[]", "at least one keyword"),
        ("[\"PatientIdd\"]", "unknown keyword \"PatientIdd\""),
        ("[\"OtherPatientIDsSequence\"]", "is a sequence"),
    ] {
        let e = policy::file::parse(
            &format!("extends = \"basic\"\npatient_identity = {list}\n"),
            "t.toml",
            None,
            0,
        )
        .unwrap_err();
        assert!(e.to_string().contains(says), "{list}: {e}");
    }
}

/// Issue 13: Table E.1-1 removes these four; only the IODs that require them keep them, as
/// dummies or empty values.
#[test]
fn presentation_creation_and_responsible_person_are_removed_unless_the_iod_requires_them() {
    let with_all = |b: FileBuilder| {
        b.str((0x0070, 0x0082), "DA", "20200205")
            .str((0x0070, 0x0083), "TM", "161959")
            .str((0x0010, 0x2297), "PN", "OWNER^OLGA")
            .str((0x0010, 0x2299), "LO", "FARM CLINIC")
            .build()
    };
    let out = |src: &[u8]| parse(&run(src, &basic(), &keys(1)).unwrap());
    let ct = out(&with_all(fx::ct_default()));
    for tag in [
        (0x0070, 0x0082),
        (0x0070, 0x0083),
        (0x0010, 0x2297),
        (0x0010, 0x2299),
    ] {
        assert!(text(&ct, tag).is_none(), "{tag:04X?} removed from a CT");
    }
    let ps = out(&with_all(
        fx::ct_default().sop("1.2.840.10008.5.1.4.1.1.11.1", "1.2.3.4.99"),
    ));
    assert_eq!(text(&ps, (0x0070, 0x0082)).as_deref(), Some("19000101"));
    assert_eq!(text(&ps, (0x0070, 0x0083)).as_deref(), Some("000000"));
    assert!(text(&ps, (0x0010, 0x2297)).is_none());
    let animal = out(&with_all(fx::ct_default().str(
        (0x0010, 0x2201),
        "LO",
        "Canis lupus familiaris",
    )));
    assert_eq!(text(&animal, (0x0010, 0x2297)).as_deref(), Some(""));
    assert_eq!(text(&animal, (0x0010, 0x2299)).as_deref(), Some(""));
    assert!(text(&animal, (0x0070, 0x0082)).is_none());
}

/// Issue 13: the deflated output is one raw DEFLATE stream (RFC 1951, no zlib wrapper, as
/// PS3.5 A.5 says) that ends where the file ends, but for one pad byte; dicom-object, dcmtk
/// and pydicom inflate it, and dciodvfy (whose Debian build has no zlib, so it reads no
/// deflated file from any writer) validates it once dcmtk has inflated it.
#[test]
fn a_deflated_file_is_one_raw_deflate_stream_every_reader_inflates() {
    use std::io::Read;
    use std::process::Command;
    common::require_tool("dcmconv", "dcmtk");
    common::require_tool("dciodvfy", "dicom3tools");
    common::require_pydicom();
    let out = run(&fx::ct_deflated().build(), &basic(), &keys(1)).unwrap();
    let group_length = u32::from_le_bytes(out[140..144].try_into().unwrap()) as usize;
    let compressed = &out[144 + group_length..];
    let mut inflater = flate2::read::DeflateDecoder::new(compressed);
    let mut dataset = Vec::new();
    inflater.read_to_end(&mut dataset).unwrap();
    let rest = inflater.into_inner();
    assert!(
        rest.is_empty() || rest == [0],
        "{} bytes after the stream",
        rest.len()
    );
    assert!(find(&dataset, b"DOE").is_none() && !dataset.is_empty());
    assert_eq!(text(&parse(&out), (0x0012, 0x0062)).as_deref(), Some("YES"));

    let dir = tempfile::tempdir().unwrap();
    let (deflated, inflated) = (dir.path().join("d.dcm"), dir.path().join("i.dcm"));
    std::fs::write(&deflated, &out).unwrap();
    let dcmconv = Command::new("dcmconv")
        .args(["+te"])
        .arg(&deflated)
        .arg(&inflated)
        .output()
        .unwrap();
    assert!(
        dcmconv.status.success(),
        "dcmconv: {}",
        String::from_utf8_lossy(&dcmconv.stderr)
    );
    let pydicom = Command::new("python3")
        .args([
            "-c",
            "import pydicom,sys; print(pydicom.dcmread(sys.argv[1]).PatientIdentityRemoved)",
        ])
        .arg(&deflated)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&pydicom.stdout).trim(),
        "YES",
        "{pydicom:?}"
    );
    let dciodvfy = Command::new("dciodvfy").arg(&inflated).output().unwrap();
    let report = String::from_utf8_lossy(&dciodvfy.stderr).to_string()
        + &String::from_utf8_lossy(&dciodvfy.stdout);
    assert!(!report.contains("read failed"), "{report}");
    assert!(
        report.contains("CTImage") || report.contains("CT Image"),
        "{report}"
    );
}

#[test]
fn with_clean_recognizable_visual_features_a_head_slice_is_hidden_and_other_images_are_unchanged() {
    let basic = policy::load_builtin("basic").unwrap();
    let names = ["clean-recognizable-visual-features".to_string()];
    let faces = policy::file::with_options(basic.clone(), &names).unwrap();
    let k = keys(1);
    // Heads by body part, by description, by anatomic region code; CT and MR.
    let head_ct = fx::ct_default().str((0x0018, 0x0015), "CS", "HEAD").build();
    let brain_mr = fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 16, 16).build();
    let described = fx::ct_default()
        .str((0x0018, 0x0015), "CS", "")
        .str((0x0008, 0x103E), "LO", "CT Sinuses w/o")
        .build();
    let coded = fx::ct_default()
        .str((0x0018, 0x0015), "CS", "")
        .push(Elem::seq(
            (0x0008, 0x2218),
            vec![vec![
                Elem::str((0x0008, 0x0100), "SH", "69536005"),
                Elem::str((0x0008, 0x0102), "SH", "SCT"),
                Elem::str((0x0008, 0x0104), "LO", "Head"),
            ]],
        ))
        .build();
    for (what, src) in [
        ("head CT", &head_ct),
        ("brain MR", &brain_mr),
        ("sinus CT", &described),
        ("coded head", &coded),
    ] {
        match run(src, &faces, &k) {
            Err(DeidError::Refused(r)) => assert_eq!(r.reason(), "head-not-defaced", "{what}"),
            other => panic!(
                "{what}: served or failed otherwise: {:?}",
                other.map(|v| v.len())
            ),
        }
        assert!(
            run(src, &basic, &k).is_ok(),
            "{what}: served without the option"
        );
    }
    // A chest CT is the same bytes with the option and without (its code is not listed: the
    // option removed nothing from it).
    let chest = fx::ct_default().build();
    assert_eq!(
        run(&chest, &faces, &k).unwrap(),
        run(&chest, &basic, &k).unwrap()
    );
    // Without an Image Position at the top level (an enhanced volume keeps it per frame, a
    // rendering saved as a secondary capture has none), a head image is hidden too.
    let no_position = fx::ct_default()
        .str((0x0018, 0x0015), "CS", "HEAD")
        .remove((0x0020, 0x0032))
        .build();
    assert!(matches!(
        run(&no_position, &faces, &k),
        Err(DeidError::Refused(_))
    ));
    // A CT of another modality's words is not a head: an abdomen is served.
    let abdomen = fx::ct_default()
        .str((0x0018, 0x0015), "CS", "ABDOMEN")
        .str(
            (0x0008, 0x103E),
            "LO",
            "LIVER EARLY ARTERIAL, ORAL CONTRAST",
        )
        .build();
    assert!(run(&abdomen, &faces, &k).is_ok());
}
