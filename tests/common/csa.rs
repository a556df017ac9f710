//! Siemens CSA headers for tests: built as Siemens writes SV10 (item words len, len, 77, len;
//! values padded to four bytes) and read back.

/// An SV10 header of the given elements (name, VR, items).
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

/// The items of an SV10 header, trimmed, by element name in order.
pub fn items(v: &[u8]) -> Vec<(String, Vec<String>)> {
    let word = |at: usize| i32::from_le_bytes(v[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 16;
    for _ in 0..word(8) {
        let raw = &v[at..at + 64];
        let name = String::from_utf8_lossy(&raw[..raw.iter().position(|&b| b == 0).unwrap()]);
        let n = word(at + 76);
        at += 84;
        let mut values = Vec::new();
        for _ in 0..n {
            let len = word(at + 4) as usize;
            let s = &v[at + 16..at + 16 + len];
            let text = &s[..s.iter().position(|&b| b == 0).unwrap_or(len)];
            values.push(String::from_utf8_lossy(text).trim().to_string());
            at += 16 + len.div_ceil(4) * 4;
        }
        out.push((name.to_string(), values));
    }
    out
}
