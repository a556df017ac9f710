//! Which values of a file are its identifiers: every value the policy removes, replaces or
//! shifts that names the patient or the people and places of the encounter. Decided by VR for
//! names and dates, by a curated list for the rest:
//!
//! - every person name (PN), at any depth, public or private;
//! - every date (DA, and the date of a DT), at any depth, public or private;
//! - the IDs, numbers, institutions, addresses and phone numbers of [`SOURCES`].
//!
//! Values the policy keeps are not identifiers (an option that keeps Institution Name keeps
//! it everywhere; `retain-device-identity` keeps station names and serial numbers, so they
//! are not hunted either). Each value is split into the parts people copy (a name's
//! components, an address's lines) and filtered by the minimum lengths and the stop list.

use crate::deid::values::trim;
use crate::dicom::{Tag, Vr};
use crate::policy::stop_words as stop;

/// What an identifier is, as `inspect` and `scan` name it (never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    PatientName,
    PersonName,
    PatientId,
    OtherId,
    BirthDate,
    Date,
    Institution,
    Address,
    Phone,
    Device,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::PatientName => "patient name",
            Kind::PersonName => "person name",
            Kind::PatientId => "patient ID",
            Kind::OtherId => "ID or number",
            Kind::BirthDate => "birth date",
            Kind::Date => "date",
            Kind::Institution => "institution",
            Kind::Address => "address",
            Kind::Phone => "phone number",
            Kind::Device => "device identity",
        }
    }
}

