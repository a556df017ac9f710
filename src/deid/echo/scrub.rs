//! Removing what was found from a kept value, so that the object stays valid for its VR:
//!
//! | VR | what is written |
//! |---|---|
//! | AE, CS, LO, LT, PN, SH, ST, UC, UR, UT | each found span masked with `X` (length kept; `X` is in every one of these repertoires); a date the policy shifts is written shifted, in its own form |
//! | AS, DA, DT, DS, IS, TM | the value (of a multi-valued element: the component) becomes the VR's dummy (`000Y`, `19000101`, `19000101000000`, `0`, `000000`), or, for a date the policy shifts, the shifted date |
//! | UN, OB, OW | the found bytes masked with `X` (length kept) |
//!
//! A value written with a bulk binary VR (OF, OD, OL, OV) whose dictionary VR is text (a Body
//! Part Examined written as OF) is searched as bytes. UI values are not searched: they are
//! digits and dots, remapped or well known, and a digit ID is never found across a dot. Binary numbers, sequences (their items are
//! searched element by element) and sample data (pixels, overlays, waveforms, spectra) are
//! not text. In numbers (DS, IS) and codes (Code Value, Coding Scheme Designator and Version)
//! IDs of digits count only from 6 digits (`find::MIN_NUMERIC_ID`).

use super::find::{Echoes, Hit};
use super::sources::Kind;
use crate::deid::values::{dummy, pad};
use crate::dicom::{Tag, Vr};

/// What an echo in a value was, for the trace and the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub value: Vec<u8>,
    /// Each kind found, with the element it came from (sorted, deduplicated).
    pub found: Vec<(Kind, Tag)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    Text,
    Formatted,
    Bytes,
}

fn checked(vr: Vr) -> Option<Checked> {
    use Vr::*;
    match vr {
        AE | CS | LO | LT | PN | SH | ST | UC | UR | UT => Some(Checked::Text),
        AS | DA | DT | DS | IS | TM => Some(Checked::Formatted),
        UN | OB | OW => Some(Checked::Bytes),
        _ => None,
    }
}

/// Codes from a coding scheme: a short number there is the code, not an ID.
fn is_code(tag: Tag) -> bool {
    matches!(
        tag,
        Tag(0x0008, 0x0100) | Tag(0x0008, 0x0102) | Tag(0x0008, 0x0103) | Tag(0x0008, 0x0119)
    )
}

/// Sample data: never text, and large.
fn is_samples(tag: Tag) -> bool {
    matches!(
        tag,
        Tag(0x7FE0, 0x0008..=0x0010)
            | Tag(0x5400, 0x1010)
            | Tag(0x0028, 0x3006)
            | Tag(0x0028, 0x1201..=0x1203)
    ) || (tag.0 & 0xFF00 == 0x6000 && tag.1 == 0x3000)
        || tag.0 & 0xFF00 == 0x5000
        || tag.0 == 0x5600
}

/// How a kept value of this tag, written with this VR, is searched: as that VR, as bytes
/// (a public element written with a VR that is not its dictionary's), or not at all.
pub fn search_vr(tag: Tag, written: Vr) -> Option<Vr> {
    // The character set and private creators say how to read the rest: they are structure.
    if is_samples(tag) || tag == Tag(0x0008, 0x0005) || tag.is_private_creator() {
        return None;
    }
    if checked(written).is_some() {
        return Some(written);
    }
    // Binary numbers are not text; a bulk binary VR (OF, OD, OL, OV) written for a public
    // text element is searched as bytes.
    if !matches!(written, Vr::OF | Vr::OD | Vr::OL | Vr::OV) || tag.is_private() {
        return None;
    }
    let dictionary = crate::dicom::vr::dictionary_vr(tag);
    checked(dictionary).is_some().then_some(Vr::UN)
}

