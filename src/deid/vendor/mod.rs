//! Vendor blobs the research-safe dictionary cleans (`policy::vendor`): each parsed by its
//! structure, its technical content kept and every other text blanked, its structure kept so
//! the readers that need it (dcm2niix above all) still read it. A blob that does not parse is
//! an error: the caller removes the element (fail closed) and says why.
//!
//! `csa` (Siemens CSA headers), `protocol` (Siemens protocol text, inside a CSA header or on
//! its own in XA), `ge` (GE's compressed protocol block). The file's identifiers are then
//! searched in the result like in any kept value (`echo`).

mod csa;
mod ge;
mod protocol;

use crate::policy::Blob;

/// What a cleaner may keep beyond the technical fields.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Keep {
    /// The patient's weight and size (retain-patient-characteristics).
    pub characteristics: bool,
}

/// The cleaned value, or why the blob does not parse. `scrub` searches text for the file's
/// identifiers (`echo`), the cleaned value itself, or for a compressed blob its text before
/// it is compressed again.
pub(super) fn clean(
    blob: Blob,
    value: &[u8],
    keep: Keep,
    scrub: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let plain = match blob {
        Blob::SiemensCsa => csa::clean(value, keep)?,
        Blob::SiemensProtocol => {
            let mut out = value.to_vec();
            protocol::clean(&mut out);
            out
        }
        Blob::GeProtocol => return ge::clean(value, scrub),
    };
    Ok(scrub(&plain).unwrap_or(plain))
}

/// A value that is only a number (or a list of them): digits, signs, points, exponents,
/// hexadecimal, separators. Empty counts as a number (nothing to hide).
pub(super) fn numeric(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let hex = v.len() > 2 && (v.starts_with(b"0x") || v.starts_with(b"0X"));
    if hex {
        return v[2..].iter().all(u8::is_ascii_hexdigit);
    }
    v.iter()
        .all(|b| b.is_ascii_digit() || b" +-.eE\\,;".contains(b))
}

/// Every byte of `v` but line breaks, as a space.
pub(super) fn blank(v: &mut [u8]) {
    for b in v {
        if !matches!(*b, b'\n' | b'\r') {
            *b = b' ';
        }
    }
}
