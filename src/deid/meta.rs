//! What deidfs writes of its own: the conformance marking of PS3.15 E.1.1 in the data set,
//! and a rebuilt file meta group. Nothing of the source meta survives but its version, SOP
//! class and (mapped) instance: no AE titles, no private meta information.

use super::burned_in::PixelWork;
use super::layout::Layout;
use super::plan::Out;
use super::refusal::{DeidError, Refusal};
use super::screen::Facts;
use super::values;
use crate::dicom::encode::{header, item_header};
use crate::dicom::encoding::{TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE};
use crate::dicom::tag::*;
use crate::dicom::{Encoding, Tag, Vr, VrExt};
use crate::policy::{Action, Policy, ProfileOption};
use crate::pseudonym::Pseudonyms;

/// A fixed implementation class UID for files deidfs writes (derived, not registered).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.263870945318617044402106284961457061219";
pub const IMPLEMENTATION_VERSION: &str = concat!("DEIDFS_", env!("CARGO_PKG_VERSION"));

/// The transfer syntax of the output: the source's, corrected when the data set was found
/// encoded otherwise than declared, and detected for bare data sets.
pub(super) fn output_transfer_syntax(layout: &Layout) -> String {
    let detected = match (layout.enc.explicit, layout.enc.big_endian) {
        (false, _) => TS_IMPLICIT_LE,
        (true, true) => TS_EXPLICIT_BE,
        (true, false) => TS_EXPLICIT_LE,
    };
    match layout.meta.as_ref().and_then(|m| m.transfer_syntax.clone()) {
        Some(ts) if !layout.enc.explicit && ts != TS_IMPLICIT_LE => detected.to_string(),
        Some(ts) => ts,
        None => detected.to_string(),
    }
}

/// Patient Identity Removed, De-identification Method, the method code sequence (113100 and
/// each option's code), Burned In Annotation NO when the pixels were cleaned and, when dates
/// were kept or shifted, Longitudinal Temporal Information Modified; in the data set's
/// encoding `enc`.
pub(super) fn marking(
    policy: &Policy,
    enc: Encoding,
    dates_shifted: bool,
    pixels: Option<&PixelWork>,
    defaced: bool,
) -> Result<Vec<(Tag, Out)>, DeidError> {
    let mut v = vec![(
        PATIENT_IDENTITY_REMOVED,
        element(PATIENT_IDENTITY_REMOVED, Vr::CS, b"YES", enc)?,
    )];
    let method = format!(
        "deidfs {} policy {}",
        env!("CARGO_PKG_VERSION"),
        policy.name
    );
    let method: String = method
        .chars()
        .filter(|c| c.is_ascii() && *c != '\\')
        .take(64)
        .collect();
    v.push((
        DEID_METHOD,
        element(DEID_METHOD, Vr::LO, method.as_bytes(), enc)?,
    ));

    let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
    // The options applied. Clean Recognizable Visual Features is listed only on images whose
    // face was removed: others are as without the option.
    codes.extend(
        policy
            .options
            .iter()
            .filter(|o| **o != ProfileOption::CleanRecognizableVisualFeatures || defaced)
            .map(|o| o.code()),
    );
    let mut items = Out::new();
    for (value, meaning) in codes {
        let mut item = Out::new();
        item.append(element(Tag(0x0008, 0x0100), Vr::SH, value.as_bytes(), enc)?);
        item.append(element(Tag(0x0008, 0x0102), Vr::SH, b"DCM", enc)?);
        item.append(element(
            Tag(0x0008, 0x0104),
            Vr::LO,
            meaning.as_bytes(),
            enc,
        )?);
        items.bytes(&item_header(enc, Some(item.len())));
        items.append(item);
    }
    let mut seq = Out::new();
    seq.bytes(
        &header(DEID_METHOD_CODES, Vr::SQ, enc, Some(items.len())).ok_or(
            Refusal::ValueTooLong {
                tag: DEID_METHOD_CODES,
            },
        )?,
    );
    seq.append(items);
    v.push((DEID_METHOD_CODES, seq));

    let longitudinal =
        if policy.has(ProfileOption::RetainLongitudinalModifiedDates) || dates_shifted {
            Some("MODIFIED")
        } else if policy.has(ProfileOption::RetainLongitudinalFullDates) {
            Some("UNMODIFIED")
        } else {
            None
        };
    if pixels.is_some_and(|p| p.text) {
        // The text is gone from the pixels (PS3.15 E.3.1).
        v.push((BURNED_IN, element(BURNED_IN, Vr::CS, b"NO", enc)?));
    }
    if defaced {
        // The face is gone (PS3.15 E.3.2).
        v.push((
            RECOGNIZABLE_VISUAL_FEATURES,
            element(RECOGNIZABLE_VISUAL_FEATURES, Vr::CS, b"NO", enc)?,
        ));
    }
    if let Some(d) = pixels.and_then(|p| p.decoded.as_ref()) {
        // The decoded image as Explicit VR Little Endian holds it; offset tables describe
        // fragments that are gone (an empty part removes the element).
        let photometric = d.geometry.photometric.name().as_bytes();
        v.push((PHOTOMETRIC, element(PHOTOMETRIC, Vr::CS, photometric, enc)?));
        if d.geometry.samples > 1 {
            v.push((PLANAR, element(PLANAR, Vr::US, &0u16.to_le_bytes(), enc)?));
        }
        if d.lossy {
            v.push((LOSSY, element(LOSSY, Vr::CS, b"01", enc)?));
        }
        v.push((EXTENDED_OFFSET_TABLE, Out::new()));
        v.push((EXTENDED_OFFSET_TABLE_LENGTHS, Out::new()));
    }
    if let Some(l) = longitudinal {
        v.push((
            LONGITUDINAL_MODIFIED,
            element(LONGITUDINAL_MODIFIED, Vr::CS, l.as_bytes(), enc)?,
        ));
    }
    Ok(v)
}