/// `value` (of element `tag`, searched as `vr`) with every identifier of `echoes` removed,
/// or `None` when it holds none.
pub fn scrub(echoes: &Echoes, tag: Tag, vr: Vr, value: &[u8]) -> Option<Removed> {
    let how = checked(vr)?;
    if echoes.is_empty() {
        return None;
    }
    let hits = echoes.find(value, matches!(vr, Vr::DS | Vr::IS) || is_code(tag));
    if hits.is_empty() {
        return None;
    }
    let mut found: Vec<(Kind, Tag)> = hits.iter().map(|h| (h.kind, h.source)).collect();
    found.sort();
    found.dedup();
    let out = match how {
        Checked::Text => text(vr, value, hits),
        Checked::Bytes => spans(value, &clusters(hits), false),
        Checked::Formatted => formatted(vr, value, hits),
    };
    Some(Removed { value: out, found })
}

/// Overlapping hits merged: (start, end, replacement when the cluster is one shifted date).
fn clusters(mut hits: Vec<Hit>) -> Vec<(usize, usize, Option<Vec<u8>>)> {
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut out: Vec<(usize, usize, Option<Vec<u8>>)> = Vec::new();
    for h in hits {
        match out.last_mut() {
            Some(last) if h.start < last.1 => {
                last.1 = last.1.max(h.end);
                last.2 = None;
            }
            _ => out.push((h.start, h.end, h.replacement)),
        }
    }
    out
}

/// The value with each span masked, or replaced where `replace` allows and a replacement is
/// given.
fn spans(value: &[u8], spans: &[(usize, usize, Option<Vec<u8>>)], replace: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut at = 0;
    for (s, e, r) in spans {
        out.extend_from_slice(&value[at..*s]);
        match r {
            Some(r) if replace || r.len() == e - s => out.extend_from_slice(r),
            _ => out.extend(std::iter::repeat_n(b'X', e - s)),
        }
        at = *e;
    }
    out.extend_from_slice(&value[at..]);
    out
}

/// Longest value of a text VR in bytes (characters bound it from above); PN is not allowed to
/// grow at all (its limit is per component group).
fn max_len(vr: Vr) -> usize {
    match vr {
        Vr::AE | Vr::CS | Vr::SH => 16,
        Vr::LO => 64,
        Vr::ST => 1024,
        Vr::LT => 10240,
        Vr::PN => 0,
        _ => u32::MAX as usize - 1,
    }
}

/// The value without its trailing padding (spaces, NULs).
fn unpadded(value: &[u8]) -> &[u8] {
    let end = value
        .iter()
        .rposition(|b| *b != b' ' && *b != 0)
        .map_or(0, |p| p + 1);
    &value[..end]
}

fn text(vr: Vr, value: &[u8], hits: Vec<Hit>) -> Vec<u8> {
    let value = unpadded(value);
    // No pattern ends in padding; clamped all the same, so a span never leaves the value.
    let c: Vec<_> = clusters(hits)
        .into_iter()
        .filter(|(s, _, _)| *s < value.len())
        .map(|(s, e, r)| (s, e.min(value.len()), r))
        .collect();
    let replaced = spans(value, &c, true);
    let out = if replaced.len() == value.len() || replaced.len() <= max_len(vr) {
        replaced
    } else {
        spans(value, &c, false)
    };
    pad(vr, out)
}

