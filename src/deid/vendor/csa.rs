//! Siemens CSA image and series headers ((0029,xx10) and (0029,xx20), creator "SIEMENS CSA
//! HEADER"). A header is a count of elements, each a 64-byte name, VM, VR, and items of text
//! (numbers are text too), little endian. SV10 (syngo MR B and later) starts with "SV10" and
//! four bytes, and an item's length is its second word; the older form starts with the count
//! and an item's length is its first word less the first element's item count. Items are
//! padded to four bytes.
//!
//! Cleaned in place, so the length never changes: an item that is a number is kept; an item of
//! a technical element (coil, ICE dimensions, gradient mode...: `TECHNICAL`) is kept; the
//! protocol (MrPhoenixProtocol) is cleaned as protocol text; the patient's weight
//! (UsedPatientWeight) is kept only with retain-patient-characteristics; every other text is
//! blanked, and bytes after the last item are zeroed. The names, VRs and counts stay.

use super::{Keep, blank, numeric, protocol};

/// Elements whose text is acquisition technique, never a person, place or time.
const TECHNICAL: &[&str] = &[
    "AcquisitionMatrixText",
    "B1rmsSupervision",
    "CoilForGradient",
    "CoilForGradient2",
    "CoilString",
    "DiffusionDirectionality",
    "FlowCompensation",
    "GSWDDataType",
    "GradientMode",
    "ICE_Dims",
    "ImaCoilString",
    "ImaPATModeText",
    "ImageHistory",
    "LongModelName",
    "PATModeText",
    "PhaseEncodingDirection",
    "PositivePCSDirections",
    "RFSWDDataType",
    "RFSWDMostCriticalAspect",
    "SequenceFileOwner",
    "SequenceMask",
];
/// Items holding the protocol, cleaned as protocol text.
const PROTOCOL: &[&str] = &["MrPhoenixProtocol", "MrProtocol", "MrEvaProtocol"];
/// The patient's characteristics: kept with retain-patient-characteristics.
const CHARACTERISTICS: &[&str] = &["UsedPatientWeight"];

const MAX_ELEMENTS: u32 = 1000;
const MAX_ITEMS: i32 = 100_000;

fn word(v: &[u8], at: usize) -> Result<i32, String> {
    v.get(at..at + 4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("ends at byte {} inside a header word", v.len()))
}

pub(super) fn clean(v: &[u8], keep: Keep) -> Result<Vec<u8>, String> {
    let mut out = v.to_vec();
    let sv10 = v.starts_with(b"SV10");
    let mut at = if sv10 { 8 } else { 0 };
    let count = word(v, at)? as u32;
    if !(1..=MAX_ELEMENTS).contains(&count) {
        return Err(format!(
            "{count} elements (a CSA header has 1 to {MAX_ELEMENTS})"
        ));
    }
    if word(v, at + 4)? != 77 {
        return Err("no CSA check word (77) after the element count".into());
    }
    at += 8;
    let mut first_items = None;
    for e in 0..count {
        let head = v
            .get(at..at + 84)
            .ok_or_else(|| format!("element {e} runs past the end ({} bytes)", v.len()))?;
        let name_bytes = &head[..64];
        let name_len = name_bytes.iter().position(|&b| b == 0).unwrap_or(64);
        let name = std::str::from_utf8(&name_bytes[..name_len])
            .ok()
            .filter(|n| n.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| format!("element {e}: its name is not a name"))?
            .to_string();
        let items = word(v, at + 76)?;
        if !(0..=MAX_ITEMS).contains(&items) {
            return Err(format!("{name}: {items} items"));
        }
        at += 84;
        let offset = *first_items.get_or_insert(items);
        for i in 0..items {
            let len = if sv10 {
                word(v, at + 4)?
            } else {
                word(v, at)? - offset
            };
            let start = at + 16;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&end| end <= v.len())
                .ok_or_else(|| format!("{name}: item {i} of {len} bytes runs past the end"))?;
            clean_item(&name, &mut out[start..end], keep);
            at = start + (end - start).div_ceil(4) * 4;
        }
    }
    if at > v.len() {
        return Err(format!(
            "the last item's padding runs past the end ({} bytes)",
            v.len()
        ));
    }
    out[at..].fill(0);
    Ok(out)
}

