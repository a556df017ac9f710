//! Gathering a file's identifiers: one walk over the elements at every depth, reading only the
//! values that can be identifiers (names, dates, the listed IDs and places) and that the policy
//! does not keep.

use super::find::{DateId, Echoes};
use super::memo::EchoMemo;
use super::sources::{self, Kind, MIN_PHONE_DIGITS};
use crate::deid::layout::{Body, Element};
use crate::deid::read::Window;
use crate::deid::values::{string_of, trim};
use crate::dicom::{Tag, Vr};
use crate::policy::{Action, Policy};
use chrono::NaiveDate;
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use std::io;
use std::sync::Arc;

const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);

#[derive(Default)]
struct Found {
    texts: Vec<(Vec<u8>, Kind, Tag)>,
    dates: Vec<DateId>,
    digits: Vec<(Vec<u8>, Kind, Tag)>,
    /// Scratch for one component's parts (kept between components: no allocation each).
    parts: Vec<Vec<u8>>,
}

/// What the identifiers are compiled from, as the walk found it, and its hash (the memo's
/// key): every input of [`compile`].
struct Gathered {
    /// Kept values naming the equipment's maker.
    makers: Vec<Vec<u8>>,
    /// Each value that may identify, in walk order: where it is in `values`, and what it is.
    found: Vec<(Tag, Vr, Kind, Action, std::ops::Range<usize>)>,
    values: Vec<u8>,
    /// The key's fields, hashed once at the end (one call: blake3 costs ~160 instructions
    /// per `update` of a few bytes, and a file has about a hundred fields).
    keyed: Vec<u8>,
}

impl Gathered {
    /// One length-prefixed field of the key (no two input sequences hash the same bytes).
    fn key(&mut self, what: u8, bytes: &[u8]) {
        self.keyed.push(what);
        self.keyed
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.keyed.extend_from_slice(bytes);
    }
}

/// Manufacturer and Secondary Capture Device Manufacturer: kept by every policy, they name a
/// company, and a content creator or institution that repeats the name is that company (a
/// model name or software version is not the maker: a site's name in one is an echo).
const MAKER: [Tag; 2] = [Tag(0x0008, 0x0070), Tag(0x0018, 0x1016)];
/// The identifiers of the data set `elements` under `policy`; `day_shift` is how the policy
/// moves the patient's dates (for dates it shifts rather than removes). Compiled once per
/// set of inputs in `memo` (the files of a series share them).
pub(in crate::deid) fn collect(
    win: &mut Window,
    policy: &Policy,
    elements: &[Element],
    day_shift: i64,
    memo: &EchoMemo,
) -> io::Result<Arc<Echoes>> {
    let mut g = Gathered {
        makers: Vec::new(),
        found: Vec::new(),
        values: Vec::new(),
        keyed: Vec::with_capacity(2048),
    };
    let charset = charset_code(win, elements)?;
    match &charset {
        Some(code) => g.key(b'c', code.as_bytes()),
        None => g.key(b'n', b""),
    }
    g.key(b's', &day_shift.to_le_bytes());
    dataset(win, policy, elements, &mut g)?;
    let key = blake3::hash(&g.keyed);
    Ok(memo.get_or_compile(key, || compile(&g, charset.as_deref(), day_shift)))
}

