//! GE's protocol data block ((0025,xx1B), creator "GEMS_SERS_01"): the length of a gzip
//! stream (four bytes, little endian), the stream, of `KEY "value"` lines, and padding.
//! Inflated (at most 16 MiB), cleaned line by line (the keys dcm2niix
//! reads and every numeric value stay, other values are blanked), compressed again with a
//! fixed header (no name, no time), so the output is the same on every machine. The length
//! changes; the plan holds the new value, so the size is still known when planning.

use super::{blank, numeric};
use std::io::{Read, Write};

/// Keys whose values are technique (slice and view order, multiband, group delay,
/// sequence and imaging options).
const KEYS: &[&[u8]] = &[
    b"SLICEORDER",
    b"VIEWORDER",
    b"MBACCEL",
    b"NOSLC",
    b"DELACQ",
    b"DELACQNOAV",
    b"PSEQ",
    b"IOPT",
    b"PHASEDELAYS1",
];
const MAX_INFLATED: u64 = 16 << 20;

pub(super) fn clean(v: &[u8]) -> Result<Vec<u8>, String> {
    let declared = v
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("shorter than its length field")?;
    let stream = v
        .get(4..4 + declared)
        .ok_or_else(|| format!("says {declared} bytes of gzip, holds {}", v.len() - 4))?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(stream)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("not a gzip stream: {e}"))?;
    if text.len() as u64 > MAX_INFLATED {
        return Err(format!("inflates beyond {MAX_INFLATED} bytes"));
    }
    for line in text.split_mut(|&b| b == b'\n') {
        let trimmed = line.trim_ascii_start();
        let key_len = trimmed
            .iter()
            .take_while(|b| !b.is_ascii_whitespace())
            .count();
        let lead = line.len() - trimmed.len();
        let key = line[lead..lead + key_len].to_vec();
        let value = &mut line[lead + key_len..];
        let unquoted: Vec<u8> = value.iter().copied().filter(|&b| b != b'"').collect();
        if !KEYS.contains(&key.as_slice()) && !numeric(&unquoted) {
            blank(value);
        }
    }
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).map_err(|e| e.to_string())?;
    let compressed = gz.finish().map_err(|e| e.to_string())?;
    let mut out = (compressed.len() as u32).to_le_bytes().to_vec();
    out.extend(compressed);
    if out.len() % 2 == 1 {
        out.push(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As GE writes it: the length, a gzip stream with a file name, a pad byte.
    fn block(t: &[u8]) -> Vec<u8> {
        let mut gz = flate2::GzBuilder::new()
            .filename("Exam")
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(t).unwrap();
        let z = gz.finish().unwrap();
        let mut v = (z.len() as u32).to_le_bytes().to_vec();
        v.extend(z);
        v.push(0);
        v
    }

    fn gunzip(v: &[u8]) -> String {
        let n = u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&v[4..4 + n])
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn the_keys_dcm2niix_reads_and_numbers_stay_other_values_are_blanked() {
        let src = block(b"ENTRY \"Head First\"\nSLICEORDER \"1\"\nMBACCEL \"3\"\nPSEQ \"EPI\"\nNOTES \"patient DOE anxious\"\nTE \"30.0\"\n");
        let out = clean(&src).unwrap();
        let text = gunzip(&out);
        for kept in [
            "SLICEORDER \"1\"",
            "MBACCEL \"3\"",
            "PSEQ \"EPI\"",
            "TE \"30.0\"",
            "NOTES",
            "ENTRY",
        ] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        assert!(
            !text.contains("DOE") && !text.contains("Head First"),
            "{text}"
        );
        assert_eq!(clean(&src).unwrap(), out, "the same bytes every time");
        assert!(clean(b"not gzip").is_err());
        assert!(clean(&src[..src.len() / 2]).is_err(), "a cut stream");
    }
}
