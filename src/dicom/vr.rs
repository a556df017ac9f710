//! Value representations: the codes come from dicom-core, the dictionary from
//! dicom-dictionary-std; this module adds the encoding facts the walker and writer need.

use super::tag::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, DataDictionaryEntryRef};
use dicom_dictionary_std::StandardDataDictionary;
use std::cell::RefCell;

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
    /// As `Vr::from_binary`, without going through text (the walker asks once per element).
    fn from_code(code: [u8; 2]) -> Option<Vr> {
        use Vr::*;
        Some(match &code {
            b"AE" => AE,
            b"AS" => AS,
            b"AT" => AT,
            b"CS" => CS,
            b"DA" => DA,
            b"DS" => DS,
            b"DT" => DT,
            b"FD" => FD,
            b"FL" => FL,
            b"IS" => IS,
            b"LO" => LO,
            b"LT" => LT,
            b"OB" => OB,
            b"OD" => OD,
            b"OF" => OF,
            b"OL" => OL,
            b"OV" => OV,
            b"OW" => OW,
            b"PN" => PN,
            b"SH" => SH,
            b"SL" => SL,
            b"SQ" => SQ,
            b"SS" => SS,
            b"ST" => ST,
            b"SV" => SV,
            b"TM" => TM,
            b"UC" => UC,
            b"UI" => UI,
            b"UL" => UL,
            b"UN" => UN,
            b"UR" => UR,
            b"US" => US,
            b"UT" => UT,
            b"UV" => UV,
            _ => return None,
        })
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
    entry(tag).map_or(Vr::UN, |e| e.vr().relaxed())
}

/// Keyword of a public tag (e.g. "PatientName").
pub fn keyword(tag: Tag) -> Option<&'static str> {
    entry(tag).map(|e| e.alias)
}

/// Tags remembered per thread at most (the dictionary has about 5,000; a hostile file's
/// unknown tags are looked up without being remembered past this).
const REMEMBERED_MAX: usize = 1 << 13;

type Entry = &'static DataDictionaryEntryRef<'static>;

/// The dictionary's entry for a tag. Planning looks up every element a few times; the
/// dictionary hashes each lookup with SipHash, and up to three times for a tag it does not
/// know, so each thread remembers the answers it found.
fn entry(tag: Tag) -> Option<Entry> {
    thread_local! {
        static FOUND: RefCell<rustc_hash::FxHashMap<Tag, Option<Entry>>> = RefCell::default();
    }
    FOUND.with_borrow_mut(|found| {
        if let Some(e) = found.get(&tag) {
            return *e;
        }
        let e = StandardDataDictionary.by_tag(dicom_core::Tag(tag.0, tag.1));
        if found.len() < REMEMBERED_MAX {
            found.insert(tag, e);
        }
        e
    })
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

    #[test]
    fn every_two_letter_code_reads_as_dicom_core_reads_it() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(Vr::from_code([a, b]), Vr::from_binary([a, b]), "{a} {b}");
            }
        }
    }
}
