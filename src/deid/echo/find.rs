//! Finding a file's identifiers in a value: names, IDs and places as text (any case, at word
//! edges), dates in the forms people write them, phone numbers and long IDs by their digits.

use super::dates;
use super::sources::Kind;
use crate::dicom::Tag;
use aho_corasick::{AhoCorasick, MatchKind};
use chrono::{Datelike, NaiveDate};

/// One identifier found in a value: `value[start..end]`, and what to write instead when the
/// policy shifts it (a date); otherwise it is masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    /// The element the identifier came from.
    pub source: Tag,
    pub replacement: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Digit,
    Letter,
    Other,
}

fn class(b: u8) -> Class {
    if b.is_ascii_digit() {
        Class::Digit
    } else if b.is_ascii_alphabetic() || b >= 0x80 {
        // Bytes of non-ASCII characters belong to the word they are in.
        Class::Letter
    } else {
        Class::Other
    }
}

#[derive(Debug)]
struct Pattern {
    first: Class,
    last: Class,
    digits_only: bool,
    len: usize,
    kind: Kind,
    source: Tag,
}

#[derive(Debug, Clone)]
pub(super) struct DateId {
    pub date: NaiveDate,
    pub kind: Kind,
    pub source: Tag,
    /// The policy shifts this date (rather than removing it).
    pub shifted: bool,
}

#[derive(Debug)]
struct DigitId {
    digits: Vec<u8>,
    kind: Kind,
    source: Tag,
}

/// A file's identifiers, compiled for searching. Empty when the file has none.
#[derive(Debug, Default)]
pub struct Echoes {
    text: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    dates: Vec<DateId>,
    digits: Vec<DigitId>,
    day_shift: i64,
}

/// In numeric values (DS, IS) only IDs of digits this long count: shorter numbers are too
/// often a measurement that happens to be equal.
pub const MIN_NUMERIC_ID: usize = 6;

impl Echoes {
    /// Compiles `texts` (each part with its kind and source), `dates` and `digits`.
    pub(super) fn build(
        texts: Vec<(Vec<u8>, Kind, Tag)>,
        dates: Vec<DateId>,
        digits: Vec<(Vec<u8>, Kind, Tag)>,
        day_shift: i64,
    ) -> Echoes {
        let patterns: Vec<Pattern> = texts
            .iter()
            .map(|(p, kind, source)| Pattern {
                first: class(p[0]),
                last: class(p[p.len() - 1]),
                digits_only: p.iter().all(u8::is_ascii_digit),
                len: p.len(),
                kind: *kind,
                source: *source,
            })
            .collect();
        let text = (!texts.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(texts.iter().map(|(p, _, _)| p))
                    .ok()
            })
            .flatten();
        Echoes {
            text,
            patterns,
            dates,
            digits: digits
                .into_iter()
                .map(|(digits, kind, source)| DigitId {
                    digits,
                    kind,
                    source,
                })
                .collect(),
            day_shift,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.dates.is_empty() && self.digits.is_empty()
    }

    /// How many identifiers (parts, dates, digit strings) are hunted.
    pub fn len(&self) -> usize {
        self.patterns.len() + self.dates.len() + self.digits.len()
    }

    /// Every identifier in `v`, in no particular order (hits may overlap). `numeric`: `v` is
    /// a number (DS, IS), where only long digit IDs and dates count.
    pub fn find(&self, v: &[u8], numeric: bool) -> Vec<Hit> {
        let mut hits = Vec::new();
        if let Some(ac) = &self.text {
            for m in ac.find_overlapping_iter(v) {
                let p = &self.patterns[m.pattern().as_usize()];
                if numeric && !(p.digits_only && p.len >= MIN_NUMERIC_ID) {
                    continue;
                }
                if at_edges(v, m.start(), m.end(), p) {
                    hits.push(Hit {
                        start: m.start(),
                        end: m.end(),
                        kind: p.kind,
                        source: p.source,
                        replacement: None,
                    });
                }
            }
        }
        if !self.dates.is_empty() {
            self.find_dates(v, &mut hits);
        }
        if !self.digits.is_empty() && !numeric {
            self.find_digits(v, &mut hits);
        }
        hits
    }

    fn find_dates(&self, v: &[u8], hits: &mut Vec<Hit>) {
        // A date both removed and shifted (a birth date equal to a study date) is masked.
        let lookup = |y: u32, m: u32, d: u32, two: bool| -> Option<&DateId> {
            let same = |id: &&DateId| {
                let year = id.date.year();
                let y_ok = if two {
                    i64::from(y) == i64::from(year.rem_euclid(100))
                } else {
                    i64::from(y) == i64::from(year)
                };
                y_ok && id.date.month() == m && id.date.day() == d
            };
            let mut found = self.dates.iter().filter(same);
            let first = found.next()?;
            Some(if first.shifted {
                self.dates
                    .iter()
                    .filter(same)
                    .find(|d| !d.shifted)
                    .unwrap_or(first)
            } else {
                first
            })
        };
        let wanted = |y, m, d, two| lookup(y, m, d, two).map(|id| id.date);
        for f in dates::find(v, &wanted) {
            let Some(id) = self
                .dates
                .iter()
                .filter(|id| id.date == f.date)
                .min_by_key(|id| id.shifted)
            else {
                continue;
            };
            let replacement = if id.shifted {
                dates::shift(f.date, self.day_shift).map(|d| f.form.render(d).into_bytes())
            } else {
                None
            };
            hits.push(Hit {
                start: f.start,
                end: f.end,
                kind: id.kind,
                source: id.source,
                replacement,
            });
        }
    }