/// One new element, its value padded to even length.
fn element(tag: Tag, vr: Vr, value: &[u8], enc: Encoding) -> Result<Out, DeidError> {
    let mut o = Out::with_capacity(12 + value.len() + 1, 1);
    write_element(tag, vr, value, enc, |b| o.bytes(b))?;
    Ok(o)
}

/// Writes one new element to `put`: its header, `value` and the VR's padding byte if the
/// value's length is odd (no copy of the value is made to pad it).
fn write_element(
    tag: Tag,
    vr: Vr,
    value: &[u8],
    enc: Encoding,
    mut put: impl FnMut(&[u8]),
) -> Result<(), DeidError> {
    let pad = value.len() % 2;
    let len = (value.len() + pad) as u64;
    put(&header(tag, vr, enc, Some(len)).ok_or(Refusal::ValueTooLong { tag })?);
    put(value);
    put(&[vr.pad_byte()][..pad]);
    Ok(())
}

/// Preamble, "DICM" and a rebuilt file meta group: version, SOP class, the (mapped) SOP
/// instance, transfer syntax `ts` and deidfs's implementation identity.
pub(super) fn file_head(
    policy: &Policy,
    keys: &Pseudonyms,
    facts: &Facts,
    ts: &str,
) -> Result<Vec<u8>, DeidError> {
    let instance = match &facts.sop_instance {
        // The meta follows the data set's SOP Instance UID: kept only where that is kept,
        // otherwise mapped (never the original, whatever the data set's action).
        Some(uid) if policy.public_rule(SOP_INSTANCE_UID).action == Action::Keep => {
            values::pad(Vr::UI, uid.clone())
        }
        Some(uid) => values::map_uids(keys, uid),
        None => Vec::new(),
    };
    let mut meta = Vec::with_capacity(256);
    let mut put = |tag: Tag, vr: Vr, v: &[u8]| {
        write_element(tag, vr, v, Encoding::EXPLICIT_LE, |b| {
            meta.extend_from_slice(b)
        })
    };
    put(
        Tag(0x0002, 0x0001),
        Vr::OB,
        facts.meta_version.as_deref().unwrap_or(&[0, 1]),
    )?;
    if !facts.sop_class.is_empty() {
        put(Tag(0x0002, 0x0002), Vr::UI, facts.sop_class.as_bytes())?;
    }
    if !instance.is_empty() {
        put(Tag(0x0002, 0x0003), Vr::UI, values::trim(&instance))?;
    }
    put(Tag(0x0002, 0x0010), Vr::UI, ts.as_bytes())?;
    put(
        Tag(0x0002, 0x0012),
        Vr::UI,
        IMPLEMENTATION_CLASS_UID.as_bytes(),
    )?;
    put(
        Tag(0x0002, 0x0013),
        Vr::SH,
        IMPLEMENTATION_VERSION.as_bytes(),
    )?;
    let mut head = Vec::with_capacity(144 + meta.len());
    head.resize(128, 0);
    head.extend_from_slice(b"DICM");
    head.extend_from_slice(
        &header(Tag(0x0002, 0x0000), Vr::UL, Encoding::EXPLICIT_LE, Some(4)).unwrap_or_default(),
    );
    head.extend((meta.len() as u32).to_le_bytes());
    head.extend_from_slice(&meta);
    Ok(head)
}