/// Identifiers that are neither a PN nor a date, by tag.
pub const SOURCES: &[(Tag, &str, Kind)] = &[
    (Tag(0x0010, 0x0020), "PatientID", Kind::PatientId),
    (Tag(0x0010, 0x1000), "OtherPatientIDs", Kind::PatientId),
    (Tag(0x0010, 0x1090), "MedicalRecordLocator", Kind::PatientId),
    (
        Tag(0x0012, 0x0040),
        "ClinicalTrialSubjectID",
        Kind::PatientId,
    ),
    (
        Tag(0x0012, 0x0042),
        "ClinicalTrialSubjectReadingID",
        Kind::PatientId,
    ),
    (Tag(0x0008, 0x0050), "AccessionNumber", Kind::OtherId),
    (Tag(0x0020, 0x0010), "StudyID", Kind::OtherId),
    (Tag(0x0040, 0x1001), "RequestedProcedureID", Kind::OtherId),
    (
        Tag(0x0040, 0x2016),
        "PlacerOrderNumberImagingServiceRequest",
        Kind::OtherId,
    ),
    (
        Tag(0x0040, 0x2017),
        "FillerOrderNumberImagingServiceRequest",
        Kind::OtherId,
    ),
    (
        Tag(0x0040, 0x0009),
        "ScheduledProcedureStepID",
        Kind::OtherId,
    ),
    (
        Tag(0x0040, 0x0253),
        "PerformedProcedureStepID",
        Kind::OtherId,
    ),
    (Tag(0x0038, 0x0010), "AdmissionID", Kind::OtherId),
    (Tag(0x0038, 0x0060), "ServiceEpisodeID", Kind::OtherId),
    (Tag(0x0012, 0x0030), "ClinicalTrialSiteID", Kind::OtherId),
    (Tag(0x0010, 0x0021), "IssuerOfPatientID", Kind::Institution),
    (Tag(0x0008, 0x0080), "InstitutionName", Kind::Institution),
    (
        Tag(0x0008, 0x1040),
        "InstitutionalDepartmentName",
        Kind::Institution,
    ),
    (
        Tag(0x0040, 0xA027),
        "VerifyingOrganization",
        Kind::Institution,
    ),
    (Tag(0x0038, 0x0300), "CurrentPatientLocation", Kind::Address),
    (
        Tag(0x0038, 0x0400),
        "PatientInstitutionResidence",
        Kind::Address,
    ),
    (Tag(0x0040, 0x2009), "OrderEntererLocation", Kind::Address),
    (Tag(0x0040, 0x0243), "PerformedLocation", Kind::Address),
    (
        Tag(0x0040, 0x0011),
        "ScheduledProcedureStepLocation",
        Kind::Address,
    ),
    (
        Tag(0x0040, 0x1005),
        "RequestedProcedureLocation",
        Kind::Address,
    ),
    (Tag(0x0032, 0x1020), "ScheduledStudyLocation", Kind::Address),
    (Tag(0x0008, 0x0081), "InstitutionAddress", Kind::Address),
    (
        Tag(0x0008, 0x0092),
        "ReferringPhysicianAddress",
        Kind::Address,
    ),
    (Tag(0x0010, 0x1040), "PatientAddress", Kind::Address),
    (Tag(0x0040, 0x1102), "PersonAddress", Kind::Address),
    (Tag(0x0010, 0x2152), "RegionOfResidence", Kind::Address),
    (Tag(0x0010, 0x2150), "CountryOfResidence", Kind::Address),
    (Tag(0x0010, 0x2154), "PatientTelephoneNumbers", Kind::Phone),
    (
        Tag(0x0010, 0x2155),
        "PatientTelecomInformation",
        Kind::Phone,
    ),
    (
        Tag(0x0008, 0x0094),
        "ReferringPhysicianTelephoneNumbers",
        Kind::Phone,
    ),
    (Tag(0x0040, 0x1103), "PersonTelephoneNumbers", Kind::Phone),
    (Tag(0x0040, 0x1104), "PersonTelecomInformation", Kind::Phone),
    (Tag(0x0040, 0x2010), "OrderCallbackPhoneNumber", Kind::Phone),
    (
        Tag(0x0040, 0x2011),
        "OrderCallbackTelecomInformation",
        Kind::Phone,
    ),
    (Tag(0x0008, 0x1010), "StationName", Kind::Device),
    (Tag(0x0040, 0x0242), "PerformedStationName", Kind::Device),
    (Tag(0x0040, 0x0010), "ScheduledStationName", Kind::Device),
    (Tag(0x0018, 0x1000), "DeviceSerialNumber", Kind::Device),
    (Tag(0x0018, 0x700A), "DetectorID", Kind::Device),
    (
        Tag(0x0010, 0x2299),
        "ResponsibleOrganization",
        Kind::Institution,
    ),
    (
        Tag(0x0012, 0x0031),
        "ClinicalTrialSiteName",
        Kind::Institution,
    ),
    (
        Tag(0x0012, 0x0060),
        "ClinicalTrialCoordinatingCenterName",
        Kind::Institution,
    ),
    (Tag(0x0032, 0x1033), "RequestingService", Kind::Institution),
];

pub const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
/// The patient's other names: Other Patient Names, Patient's Birth Name, Patient's Mother's
/// Birth Name (which names the patient's family).
const PATIENT_NAMES: [Tag; 4] = [
    PATIENT_NAME,
    Tag(0x0010, 0x1001),
    Tag(0x0010, 0x1005),
    Tag(0x0010, 0x1060),
];
pub const BIRTH_DATE: Tag = Tag(0x0010, 0x0030);

/// The kind of identifier an element holds when the policy does not keep it; `None` for
/// values that identify no one by themselves (descriptions, codes, measurements).
pub fn kind_of(tag: Tag, vr: Vr) -> Option<Kind> {
    match vr {
        Vr::PN if PATIENT_NAMES.contains(&tag) => Some(Kind::PatientName),
        Vr::PN => Some(Kind::PersonName),
        Vr::DA | Vr::DT if tag == BIRTH_DATE => Some(Kind::BirthDate),
        Vr::DA | Vr::DT => Some(Kind::Date),
        // Every listed source is free text (the quick way past numbers, codes and sequences).
        _ if tag.is_private()
            || !matches!(vr, Vr::LO | Vr::SH | Vr::ST | Vr::LT | Vr::UC | Vr::UT) =>
        {
            None
        }
        _ => sorted_sources()
            .binary_search_by_key(&tag, |(t, _)| *t)
            .ok()
            .map(|i| sorted_sources()[i].1),
    }
}

