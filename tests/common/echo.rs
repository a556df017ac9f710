//! A CT slice whose device copied the patient's identifiers into elements the profile keeps
//! (echoes), built by the independent writer: shared by the engine, CLI and mount tests.

use super::fixtures::{self as fx, Elem, FileBuilder, Value};

pub const FAMILY: &str = "KOWALSKI";
pub const GIVEN: &str = "MARTA";
pub const MRN: &str = "MRN0048213";
pub const OTHER_ID: &str = "48213077";
pub const ACCESSION: &str = "ACC7731X";
pub const BIRTH: &str = "19480713";
pub const PHONE: &str = "(555) 123-4567";
pub const STUDY_DATE: &str = "20230914";

pub const IMAGE_TYPE: (u16, u16) = (0x0008, 0x0008);
pub const BODY_PART: (u16, u16) = (0x0018, 0x0015);
pub const WINDOW_EXPLANATION: (u16, u16) = (0x0028, 0x1055);
pub const SEQUENCE_NAME: (u16, u16) = (0x0018, 0x0024);
pub const CONTENT_QUALIFICATION: (u16, u16) = (0x0018, 0x9004);
pub const DETECTOR_ID: (u16, u16) = (0x0018, 0x700A);
pub const ACQUISITION_NUMBER: (u16, u16) = (0x0020, 0x0012);
pub const TEXT_VALUE: (u16, u16) = (0x0040, 0xA160);
pub const ANATOMIC_REGION: (u16, u16) = (0x0008, 0x2218);
pub const MODIFIER: (u16, u16) = (0x0008, 0x2220);
pub const CODE_MEANING: (u16, u16) = (0x0008, 0x0104);
pub const SIEMENS_SAFE: (u16, u16) = (0x0019, 0x100D);
pub const UN_PRIVATE: (u16, u16) = (0x0011, 0x1001);

pub fn code(value: &str, meaning: &str) -> Vec<Elem> {
    vec![
        Elem::str((0x0008, 0x0100), "SH", value),
        Elem::str((0x0008, 0x0102), "SH", "SCT"),
        Elem::str(CODE_MEANING, "LO", meaning),
    ]
}

/// A CT slice whose device copied the patient's identifiers into elements Table E.1-1 keeps:
/// the places the issue names, and more (a nested item two deep, a multi-valued CS, a number,
/// a UN private element, a safe private element, each date form, a phone number).
pub fn echo_ct() -> FileBuilder {
    let mut region = code("51185008", "Chest of Kowalski");
    region.push(Elem::seq(
        MODIFIER,
        vec![code("7771000", &format!("left, {MRN}"))],
    ));
    fx::ct_like(&format!("{FAMILY}^{GIVEN}"), MRN, 16, 16)
        .str((0x0010, 0x0030), "DA", BIRTH)
        .str((0x0008, 0x0050), "SH", ACCESSION)
        .str((0x0010, 0x1000), "LO", OTHER_ID)
        .str((0x0010, 0x2154), "SH", PHONE)
        .str((0x0008, 0x0020), "DA", STUDY_DATE)
        .str(
            IMAGE_TYPE,
            "CS",
            &format!("ORIGINAL\\PRIMARY\\AXIAL\\{FAMILY}"),
        )
        .str(BODY_PART, "CS", FAMILY)
        .str(WINDOW_EXPLANATION, "LO", "Marta Kowalski 1948-07-13")
        .push(Elem::seq(ANATOMIC_REGION, vec![region]))
        .str(SEQUENCE_NAME, "SH", MRN)
        .str(CONTENT_QUALIFICATION, "CS", ACCESSION)
        .str(DETECTOR_ID, "SH", MRN)
        .str(ACQUISITION_NUMBER, "IS", OTHER_ID)
        .str(
            TEXT_VALUE,
            "UT",
            "dob 13/07/1948 07/13/1948 13.07.1948 13-JUL-1948 July 13, 1948; \
             call 555.123.4567; seen 2023-09-14",
        )
        .str((0x0019, 0x0010), "LO", "SIEMENS MR HEADER")
        .str(SIEMENS_SAFE, "CS", FAMILY)
        .str((0x0011, 0x0010), "LO", "ECHO TEST")
        .elem(
            UN_PRIVATE,
            "UN",
            Value::Bytes(format!("\u{1}name={FAMILY};id={MRN}\0\0").into_bytes()),
        )
}
