//! Deflated Explicit VR Little Endian: the data set is inflated whole (bounded), walked and
//! rewritten in memory, then compressed again behind the rebuilt, uncompressed file meta.

use super::refusal::{DeidError, Refusal};
use crate::io::ReadAt;
use std::io::{Read, Write};

/// A deflated data set may not inflate beyond this.
const MAX_INFLATED: u64 = 1 << 30;

/// The raw DEFLATE data from `start` to the end of `src`, inflated; more than 1 GiB, or a
/// stream that does not inflate, is a refusal.
pub(super) fn inflate(src: &dyn ReadAt, start: u64) -> Result<Vec<u8>, DeidError> {
    let mut compressed = vec![0u8; (src.len() - start) as usize];
    src.read_exact_at(&mut compressed, start)?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&compressed[..])
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| Refusal::Deflate(e.to_string()))?;
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(Refusal::Deflate(format!("inflates beyond {MAX_INFLATED} bytes")).into());
    }
    Ok(inflated)
}

/// `head` (preamble and meta, uncompressed) followed by `dataset` compressed with raw DEFLATE
/// at the default level, padded to even length. Deterministic for a given flate2 build.
pub(super) fn deflate_after(head: Vec<u8>, dataset: &[u8]) -> Result<Vec<u8>, DeidError> {
    let mut enc = flate2::write::DeflateEncoder::new(head, flate2::Compression::default());
    enc.write_all(dataset)?;
    let mut bytes = enc.finish()?;
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    Ok(bytes)
}
