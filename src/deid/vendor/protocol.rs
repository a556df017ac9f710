//! Siemens protocol text: the XProtocol tree and its ASCCONV section (`key = value` lines),
//! as the CSA series header's MrPhoenixProtocol item and Siemens XA's (0021,xx19) hold it.
//! Cleaned in place, so the length never changes:
//!
//! - ASCCONV: a number (decimal or hexadecimal) stays; a string stays when its key's last part
//!   names technique (`STRING_KEYS`: the sequence file, coil and element IDs, nucleus, RF pulse
//!   names, software baseline); every other string (the protocol name, reference image UIDs,
//!   the EVA protocol path, free WIP text), comment and non-numeric value is blanked.
//!   A line whose key is not a parameter path, and every `#` line but the section's own
//!   `### ASCCONV` markers, is blanked.
//! - XProtocol: tags (`<Name>`, `<ParamLong."lSize">`: the parameter names) stay; a string
//!   after `<Name>`, `<Class>`, `<Dll>`, `<Context>`, `<Repr>`, `<Visible>` or `<Param>` stays;
//!   a string that is itself a protocol (it holds `<XProtocol>` or an ASCCONV section, its
//!   quotes doubled) is cleaned the same way one level down; every other string, and every
//!   bare word that is not a number, is blanked.

use super::{blank, numeric};

/// ASCCONV keys (their last part, array indices dropped) whose strings are technique.
const STRING_KEYS: &[&str] = &[
    "tSequenceFileName",
    "tNucleus",
    "tName",
    "tCoilID",
    "tElement",
    "tCoilClass",
    "tCoilManufacturer",
    "tBaselineString",
    "tMeasuredBaselineString",
    "tSystemType",
    "sCoilStringForConversion",
];
/// XProtocol tags after which a string is a name, not a value.
const NAME_TAGS: &[&[u8]] = &[
    b"<Name>",
    b"<Class>",
    b"<Dll>",
    b"<Context>",
    b"<Repr>",
    b"<Visible>",
    b"<Param>",
];
const BEGIN: &[u8] = b"### ASCCONV BEGIN";
const END: &[u8] = b"### ASCCONV END";

pub(super) fn clean(text: &mut [u8]) {
    clean_at(text, 1);
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Cleans `t`, whose quotes are written `q` times (1 at the top, doubled inside a string).
fn clean_at(t: &mut [u8], q: usize) {
    let quote = vec![b'"'; q];
    let escaped = vec![b'"'; 2 * q];
    let mut i = 0;
    while i < t.len() {
        if t[i..].starts_with(BEGIN) {
            let end = find(t, END, i).unwrap_or(t.len());
            ascconv(&mut t[i..end], q);
            // The end marker's line stays (`### ASCCONV END ###`), nothing else on it.
            let line_end = find(t, b"\n", end).unwrap_or(t.len());
            for b in &mut t[(end + END.len()).min(line_end)..line_end] {
                if *b != b'#' && !b.is_ascii_whitespace() {
                    *b = b' ';
                }
            }
            i = line_end;
            continue;
        }
        if t[i] == b'<'
            && let Some(len) = tag_len(&t[i..])
        {
            i += len; // a tag: structure, parameter names included
            continue;
        }
        if !t[i..].starts_with(&quote) {
            // Outside strings and tags: whitespace, braces and numbers stay, anything else is
            // blanked (a stray quote too: what follows is then read as bare text).
            if t[i].is_ascii_whitespace() || b"{}".contains(&t[i]) {
                i += 1;
                continue;
            }
            let len = t[i..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || b"<\"{}".contains(b))
                .unwrap_or(t.len() - i)
                .max(1);
            if !numeric(&t[i..i + len]) {
                blank(&mut t[i..i + len]);
            }
            i += len;
            continue;
        }
        // A string of this level: up to the next quote that is not an escaped one.
        let start = i + q;
        let mut j = start;
        while j < t.len() {
            if t[j..].starts_with(&escaped) {
                j += 2 * q;
            } else if t[j..].starts_with(&quote) {
                break;
            } else {
                j += 1;
            }
        }
        let names = is_name(&t[..i]);
        let stop = j.min(t.len());
        let content = &mut t[start..stop];
        if find(content, b"<XProtocol>", 0).is_some() || find(content, BEGIN, 0).is_some() {
            clean_at(content, 2 * q);
        } else if !names {
            blank(content);
        }
        i = j + q;
    }
}

/// Whether the string that starts after `before` is a name: after a name tag.
fn is_name(before: &[u8]) -> bool {
    let b = before.trim_ascii_end();
    NAME_TAGS.iter().any(|tag| b.ends_with(tag))
}

/// The length of the XProtocol tag at the start of `t` (`<Name>`, `<ParamLong."lSize">`, with
/// quotes doubled one level down), or `None` when it is not one: at most 128 bytes of letters,
/// digits, `_`, `.` and quotes, then `>`.
fn tag_len(t: &[u8]) -> Option<usize> {
    let end = t.iter().take(130).position(|&b| b == b'>')?;
    t[1..end]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"_.\"".contains(b))
        .then_some(end + 1)
}

/// The lines of an ASCCONV section.
fn ascconv(section: &mut [u8], q: usize) {
    let mut start = 0;
    while start < section.len() {
        let end = find(section, b"\n", start).unwrap_or(section.len());
        line(&mut section[start..end], q);
        start = end + 1;
    }
}

