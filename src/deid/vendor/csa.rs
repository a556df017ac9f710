//! Siemens CSA image and series headers ((0029,xx10) and (0029,xx20), creator "SIEMENS CSA
//! HEADER"). A header is a count of elements, each a 64-byte name, VM, VR, and items of text
//! (numbers are text too), little endian. SV10 (syngo MR B and later) starts with "SV10" and
//! four bytes, and an item's length is its second word; the older form starts with the count
//! and an item's length is its first word less the first element's item count. Items are
//! padded to four bytes.
//!
//! Cleaned in place, so the length never changes: an item of a number VR (IS, DS, FD...) that
//! is a number is kept (a UI, DA or TM item is digits too, and is blanked); an item of
//! a technical element (coil, ICE dimensions, gradient mode...: `TECHNICAL`) is kept; the
//! protocol (MrPhoenixProtocol) is cleaned as protocol text; the patient's weight
//! (UsedPatientWeight) is kept only with retain-patient-characteristics; every other text is
//! blanked; bytes after a name's NUL, after a VR's two letters, in an item's padding and after
//! the last item are zeroed. The names, VRs and counts stay.
//! Tested through the engine in tests/vendor.rs.

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

/// The VRs whose items are numbers.
const NUMBER_VRS: &[&[u8]] = &[
    b"IS", b"DS", b"FL", b"FD", b"SL", b"UL", b"SS", b"US", b"SV", b"UV",
];

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
        let vr = &head[68..72];
        if !(vr[..2].iter().all(u8::is_ascii_uppercase)) {
            return Err(format!("{name}: its VR is not a VR"));
        }
        let number = NUMBER_VRS.contains(&&vr[..2]);
        let items = word(v, at + 76)?;
        if !(0..=MAX_ITEMS).contains(&items) {
            return Err(format!("{name}: {items} items"));
        }
        // What follows the name's NUL and the VR's two letters is not structure: zeroed.
        out[at + name_len..at + 64].fill(0);
        out[at + 70..at + 72].fill(0);
        at += 84;
        let offset = *first_items.get_or_insert(items);
        for i in 0..items {
            let len = if sv10 {
                word(v, at + 4)?
            } else {
                word(v, at)?
                    .checked_sub(offset)
                    .ok_or_else(|| format!("{name}: item {i} has no valid length"))?
            };
            let start = at + 16;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&end| end <= v.len())
                .ok_or_else(|| format!("{name}: item {i} of {len} bytes runs past the end"))?;
            clean_item(&name, number, &mut out[start..end], keep);
            at = start + (end - start).div_ceil(4) * 4;
            // The padding to four bytes is zeros.
            out[end..at.min(v.len())].fill(0);
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

/// `number`: the element's VR is a number's (IS, DS, FL, FD, SL, UL, SS, US, SV, UV): only
/// then is numeric text kept as such (a UI, DA or TM item is digits too, and identifies).
fn clean_item(name: &str, number: bool, item: &mut [u8], keep: Keep) {
    let text = item.iter().position(|&b| b == 0).unwrap_or(item.len());
    let (value, after) = item.split_at_mut(text);
    after.fill(0);
    if PROTOCOL.contains(&name) {
        protocol::clean(value);
    } else if CHARACTERISTICS.contains(&name) {
        if !keep.characteristics {
            blank(value);
        }
    } else if !(TECHNICAL.contains(&name) || number && numeric(value)) {
        blank(value);
    }
}