/// Each component (between backslashes) that holds a hit becomes the VR's dummy, or, when
/// every hit in it is a shifted date, has them replaced. One pass over components and hits.
fn formatted(vr: Vr, value: &[u8], mut hits: Vec<Hit>) -> Vec<u8> {
    let value = unpadded(value);
    hits.sort_by_key(|h| h.start);
    let mut out = Vec::with_capacity(value.len());
    let mut next = 0;
    let mut start = 0;
    for (i, component) in value.split(|b| *b == b'\\').enumerate() {
        let end = start + component.len();
        // The hits in this component (none spans a backslash: no pattern, date or digit run
        // holds one).
        let mut inside = Vec::new();
        while next < hits.len() && hits[next].start < end {
            inside.push(hits[next].clone());
            next += 1;
        }
        if i > 0 {
            out.push(b'\\');
        }
        let shifted_only = inside.iter().all(|h| h.replacement.is_some())
            && inside.iter().all(|h| h.start >= start && h.end <= end);
        if inside.is_empty() {
            out.extend_from_slice(component);
        } else if shifted_only {
            let local: Vec<Hit> = inside
                .into_iter()
                .map(|h| Hit {
                    start: h.start - start,
                    end: h.end - start,
                    ..h
                })
                .collect();
            let c = clusters(local);
            if c.iter().all(|(_, _, r)| r.is_some()) {
                out.extend(spans(component, &c, true));
            } else {
                out.extend(dummy(vr, 0));
            }
        } else {
            out.extend(dummy(vr, 0));
        }
        start = end + 1;
    }
    pad(vr, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::echo::find::DateId;
    use chrono::NaiveDate;

    const NAME: Tag = Tag(0x0010, 0x0010);
    const BIRTH: Tag = Tag(0x0010, 0x0030);
    const STUDY: Tag = Tag(0x0008, 0x0020);

    fn echoes() -> Echoes {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        Echoes::build(
            vec![
                (b"DOE".to_vec(), Kind::PatientName, NAME),
                (b"12345678".to_vec(), Kind::PatientId, Tag(0x0010, 0x0020)),
            ],
            vec![
                DateId {
                    date: d(1948, 7, 13),
                    kind: Kind::BirthDate,
                    source: BIRTH,
                    shifted: false,
                },
                DateId {
                    date: d(2019, 3, 5),
                    kind: Kind::Date,
                    source: STUDY,
                    shifted: true,
                },
            ],
            Vec::new(),
            -10,
        )
    }

    fn s(vr: Vr, v: &str) -> Option<String> {
        scrub(&echoes(), Tag(0x0028, 0x1055), vr, v.as_bytes())
            .map(|r| String::from_utf8(r.value).unwrap())
    }

    #[test]
    fn text_is_masked_in_place_and_a_shifted_date_is_written_shifted() {
        assert_eq!(
            s(Vr::CS, "ORIGINAL\\PRIMARY\\DOE").as_deref(),
            Some("ORIGINAL\\PRIMARY\\XXX")
        );
        assert_eq!(
            s(Vr::LO, "Doe 13.07.1948 seen 2019-03-05").as_deref(),
            Some("XXX XXXXXXXXXX seen 2019-02-23")
        );
        assert_eq!(s(Vr::LO, "CHEST"), None);
    }

    #[test]
    fn formatted_values_get_a_dummy_or_the_shifted_date_per_component() {
        assert_eq!(s(Vr::DA, "19480713").as_deref(), Some("19000101"));
        assert_eq!(
            s(Vr::DA, "20190305\\20200101").as_deref(),
            Some("20190223\\20200101 ")
        );
        assert_eq!(
            s(Vr::DT, "20190305101500").as_deref(),
            Some("20190223101500")
        );
        assert_eq!(s(Vr::IS, "12345678").as_deref(), Some("0 "));
        assert_eq!(s(Vr::DS, "0.5\\12345678").as_deref(), Some("0.5\\0 "));
        assert_eq!(s(Vr::DS, "1234"), None);
    }

    #[test]
    fn bytes_are_masked_without_changing_their_length() {
        let v = b"\x01\x02DOE\x00 seen 20190305\x00";
        let r = scrub(&echoes(), Tag(0x0009, 0x1001), Vr::OB, v).unwrap();
        assert_eq!(r.value.len(), v.len());
        assert_eq!(&r.value[2..5], b"XXX");
        assert_eq!(&r.value[12..20], b"20190223", "same length: shifted");
    }

    #[test]
    fn a_pn_never_grows() {
        let r = s(Vr::PN, "DOE^JANE").unwrap();
        assert_eq!(r, "XXX^JANE");
    }
}
