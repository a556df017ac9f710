//! Value representations: the codes come from dicom-core, the dictionary from
//! dicom-dictionary-std; this module adds the encoding facts the walker and writer need.

use super::tag::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;

pub use dicom_core::VR as Vr;

pub trait VrExt {
    fn from_code(code: [u8; 2]) -> Option<Vr>;
    /// Explicit VR headers with a 2-byte reserved field and a 4-byte length.
    fn has_long_length(self) -> bool;
    /// Values that are character strings (padded with a space, or NUL for UI).
    fn string_valued(self) -> bool;
    /// Free text whose content can be cleaned.
    fn free_text(self) -> bool;
    fn pad_byte(self) -> u8;
}

impl VrExt for Vr {
    fn from_code(code: [u8; 2]) -> Option<Vr> {
        Vr::from_binary(code)
    }

    fn has_long_length(self) -> bool {
        use Vr::*;
        matches!(
            self,
            OB | OD | OF | OL | OV | OW | SQ | SV | UC | UN | UR | UT | UV
        )
    }

    fn string_valued(self) -> bool {
        use Vr::*;
        matches!(
            self,
            AE | AS | CS | DA | DS | DT | IS | LO | LT | PN | SH | ST | TM | UC | UI | UR | UT
        )
    }

    fn free_text(self) -> bool {
        use Vr::*;
        matches!(self, LO | LT | SH | ST | UC | UT | PN)
    }

    fn pad_byte(self) -> u8 {
        if self.string_valued() && self != Vr::UI {
            b' '
        } else {
            0
        }
    }
}

/// The dictionary's VR for a tag; UN for private or unknown tags. Ambiguous VRs (US/SS,
/// OB/OW) resolve to one of their forms: good enough, as their values are only copied.
pub fn dictionary_vr(tag: Tag) -> Vr {
    if tag.0 % 2 == 1 {
        return if tag.is_private_creator() {
            Vr::LO
        } else {
            Vr::UN
        };
    }
    if tag.1 == 0x0000 {
        return Vr::UL;
    }
    StandardDataDictionary
        .by_tag(dicom_core::Tag(tag.0, tag.1))
        .map_or(Vr::UN, |e| e.vr().relaxed())
}

/// Keyword of a public tag (e.g. "PatientName").
pub fn keyword(tag: Tag) -> Option<&'static str> {
    StandardDataDictionary
        .by_tag(dicom_core::Tag(tag.0, tag.1))
        .map(|e| e.alias)
}

/// Tag of a public keyword.
pub fn tag_of_keyword(keyword: &str) -> Option<Tag> {
    let e = StandardDataDictionary.by_name(keyword)?;
    let t = e.tag.inner();
    Some(Tag(t.0, t.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_knows_repeating_groups_and_retired_attributes() {
        for t in [
            Tag(0x6002, 0x0010),
            Tag(0x6000, 0x3000),
            Tag(0x5000, 0x0005),
            Tag(0x0008, 0x0040),
            Tag(0x0028, 0x0005),
            Tag(0x7FE0, 0x0010),
            Tag(0x0008, 0x0005),
        ] {
            assert!(keyword(t).is_some(), "{t}");
        }
        assert!(keyword(Tag(0x0010, 0x9999)).is_none());
    }
}