fn clean_item(name: &str, item: &mut [u8], keep: Keep) {
    let text = item.iter().position(|&b| b == 0).unwrap_or(item.len());
    let (value, after) = item.split_at_mut(text);
    after.fill(0);
    if PROTOCOL.contains(&name) {
        protocol::clean(value);
    } else if CHARACTERISTICS.contains(&name) {
        if !keep.characteristics {
            blank(value);
        }
    } else if !numeric(value) && !TECHNICAL.contains(&name) {
        blank(value);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An SV10 header of the given elements, each with its items (as Siemens writes them:
    /// item words len, len, 77, len; values padded to four bytes).
    pub fn sv10(elements: &[(&str, &str, &[&str])]) -> Vec<u8> {
        let mut v = b"SV10\x04\x03\x02\x01".to_vec();
        v.extend((elements.len() as u32).to_le_bytes());
        v.extend(77u32.to_le_bytes());
        for (name, vr, items) in elements {
            let mut n = [0u8; 64];
            n[..name.len()].copy_from_slice(name.as_bytes());
            v.extend(n);
            v.extend(1i32.to_le_bytes());
            let mut r = [0u8; 4];
            r[..vr.len()].copy_from_slice(vr.as_bytes());
            v.extend(r);
            v.extend(3i32.to_le_bytes());
            v.extend((items.len() as i32).to_le_bytes());
            v.extend(77i32.to_le_bytes());
            for item in *items {
                let len = item.len() as i32 + 1;
                for w in [len, len, 77, len] {
                    v.extend(w.to_le_bytes());
                }
                v.extend(item.as_bytes());
                v.push(0);
                while v.len() % 4 != 0 {
                    v.push(0);
                }
            }
        }
        v
    }

    fn items(v: &[u8]) -> Vec<String> {
        // The test headers' items, read back by the same walk.
        let mut out = Vec::new();
        let count = word(v, 8).unwrap();
        let mut at = 16;
        for _ in 0..count {
            let n = word(v, at + 76).unwrap();
            at += 84;
            for _ in 0..n {
                let len = word(v, at + 4).unwrap() as usize;
                let s = &v[at + 16..at + 16 + len];
                out.push(
                    String::from_utf8_lossy(&s[..s.iter().position(|&b| b == 0).unwrap_or(len)])
                        .trim()
                        .to_string(),
                );
                at += 16 + len.div_ceil(4) * 4;
            }
        }
        out
    }

    #[test]
    fn numbers_and_technical_text_stay_and_other_text_is_blanked_in_place() {
        let src = sv10(&[
            ("NumberOfImagesInMosaic", "US", &["35"]),
            ("MosaicRefAcqTimes", "FD", &["0.0", "1032.5", "-12.5e1"]),
            ("ImaCoilString", "LO", &["T:HEA;HEP"]),
            ("PatReinPattern", "ST", &["1;HFS;100.70;33.68;DOE^JANE"]),
            ("UsedPatientWeight", "DS", &["100.7"]),
            ("SomeNewText", "LO", &["St. Mary Hospital"]),
        ]);
        let out = clean(&src, Keep::default()).unwrap();
        assert_eq!(out.len(), src.len());
        assert_eq!(
            items(&out),
            ["35", "0.0", "1032.5", "-12.5e1", "T:HEA;HEP", "", "", ""]
        );
        let kept = clean(
            &src,
            Keep {
                characteristics: true,
            },
        )
        .unwrap();
        assert_eq!(items(&kept)[6], "100.7");
    }

    #[test]
    fn a_header_that_does_not_parse_is_an_error_never_a_partial_clean() {
        let src = sv10(&[("B_value", "IS", &["1000"])]);
        for cut in [4, 12, 40, src.len() - 8] {
            assert!(clean(&src[..cut], Keep::default()).is_err(), "cut at {cut}");
        }
        let mut bad_count = src.clone();
        bad_count[8..12].copy_from_slice(&5000u32.to_le_bytes());
        assert!(
            clean(&bad_count, Keep::default())
                .unwrap_err()
                .contains("5000 elements")
        );
        assert!(clean(b"plain text, not a CSA header", Keep::default()).is_err());
    }
}