/// [`SOURCES`] by tag, for lookups.
fn sorted_sources() -> &'static [(Tag, Kind)] {
    static SORTED: std::sync::OnceLock<Vec<(Tag, Kind)>> = std::sync::OnceLock::new();
    SORTED.get_or_init(|| {
        let mut v: Vec<(Tag, Kind)> = SOURCES.iter().map(|(t, _, k)| (*t, *k)).collect();
        v.sort();
        v
    })
}

/// Minimum lengths: a part shorter than this is not hunted (a patient ID "1", a name "MR").
/// A patient ID of digits only needs [`MIN_DIGITS`] of them; other IDs of digits only (a
/// Study ID "2024", an order "0001") [`MIN_OTHER_DIGITS`], as numbers of four or five digits
/// are everywhere in a header.
pub const MIN_NAME: usize = 3;
pub const MIN_ID: usize = 3;
pub const MIN_DIGITS: usize = 4;
pub const MIN_OTHER_DIGITS: usize = 6;
pub const MIN_PLACE: usize = 4;
/// A phone number, or an ID written with separators, is also matched by its digits alone
/// (`(555) 123-4567` for `5551234567`) when it has at least this many.
pub const MIN_PHONE_DIGITS: usize = 7;

/// The parts of one value component (between backslashes) to look for, each once and in ASCII
/// lower case (the search ignores ASCII case): the whole value and the pieces people copy on
/// their own, without those too short or too common.
pub fn parts(kind: Kind, component: &[u8], out: &mut Vec<Vec<u8>>) {
    let whole = trim(component);
    if whole.is_empty() {
        return;
    }
    let mut consider = |p: &[u8]| {
        let p = trim(p);
        if !p.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(p)) && worth_hunting(kind, p)
        {
            out.push(p.to_ascii_lowercase());
        }
    };
    consider(whole);
    let has = |seps: &[u8]| whole.iter().any(|b| seps.contains(b));
    match kind {
        // Components; the words of each (a double given name, "VAN DER BERG", "SMITH-JONES");
        // family and given name the ways people write them together ("XU LI", "Li, Xu").
        Kind::PatientName | Kind::PersonName => {
            if has(b"^=") {
                whole
                    .split(|b| matches!(b, b'^' | b'='))
                    .for_each(&mut consider);
                let mut c = whole.split(|b| *b == b'^').map(trim);
                if let (Some(family), Some(given)) = (c.next(), c.next())
                    && !family.is_empty()
                    && !given.is_empty()
                {
                    consider(&[given, b" ", family].concat());
                    consider(&[family, b" ", given].concat());
                    consider(&[family, b", ", given].concat());
                }
            }
            if has(b" ,.-") {
                whole
                    .split(|b| b"^= ,.-".contains(b))
                    .for_each(&mut consider);
            }
        }
        // Without a separator the one piece is the whole value, already considered.
        Kind::Institution | Kind::Address => whole
            .split(|b| b"^,;\r\n".contains(b))
            .for_each(&mut consider),
        Kind::PatientId | Kind::OtherId => {
            // An ID with leading zeros is also copied without them, and the number of an ID
            // with a prefix on its own ("MRN 48213" for MRN0048213).
            let digits_from = whole
                .iter()
                .rposition(|b| !b.is_ascii_digit())
                .map_or(0, |p| p + 1);
            let number = &whole[digits_from..];
            let zeros = number.iter().take_while(|b| **b == b'0').count();
            consider(&number[zeros..]);
        }
        _ => {}
    }
}

