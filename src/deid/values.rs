//! Replacement values: dummies valid for each VR, date shifting, text cleaning, UID mapping.
//! Pure functions over bytes; every output respects its VR's length and repertoire.

use crate::dicom::{Vr, VrExt};
use crate::pseudonym::Pseudonyms;
use chrono::{Days, NaiveDate};

pub const DUMMY_TEXT: &str = "ANONYMIZED";
pub const DUMMY_DATE: &str = "19000101";

/// A dummy value for a VR; `original_len` sizes binary dummies (zeros of the same length).
pub fn dummy(vr: Vr, original_len: usize) -> Vec<u8> {
    use Vr::*;
    let s: &str = match vr {
        AE => "DEIDFS",
        AS => "000Y",
        CS => "ANONYMIZED",
        DA => DUMMY_DATE,
        DT => "19000101000000",
        TM => "000000",
        DS | IS => "0",
        LO | LT | SH | ST | UC | UT | PN => DUMMY_TEXT,
        UI => "",
        UR => "https://anonymized.invalid",
        FL | FD | SL | SS | UL | US | SV | UV | AT | OB | OD | OF | OL | OV | OW | UN => {
            return vec![0; original_len];
        }
        SQ => "",
    };
    s.as_bytes().to_vec()
}

/// Pads to even length with the VR's padding byte.
pub fn pad(vr: Vr, mut v: Vec<u8>) -> Vec<u8> {
    if v.len() % 2 == 1 {
        v.push(vr.pad_byte());
    }
    v
}

/// String value with padding (trailing spaces/NULs) and leading spaces removed.
pub fn trim(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != 0)
        .map_or(0, |p| p + 1);
    let start = v[..end].iter().position(|b| *b != b' ').unwrap_or(end);
    &v[start..end]
}

/// A string value as text: trimmed, and lossy where it is not UTF-8.
pub fn string_of(v: &[u8]) -> String {
    String::from_utf8_lossy(trim(v)).into_owned()
}

/// UIDs in the DICOM root (SOP classes, transfer syntaxes, well-known frames of reference,
/// coding schemes...) identify nothing and are never remapped.
pub fn is_well_known_uid(uid: &str) -> bool {
    uid.starts_with("1.2.840.10008.")
}

/// Maps every UID of a (possibly multi-valued) UI value.
pub fn map_uids(keys: &Pseudonyms, value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(trim(value));
    let mut out = String::with_capacity(text.len() + 16);
    for (i, u) in text.split('\\').enumerate() {
        if i > 0 {
            out.push('\\');
        }
        let u = u.trim_matches(|c| c == ' ' || c == '\0');
        if u.is_empty() || is_well_known_uid(u) {
            out.push_str(u);
        } else {
            keys.uid_into(u, &mut out);
        }
    }
    pad(Vr::UI, out.into_bytes())
}

fn shift_ymd(ymd: &str, days: i64) -> Option<String> {
    // DA is YYYYMMDD; partial precision (YYYY, YYYYMM, allowed in DT) keeps its precision.
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ymd) {
        return None;
    }
    let (y, m, d) = match ymd.len() {
        8 => (
            ymd[0..4].parse().ok()?,
            ymd[4..6].parse().ok()?,
            ymd[6..8].parse().ok()?,
        ),
        6 => (ymd[0..4].parse().ok()?, ymd[4..6].parse().ok()?, 1),
        4 => (ymd[0..4].parse().ok()?, 1, 1),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    let shifted = if days < 0 {
        date.checked_sub_days(Days::new(days.unsigned_abs()))?
    } else {
        date.checked_add_days(Days::new(days as u64))?
    };
    let full = shifted.format("%Y%m%d").to_string();
    Some(full[..ymd.len()].to_string())
}

/// Shifts every date of a DA or DT value (multi-valued, ranges) by `days`. Anything that is
/// not a valid date becomes empty: a date we cannot shift must not survive as it was.
pub fn shift_dates(vr: Vr, value: &[u8], days: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(trim(value)).into_owned();
    let shift_one = |v: &str| -> Option<String> {
        let v = v.trim();
        if v.is_empty() {
            return Some(String::new());
        }
        match vr {
            Vr::DA => shift_ymd(v, days),
            _ => {
                // DT: YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]: shift the date, keep the rest.
                let date_len = v.bytes().take(8).take_while(u8::is_ascii_digit).count();
                let date_len = if date_len >= 8 {
                    8
                } else if date_len >= 6 {
                    6
                } else {
                    4
                };
                if v.len() < date_len {
                    return None;
                }
                let rest = &v[date_len..];
                if !is_time_and_offset(rest) {
                    return None;
                }
                Some(format!("{}{}", shift_ymd(&v[..date_len], days)?, rest))
            }
        }
    };
    let mut out = Vec::new();
    for (i, item) in text.split('\\').enumerate() {
        let shifted = if let Some((a, b)) = range_parts(vr, item) {
            // A date range "A-B" (either side may be open).
            match (shift_one(&a), shift_one(&b)) {
                (Some(a), Some(b)) => Some(format!("{a}-{b}")),
                _ => None,
            }
        } else {
            shift_one(item)
        };
        let Some(s) = shifted else { return Vec::new() };
        if i > 0 {
            out.push(b'\\');
        }
        out.extend_from_slice(s.as_bytes());
    }
    pad(vr, out)
}