/// The identifiers gathered, compiled for searching.
fn compile(g: &Gathered, charset: Option<&str>, day_shift: i64) -> Echoes {
    let charset = character_set(charset);
    let mut found = Found::default();
    for (tag, vr, kind, action, at) in &g.found {
        add(&mut found, *tag, *vr, *kind, *action, &g.values[at.clone()]);
    }
    // A person's or institution's name that names the maker is that company; every other
    // identifier is hunted whatever the device fields say.
    found.texts.retain(|(part, kind, _)| {
        !matches!(kind, Kind::PersonName | Kind::Institution)
            || !g.makers.iter().any(|m| has_word(m, part))
    });
    let mut texts = Vec::new();
    for (part, kind, source) in found.texts {
        for mut variant in case_variants(&part, charset.as_ref()) {
            variant.make_ascii_lowercase();
            texts.push((variant, kind, source));
        }
        texts.push((part, kind, source));
    }
    // One pattern per text (parts are lowercase already): the first kind (in `Kind` order)
    // and source report it.
    texts.sort();
    texts.dedup_by(|a, b| a.0 == b.0);
    found.digits.sort();
    found.digits.dedup_by(|a, b| a.0 == b.0);
    // One entry per date and treatment (an enhanced multi-frame file repeats its dates per
    // frame); a removed one sorts first, so it is the one reported and masked.
    found
        .dates
        .sort_by_key(|d| (d.date, d.shifted, d.kind, d.source));
    found.dates.dedup_by_key(|d| (d.date, d.shifted));
    Echoes::build(texts, found.dates, found.digits, day_shift)
}

fn dataset(
    win: &mut Window,
    policy: &Policy,
    elements: &[Element],
    g: &mut Gathered,
) -> io::Result<()> {
    for el in elements {
        match &el.body {
            Body::Sequence(items) => {
                for item in items {
                    dataset(win, policy, &item.elements, g)?;
                }
            }
            Body::Primitive => {
                let vr = el.value_vr();
                if MAKER.contains(&el.tag) && policy.public_rule(el.tag).action == Action::Keep {
                    let maker = win.exact(el.value_start, el.value_len() as usize)?;
                    g.key(b'm', &maker);
                    g.makers.push(maker);
                }
                let Some(kind) = sources::kind_of(el.tag, vr) else {
                    continue;
                };
                let action = if el.tag.is_private() {
                    let creator = creator_of(win, elements, el.tag)?;
                    policy.private_rule(el.tag, creator.as_deref()).action
                } else {
                    policy.public_rule(el.tag).action
                };
                if action == Action::Keep {
                    continue;
                }
                let v = win
                    .get(el.value_start, el.value_len() as usize)?
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "source changed while planning",
                        )
                    })?;
                let start = g.values.len();
                g.values.extend_from_slice(v);
                let [t0, t1] = el.tag.0.to_le_bytes();
                let [t2, t3] = el.tag.1.to_le_bytes();
                g.key(b'e', &[t0, t1, t2, t3, vr as u8, kind as u8, action as u8]);
                g.key(b'v', v);
                g.found
                    .push((el.tag, vr, kind, action, start..g.values.len()));
            }
            Body::Fragments(_) => {}
        }
    }
    Ok(())
}

fn add(found: &mut Found, tag: Tag, vr: Vr, kind: Kind, action: Action, v: &[u8]) {
    for component in trim(v).split(|b| *b == b'\\') {
        match kind {
            Kind::BirthDate | Kind::Date => {
                // A date, a date range's ends, or a DT's date.
                for side in component.split(|b| *b == b'-') {
                    let side = trim(side);
                    // ACR-NEMA dates (YYYY.MM.DD) are still written by old devices.
                    let side: Vec<u8> = match side {
                        [y @ .., b'.', m1, m2, b'.', d1, d2] if y.len() == 4 => {
                            [y, &[*m1, *m2, *d1, *d2]].concat()
                        }
                        _ => side.to_vec(),
                    };
                    if let Some(date) = side.get(..8).and_then(date_of) {
                        found.dates.push(DateId {
                            date,
                            kind,
                            source: tag,
                            // Clean on a date is the shift.
                            shifted: action == Action::Clean && matches!(vr, Vr::DA | Vr::DT),
                        });
                    }
                    if vr == Vr::DT {
                        break;
                    }
                }
            }
            _ => {
                let mut parts = std::mem::take(&mut found.parts);
                sources::parts(kind, component, &mut parts);
                for part in parts.drain(..) {
                    if matches!(kind, Kind::Phone | Kind::PatientId | Kind::OtherId)
                        && sources::digit_count(&part) >= MIN_PHONE_DIGITS
                    {
                        let digits: Vec<u8> =
                            part.iter().copied().filter(u8::is_ascii_digit).collect();
                        found.digits.push((digits, kind, tag));
                    }
                    found.texts.push((part, kind, tag));
                }
                found.parts = parts;
            }
        }
    }
}