fn line(l: &mut [u8], q: usize) {
    if l.trim_ascii_start().starts_with(b"#") {
        if !l.trim_ascii_start().starts_with(b"### ASCCONV") {
            blank(l);
        }
        return;
    }
    let Some(eq) = l.iter().position(|&b| b == b'=') else {
        blank(l);
        return;
    };
    let (key, value) = l.split_at_mut(eq);
    // A key is a parameter path (`sKSpace.lBaseResolution`, `asList[0].tElement`).
    if !key
        .trim_ascii()
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"_.[]".contains(b))
    {
        blank(key);
        blank(value);
        return;
    }
    let value = &mut value[1..];
    let last = key
        .trim_ascii()
        .rsplit(|&b| b == b'.')
        .next()
        .unwrap_or_default();
    let last: &[u8] = match last.iter().position(|&b| b == b'[') {
        Some(p) => &last[..p],
        None => last,
    };
    let quote = vec![b'"'; q];
    match (
        find(value, &quote, 0),
        value.windows(q).rposition(|w| w == quote.as_slice()),
    ) {
        (Some(open), Some(close)) if close > open => {
            // Everything between the outermost quotes; what follows the string is a comment.
            let keep = STRING_KEYS.iter().any(|k| k.as_bytes() == last);
            let inner = open + value[open..].iter().take_while(|&&b| b == b'"').count();
            let inner_end = close + q
                - value[..close + q]
                    .iter()
                    .rev()
                    .take_while(|&&b| b == b'"')
                    .count();
            if !keep && inner < inner_end {
                blank(&mut value[inner..inner_end]);
            }
            blank(&mut value[..open]); // text between `=` and the string
            let after = close + q;
            blank(&mut value[after..]);
        }
        _ => {
            let (v, comment) = match value.iter().position(|&b| b == b'#') {
                Some(h) => value.split_at_mut(h),
                None => value.split_at_mut(value.len()),
            };
            if !numeric(v) {
                blank(v);
            }
            blank(comment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        clean(&mut b);
        assert_eq!(b.len(), s.len(), "the length never changes");
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn ascconv_keeps_numbers_and_technical_strings_and_blanks_the_rest() {
        let src = "### ASCCONV BEGIN ###\n\
                   tSequenceFileName = \"\"%SiemensSeq%\\ep2d_bold\"\"\n\
                   tProtocolName = \"\"DOE^JANE brain\"\"\n\
                   tReferenceImage0 = \"\"1.3.12.2.1107.5.2.32.35131.2014031012405855226785388\"\"\n\
                   sKSpace.lBaseResolution = 64\n\
                   sAdjData.uiAdjFreMode = 0x1 # a comment from JANE\n\
                   asCoilSelectMeas[0].asList[0].sCoilElementID.tCoilID = \"\"HeadMatrix\"\"\n\
                   sWipMemBlock.tFree = \"\"call Jane 555-1234\"\"\n\
                   ### ASCCONV END ###";
        let out = cleaned(src);
        for kept in [
            "ep2d_bold",
            "lBaseResolution = 64",
            "0x1",
            "HeadMatrix",
            "### ASCCONV END ###",
        ] {
            assert!(out.contains(kept), "{kept} kept: {out}");
        }
        for gone in ["DOE", "JANE", "Jane", "555", "1.3.12.2.1107", "comment"] {
            assert!(!out.contains(gone), "{gone} blanked: {out}");
        }
        assert!(out.contains("tProtocolName = \"\"              \"\""));
    }

    #[test]
    fn xprotocol_keeps_names_and_cleans_a_nested_protocol_one_level_down() {
        let src = "<XProtocol> { <Name> \"PhoenixMetaProtocol\" <ParamString.\"tProtocolName\"> { \"DOE^JANE\" } \
                   <ParamString.\"Protocol0\"> { \"<XProtocol> { <Name> \"\"Inner\"\" \
                   <ParamString.\"\"tPatient\"\"> { \"\"SMITH\"\" } }\n### ASCCONV BEGIN ###\n\
                   tProtocolName = \"\"SMITH knee\"\"\nlTotalScanTimeSec = 180\n### ASCCONV END ###\" } \
                   <Label> \"St. Mary\" }";
        let out = cleaned(src);
        for kept in [
            "PhoenixMetaProtocol",
            "tProtocolName",
            "Protocol0",
            "Inner",
            "tPatient",
            "lTotalScanTimeSec = 180",
        ] {
            assert!(out.contains(kept), "{kept} kept: {out}");
        }
        for gone in ["DOE", "JANE", "SMITH", "Mary"] {
            assert!(!out.contains(gone), "{gone} blanked: {out}");
        }
    }

    #[test]
    fn what_is_not_a_recognised_token_is_blanked() {
        let src = "<XProtocol> { JANE DOE 42 <Name> \"Kept\" x.\"SMITH\" <Label> \"Mary\" }\n\
                   ### ASCCONV BEGIN ### KOWALSKA\n\
                   tFree = OLSEN \"\"x\"\"\n\
                   JANE DOE = 5\n\
                   # a comment by JANE\n\
                   lSize = 7\n\
                   ### ASCCONV END ### NILSSON\n\
                   \"odd quote then PETERSEN";
        let out = cleaned(src);
        for gone in [
            "JANE", "DOE", "SMITH", "Mary", "OLSEN", "NILSSON", "PETERSEN",
        ] {
            assert!(!out.contains(gone), "{gone} blanked: {out}");
        }
        for kept in [
            "<XProtocol>",
            "42",
            "Kept",
            "lSize = 7",
            "### ASCCONV END ###",
        ] {
            assert!(out.contains(kept), "{kept} kept: {out}");
        }
    }
}