/// What may follow the date in a DT: `HH[MM[SS[.F{1,6}]]]` and an optional `&ZZXX` offset.
fn is_time_and_offset(rest: &str) -> bool {
    let (time, offset) = match rest.find(['+', '-']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "0000"),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    offset.len() == 4
        && digits(offset)
        && hms.len() % 2 == 0
        && hms.len() <= 6
        && digits(hms)
        && frac.len() <= 6
        && digits(frac)
        && (frac.is_empty() || hms.len() == 6)
}

/// A date range "A-B" (either side may be open). In DT, '-' also starts a UTC offset
/// ("...-0500"): a value with one '-' followed by exactly four digits after a time is one
/// date-time; anything with more dashes than a range of two offset date-times is not split
/// (and, not parsing as a date-time, becomes empty).
fn range_parts(vr: Vr, item: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = item.split('-').collect();
    match (vr, parts.as_slice()) {
        (Vr::DA, [a, b]) => Some((a.to_string(), b.to_string())),
        (Vr::DT, [a, b])
            if !(a.len() > 8 && b.len() == 4 && b.bytes().all(|c| c.is_ascii_digit())) =>
        {
            Some((a.to_string(), b.to_string()))
        }
        _ => None,
    }
}

/// Masks every run of digits (with date and number punctuation) holding four or more
/// digits with `X`: what cleaned free text loses besides the file's identifiers (dates,
/// times, numbers that may be IDs of another system).
pub fn mask_numbers(value: &[u8]) -> Vec<u8> {
    let mut out = value.to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i].is_ascii_digit() {
            let start = i;
            let mut digits = 0;
            while i < out.len()
                && (out[i].is_ascii_digit() || matches!(out[i], b'.' | b'/' | b'-' | b':'))
            {
                digits += usize::from(out[i].is_ascii_digit());
                i += 1;
            }
            if digits >= 4 {
                out[start..i]
                    .iter_mut()
                    .filter(|b| b.is_ascii_digit())
                    .for_each(|b| *b = b'X');
            }
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummies_respect_vr() {
        assert_eq!(pad(Vr::DA, dummy(Vr::DA, 0)), b"19000101");
        assert_eq!(pad(Vr::SH, dummy(Vr::SH, 0)).len() % 2, 0);
        assert!(
            dummy(Vr::SH, 0).len() <= 16
                && dummy(Vr::AE, 0).len() <= 16
                && dummy(Vr::CS, 0).len() <= 16
        );
        assert_eq!(dummy(Vr::US, 6), vec![0; 6]);
        assert_eq!(pad(Vr::DS, dummy(Vr::DS, 0)), b"0 ");
    }

    #[test]
    fn date_shift() {
        assert_eq!(shift_dates(Vr::DA, b"20240301", -1), b"20240229");
        assert_eq!(
            shift_dates(Vr::DA, b"20240301\\20240302", -2),
            b"20240228\\20240229 "
        );
        assert_eq!(
            shift_dates(Vr::DA, b"20240301-20240310 ", -1),
            b"20240229-20240309 "
        );
        assert_eq!(
            shift_dates(Vr::DT, b"20240301123000.5+0100", -1),
            b"20240229123000.5+0100 "
        );
        assert_eq!(shift_dates(Vr::DT, b"2024", -400), b"2022");
        assert_eq!(shift_dates(Vr::DA, b"garbage!", -1), b"");
        assert_eq!(shift_dates(Vr::DA, b"20241301", -1), b"", "invalid month");
        // DT: a UTC offset is not a range; a range shifts both ends.
        assert_eq!(
            shift_dates(Vr::DT, b"20240301120000-0500", -1),
            b"20240229120000-0500 "
        );
        assert_eq!(
            shift_dates(Vr::DT, b"20240301-20240302", -1),
            b"20240229-20240301 "
        );
        assert_eq!(
            shift_dates(Vr::DT, b"20240301120000-0500-20240302120000-0500", -1),
            b""
        );
    }

    #[test]
    fn numbers_of_four_digits_or_more_are_masked_shorter_ones_stay() {
        let out = mask_numbers(b"pid-0001 on 2019-03-05, 3D T1, 120 kV");
        assert_eq!(out, b"pid-XXXX on XXXX-XX-XX, 3D T1, 120 kV");
    }

    #[test]
    fn uid_mapping_keeps_well_known() {
        let k = Pseudonyms::new(&crate::pseudonym::SecretKey::from_bytes([3; 32]));
        let out = map_uids(&k, b"1.2.840.10008.5.1.4.1.1.2\\1.2.3\0");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("1.2.840.10008.5.1.4.1.1.2\\2.25."), "{s}");
        assert_eq!(s.len() % 2, 0);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shifted_dates_keep_intervals(days in -3652i64..0, y in 1900i32..2100, m in 1u32..13, d in 1u32..29, gap in 0u64..2000) {
            let a = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let b = a.checked_add_days(chrono::Days::new(gap)).unwrap();
            let f = |x: chrono::NaiveDate| x.format("%Y%m%d").to_string();
            let parse = |v: Vec<u8>| chrono::NaiveDate::parse_from_str(std::str::from_utf8(&v).unwrap().trim(), "%Y%m%d").unwrap();
            let (sa, sb) = (parse(shift_dates(Vr::DA, f(a).as_bytes(), days)), parse(shift_dates(Vr::DA, f(b).as_bytes(), days)));
            prop_assert_eq!((sb - sa).num_days(), gap as i64);
            prop_assert_eq!((a - sa).num_days(), -days);
        }
    }
}