/// Long enough, not a stop word, and made of more than one repeated character.
pub fn worth_hunting(kind: Kind, part: &[u8]) -> bool {
    let alnum = part
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || **b >= 0x80)
        .count();
    let digits_only = part.iter().all(u8::is_ascii_digit);
    let long_enough = match kind {
        // A name part of digits only (a subject number in a name field) is an ID.
        Kind::PatientName | Kind::PersonName if digits_only => part.len() >= MIN_DIGITS,
        Kind::PatientName | Kind::PersonName => alnum >= MIN_NAME,
        Kind::PatientId if digits_only => part.len() >= MIN_DIGITS,
        Kind::OtherId if digits_only => part.len() >= MIN_OTHER_DIGITS,
        Kind::PatientId | Kind::OtherId => alnum >= MIN_ID,
        Kind::Institution | Kind::Address | Kind::Device => alnum >= MIN_PLACE,
        Kind::Phone => digit_count(part) >= MIN_PHONE_DIGITS,
        Kind::BirthDate | Kind::Date => false,
    };
    if !long_enough {
        return false;
    }
    let first = part.first().copied().unwrap_or(0).to_ascii_lowercase();
    let one_char = part.iter().all(|b| b.to_ascii_lowercase() == first);
    !one_char && !stop::is_stop_word(part)
}

pub fn digit_count(v: &[u8]) -> usize {
    v.iter().filter(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Action, Policy};

    #[test]
    fn every_listed_source_is_in_table_e1_1_and_removed_by_the_basic_profile() {
        let basic = Policy::bare();
        for (tag, keyword, kind) in SOURCES {
            assert_eq!(crate::dicom::vr::keyword(*tag), Some(*keyword), "{tag}");
            let vr = crate::dicom::vr::dictionary_vr(*tag);
            assert_eq!(
                kind_of(*tag, vr),
                Some(*kind),
                "{keyword} ({vr:?}) is found by kind_of"
            );
            assert_ne!(basic.public_rule(*tag).action, Action::Keep, "{keyword}");
        }
    }

    fn parts_of(kind: Kind, v: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        parts(kind, v, &mut out);
        out
    }

    #[test]
    fn a_name_is_hunted_whole_and_by_component_but_not_by_its_short_or_common_parts() {
        let p = parts_of(Kind::PatientName, b"VAN DER BERG^JOHN PAUL^^DR^JR ");
        let p: Vec<String> = p
            .iter()
            .map(|p| String::from_utf8_lossy(p).into())
            .collect();
        assert!(p.contains(&"van der berg^john paul^^dr^jr".into()), "{p:?}");
        for kept in ["berg", "john", "paul", "van der berg", "john paul"] {
            assert!(p.contains(&kept.to_string()), "{kept}: {p:?}");
        }
        for dropped in ["van", "der", "dr", "jr"] {
            assert!(!p.contains(&dropped.to_string()), "{dropped}: {p:?}");
        }
        assert!(parts_of(Kind::PatientName, b"MR").is_empty());
        assert!(
            parts_of(Kind::PatientName, b"Head").is_empty(),
            "a stop word"
        );
    }

    #[test]
    fn short_ids_placeholders_and_repeated_characters_are_not_hunted() {
        for id in [
            &b"1"[..],
            b"12",
            b"123",
            b"0000",
            b"XXXXXX",
            b"ANONYMOUS",
            b"   ",
        ] {
            assert!(
                parts_of(Kind::PatientId, id).is_empty(),
                "{:?}",
                String::from_utf8_lossy(id)
            );
        }
        assert_eq!(parts_of(Kind::PatientId, b"1234"), vec![b"1234".to_vec()]);
        assert_eq!(parts_of(Kind::PatientId, b"AB1"), vec![b"ab1".to_vec()]);
        assert_eq!(
            parts_of(Kind::PatientId, b"00012345"),
            vec![b"00012345".to_vec(), b"12345".to_vec()]
        );
    }
}
