//! GE's protocol data block ((0025,xx1B), creator "GEMS_SERS_01"): the length of a gzip
//! stream (four bytes, little endian), the stream, of `KEY "value"` lines, and padding.
//! Inflated (at most 16 MiB), cleaned line by line (the keys dcm2niix
//! reads and every numeric value stay, other values are blanked), compressed again with a
//! fixed header (no name, no time), so the output is the same on every machine. The length
//! changes; the plan holds the new value, so the size is still known when planning.

use super::blank;
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

/// `scrub` searches the cleaned text for the file's identifiers (before it is compressed).
pub(super) fn clean(
    v: &[u8],
    scrub: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
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
    // A line is `KEY value`; a quoted value may run on over lines. Only the keys dcm2niix
    // reads keep their values; a key that is not a key (not upper-case letters, digits, `_`)
    // and every continuation line go whole.
    let mut in_string = false;
    for line in text.split_mut(|&b| b == b'\n') {
        if in_string {
            in_string ^= line.iter().filter(|&&b| b == b'"').count() % 2 == 1;
            blank(line);
            continue;
        }
        let lead = line.len() - line.trim_ascii_start().len();
        let key_len = line[lead..]
            .iter()
            .take_while(|b| !b.is_ascii_whitespace())
            .count();
        let (head, value) = line.split_at_mut(lead + key_len);
        in_string = value.iter().filter(|&&b| b == b'"').count() % 2 == 1;
        let key = &head[lead..];
        let is_key = !key.is_empty()
            && key
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_');
        if !is_key {
            blank(head);
            blank(value);
        } else if !KEYS.contains(&key) {
            blank(value);
        }
    }
    if let Some(scrubbed) = scrub(&text) {
        text = scrubbed;
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
    fn only_the_keys_dcm2niix_reads_keep_their_values_and_what_is_not_a_key_goes() {
        let src = block(
            b"ENTRY \"Head First\"\nSLICEORDER \"1\"\nMBACCEL \"3\"\nPSEQ \"EPI\"\n\
              NOTES \"patient DOE\nSMITH anxious\"\nDOE^JANE\nACC \"19700101\"\n\
              IOPT \"EDR, EPI, KOWALSKA\"\n",
        );
        let none = &mut |_: &[u8]| None;
        let out = clean(&src, none).unwrap();
        let text = gunzip(&out);
        for kept in [
            "SLICEORDER \"1\"",
            "MBACCEL \"3\"",
            "PSEQ \"EPI\"",
            "NOTES",
            "ENTRY",
            "ACC",
        ] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        for gone in ["DOE", "SMITH", "JANE", "Head First", "19700101"] {
            assert!(!text.contains(gone), "{gone}: {text}");
        }
        assert!(
            text.contains("KOWALSKA"),
            "a kept value is the scrub's to clean"
        );
        let mut mask = |t: &[u8]| {
            Some(
                String::from_utf8_lossy(t)
                    .replace("KOWALSKA", "XXXXXXXX")
                    .into_bytes(),
            )
        };
        let scrubbed = clean(&src, &mut mask).unwrap();
        assert!(
            !gunzip(&scrubbed).contains("KOWALSKA"),
            "searched before compressing"
        );
        assert_eq!(clean(&src, none).unwrap(), out, "the same bytes every time");
        assert!(clean(b"not gzip", none).is_err());
        assert!(clean(&src[..src.len() / 2], none).is_err(), "a cut stream");
    }
}