/// Whether `part` is a whole word of `text`, in any case (no letter or digit continues it).
fn has_word(text: &[u8], part: &[u8]) -> bool {
    let n = part.len();
    let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b >= 0x80);
    (0..(text.len() + 1).saturating_sub(n)).any(|i| {
        text[i..i + n].eq_ignore_ascii_case(part)
            && !word(i.checked_sub(1).and_then(|j| text.get(j)))
            && !word(text.get(i + n))
    })
}

fn date_of(ymd: &[u8]) -> Option<NaiveDate> {
    let s = std::str::from_utf8(ymd).ok()?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        s[..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..8].parse().ok()?,
    )
}

/// The private creator of `tag`'s block in the same data set.
fn creator_of(win: &mut Window, elements: &[Element], tag: Tag) -> io::Result<Option<String>> {
    if tag.1 < 0x1000 {
        return Ok(None);
    }
    let creator = Tag(tag.0, tag.1 >> 8);
    match elements.iter().find(|e| e.tag == creator) {
        Some(el) => Ok(Some(string_of(
            win.value(el.value_start, el.value_len() as usize)?,
        ))),
        None => Ok(None),
    }
}

/// The data set's Specific Character Set as written, trimmed; `None` without one.
fn charset_code(win: &mut Window, elements: &[Element]) -> io::Result<Option<String>> {
    match elements.iter().find(|e| e.tag == SPECIFIC_CHARACTER_SET) {
        Some(el) => Ok(Some(string_of(
            win.value(el.value_start, el.value_len() as usize)?,
        ))),
        None => Ok(None),
    }
}

/// The character set of `code` (a Specific Character Set value) when it is one code
/// (single-byte or UTF-8): what case variants of non-ASCII identifiers are encoded in. Code
/// extensions (ISO 2022 with several codes) are searched as written, in the case they were
/// written.
fn character_set(code: Option<&str>) -> Option<SpecificCharacterSet> {
    let Some(v) = code else {
        // Without one, bytes beyond ASCII are most often Latin-1.
        return SpecificCharacterSet::from_code("ISO_IR 100");
    };
    let codes: Vec<&str> = v.split('\\').map(str::trim).collect();
    match codes.as_slice() {
        [one] => SpecificCharacterSet::from_code(one),
        _ => None,
    }
}

/// The upper-, lower- and title-case forms of a value with non-ASCII letters, in the file's
/// character set (ASCII letters match in any case without them).
fn case_variants(part: &[u8], charset: Option<&SpecificCharacterSet>) -> Vec<Vec<u8>> {
    let Some(cs) = charset else {
        return Vec::new();
    };
    if part.is_ascii() {
        return Vec::new();
    }
    let Ok(text) = cs.decode(part) else {
        return Vec::new();
    };
    let title: String = {
        let mut out = String::new();
        let mut start = true;
        for c in text.chars() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = !c.is_alphabetic();
        }
        out
    };
    [text.to_uppercase(), text.to_lowercase(), title]
        .iter()
        .filter_map(|t| cs.encode(t).ok())
        .filter(|b| b != part && !b.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_and_utf8_names_get_their_case_variants_in_the_files_own_encoding() {
        let latin1 = SpecificCharacterSet::from_code("ISO_IR 100").unwrap();
        let v = case_variants(b"M\xdcLLER", Some(&latin1));
        assert!(
            v.contains(&b"m\xfcller".to_vec()) && v.contains(&b"M\xfcller".to_vec()),
            "{v:?}"
        );
        let utf8 = SpecificCharacterSet::from_code("ISO_IR 192").unwrap();
        let v = case_variants("Zoë".as_bytes(), Some(&utf8));
        assert!(v.contains(&"ZOË".as_bytes().to_vec()), "{v:?}");
        assert!(
            case_variants(b"DOE", Some(&utf8)).is_empty(),
            "ASCII needs none"
        );
    }
}