    /// Phone numbers and long IDs by their digits, whatever separators were written between
    /// them: within a run of digits and `-./()+ `, the ID's digits from one group edge to
    /// another.
    fn find_digits(&self, v: &[u8], hits: &mut Vec<Hit>) {
        let mut i = 0;
        while i < v.len() {
            if !v[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            // One run: digits, and separators followed by more digits.
            let mut positions = Vec::new();
            let mut j = i;
            while j < v.len() {
                if v[j].is_ascii_digit() {
                    positions.push(j);
                    j += 1;
                } else if b"-./()+ ".contains(&v[j])
                    && v[j..]
                        .iter()
                        .find(|b| !b"-./()+ ".contains(b))
                        .is_some_and(u8::is_ascii_digit)
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let digits: Vec<u8> = positions.iter().map(|p| v[*p]).collect();
            let group_edge =
                |k: usize| k == 0 || k == positions.len() || positions[k] != positions[k - 1] + 1;
            for id in &self.digits {
                let n = id.digits.len();
                for k in 0..(digits.len() + 1).saturating_sub(n) {
                    if digits[k..k + n] == id.digits[..] && group_edge(k) && group_edge(k + n) {
                        hits.push(Hit {
                            start: positions[k],
                            end: positions[k + n - 1] + 1,
                            kind: id.kind,
                            source: id.source,
                            replacement: None,
                        });
                    }
                }
            }
            i = j.max(i + 1);
        }
    }
}

/// A match counts only as a whole word or number: the character before its first and after
/// its last must not continue it (a letter after a letter, a digit after a digit, or a digit
/// across a decimal point).
fn at_edges(v: &[u8], start: usize, end: usize, p: &Pattern) -> bool {
    let continues = |outside: Option<u8>, beyond: Option<u8>, edge: Class| -> bool {
        match (outside, edge) {
            (_, Class::Other) | (None, _) => false,
            (Some(b'.'), Class::Digit) => beyond.is_some_and(|c| c.is_ascii_digit()),
            (Some(b), edge) => class(b) == edge,
        }
    };
    let before = start.checked_sub(1).map(|i| v[i]);
    let before2 = start.checked_sub(2).map(|i| v[i]);
    let after = v.get(end).copied();
    let after2 = v.get(end + 1).copied();
    !continues(before, before2, p.first) && !continues(after, after2, p.last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Tag = Tag(0x0010, 0x0010);

    fn echoes(texts: &[&str], digits: &[&str]) -> Echoes {
        Echoes::build(
            texts
                .iter()
                .map(|t| (t.as_bytes().to_vec(), Kind::PatientName, SRC))
                .collect(),
            Vec::new(),
            digits
                .iter()
                .map(|t| (t.as_bytes().to_vec(), Kind::Phone, SRC))
                .collect(),
            0,
        )
    }

    fn spans(e: &Echoes, v: &str) -> Vec<String> {
        let mut h = e.find(v.as_bytes(), false);
        h.sort_by_key(|h| h.start);
        h.iter().map(|h| v[h.start..h.end].to_string()).collect()
    }

    #[test]
    fn a_name_is_found_as_a_word_in_any_case_and_not_inside_another_word() {
        let e = echoes(&["DOE", "ANN"], &[]);
        assert_eq!(spans(&e, "ORIGINAL\\PRIMARY\\doe"), ["doe"]);
        assert_eq!(spans(&e, "Doe_John"), ["Doe"]);
        assert_eq!(
            spans(&e, "DOE2"),
            ["DOE"],
            "a digit does not continue a name"
        );
        assert!(spans(&e, "SCANNER DOES ANNEX").is_empty());
    }

    #[test]
    fn a_numeric_id_is_not_found_inside_a_longer_number_or_a_decimal() {
        let e = echoes(&["12345"], &[]);
        assert_eq!(spans(&e, "PID12345"), ["12345"]);
        assert_eq!(spans(&e, "#12345 "), ["12345"]);
        assert!(spans(&e, "123456").is_empty());
        assert!(spans(&e, "0.12345").is_empty());
        assert!(spans(&e, "12345.5").is_empty());
        assert_eq!(spans(&e, "12345."), ["12345"]);
    }

    #[test]
    fn numbers_in_numeric_values_count_only_when_long() {
        let e = echoes(&["12345", "1234567"], &[]);
        assert!(e.find(b"12345", true).is_empty());
        assert_eq!(e.find(b"1234567", true).len(), 1);
    }

    #[test]
    fn a_phone_number_is_found_whatever_its_separators() {
        let e = echoes(&[], &["5551234567"]);
        assert_eq!(spans(&e, "call (555) 123-4567 now"), ["555) 123-4567"]);
        assert_eq!(spans(&e, "+1 555.123.4567"), ["555.123.4567"]);
        assert!(spans(&e, "15551234567").is_empty(), "inside a longer group");
    }
}
