//! Finding a file's identifiers in a value: names, IDs and places as text (any case, at word
//! edges), dates in the forms people write them, phone numbers and long IDs by their digits.

use super::dates;
use super::sources::Kind;
use crate::dicom::Tag;
use chrono::{Datelike, NaiveDate};
use std::cmp::Ordering;

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
    /// ASCII lower case.
    bytes: Vec<u8>,
    /// The length of its first run (what the index sorts by).
    first_len: usize,
    first: Class,
    last: Class,
    digits_only: bool,
    kind: Kind,
    source: Tag,
}

impl Pattern {
    fn key(&self) -> &[u8] {
        &self.bytes[..self.first_len]
    }
}

/// `key` (lowercase) against `token` lowercased, without copying it.
fn cmp_lowercase(key: &[u8], token: &[u8]) -> Ordering {
    key.iter()
        .copied()
        .cmp(token.iter().map(u8::to_ascii_lowercase))
}

/// The run of one class a value or pattern starts with at `i` (one byte for punctuation):
/// every match begins at such a run, so patterns are looked up by their first one.
fn first_token(v: &[u8], i: usize) -> &[u8] {
    let c = class(v[i]);
    if c == Class::Other {
        return &v[i..=i];
    }
    let end = v[i..]
        .iter()
        .position(|b| class(*b) != c)
        .map_or(v.len(), |p| i + p);
    &v[i..end]
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
    patterns: Vec<Pattern>,
    /// Pattern indexes sorted by their first run: a lookup per run of the value is all a
    /// search costs, and building it is a sort (planning stays cheap).
    index: Vec<usize>,
    /// Some pattern starts with punctuation (then every punctuation byte is a start).
    punctuation_starts: bool,
    /// The lowercased first bytes of the patterns: other bytes start no match.
    first_bytes: [u64; 4],
    /// Some pattern is an ID of digits long enough to count in a number.
    numeric_patterns: bool,
    dates: Vec<DateId>,
    digits: Vec<DigitId>,
    day_shift: i64,
}

/// In numbers (DS, IS) and codes (Code Value...) an ID of digits counts only this long:
/// shorter numbers there are too often a measurement or a code that happens to be equal.
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
            .into_iter()
            .filter_map(|(mut p, kind, source)| {
                p.make_ascii_lowercase();
                Some(Pattern {
                    first_len: first_token(&p, 0).len(),
                    first: class(*p.first()?),
                    last: class(*p.last()?),
                    digits_only: p.iter().all(u8::is_ascii_digit),
                    bytes: p,
                    kind,
                    source,
                })
            })
            .collect();
        let mut index: Vec<usize> = (0..patterns.len()).collect();
        index.sort_by(|a, b| patterns[*a].key().cmp(patterns[*b].key()));
        let punctuation_starts = patterns.iter().any(|p| p.first == Class::Other);
        let numeric_patterns = patterns
            .iter()
            .any(|p| p.digits_only && p.bytes.len() >= MIN_NUMERIC_ID);
        let mut first_bytes = [0u64; 4];
        for p in &patterns {
            let b = p.bytes[0];
            first_bytes[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        Echoes {
            patterns,
            index,
            punctuation_starts,
            first_bytes,
            numeric_patterns,
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
        self.patterns.is_empty() && self.dates.is_empty() && self.digits.is_empty()
    }

    /// Every identifier in `v`, in no particular order (hits may overlap). `numeric`: `v` is
    /// a number or a code, where digit IDs count only from [`MIN_NUMERIC_ID`] digits, dates
    /// only as 8-digit runs, and digits across separators not at all.
    pub fn find(&self, v: &[u8], numeric: bool) -> Vec<Hit> {
        let mut hits = Vec::new();
        // A number holds a name only if it is not a number; an ID only if one is long enough.
        let text_possible = !numeric
            || self.numeric_patterns
            || v.iter().any(|b| b.is_ascii_alphabetic() || *b >= 0x80);
        if !self.patterns.is_empty() && text_possible {
            self.find_text(v, numeric, &mut hits);
        }
        // Numbers hold a date only as a run of 8 digits (or more: DT); text may hold any form.
        let may_hold_date = if numeric {
            v.split(|b| !b.is_ascii_digit()).any(|run| run.len() >= 8)
        } else {
            // Every written date has at least four digits ("1/7/48").
            v.iter().filter(|b| b.is_ascii_digit()).nth(3).is_some()
        };
        if !self.dates.is_empty() && may_hold_date {
            self.find_dates(v, &mut hits);
        }
        if !self.digits.is_empty() && !numeric {
            self.find_digits(v, &mut hits);
        }
        hits
    }

    fn find_text(&self, v: &[u8], numeric: bool, hits: &mut Vec<Hit>) {
        for i in 0..v.len() {
            let b = v[i].to_ascii_lowercase();
            if self.first_bytes[usize::from(b >> 6)] & (1 << (b & 63)) == 0 {
                continue;
            }
            let c = class(v[i]);
            let starts = match c {
                Class::Other => self.punctuation_starts,
                _ => i == 0 || class(v[i - 1]) != c,
            };
            if !starts {
                continue;
            }
            let token = first_token(v, i);
            let key = |n: &usize| self.patterns[*n].key();
            let from = self
                .index
                .partition_point(|n| cmp_lowercase(key(n), token) == Ordering::Less);
            for n in &self.index[from..] {
                if cmp_lowercase(key(n), token) != Ordering::Equal {
                    break;
                }
                let p = &self.patterns[*n];
                let end = i + p.bytes.len();
                if numeric && p.digits_only && p.bytes.len() < MIN_NUMERIC_ID {
                    continue;
                }
                if end <= v.len()
                    && v[i..end].eq_ignore_ascii_case(&p.bytes)
                    && at_edges(v, i, end, p)
                {
                    hits.push(Hit {
                        start: i,
                        end,
                        kind: p.kind,
                        source: p.source,
                        replacement: None,
                    });
                }
            }
        }
    }

    fn find_dates(&self, v: &[u8], hits: &mut Vec<Hit>) {
        // A date both removed and shifted (a birth date equal to a study date) is masked: of
        // the identifiers a reading matches, a removed one is taken first.
        let wanted = |y: u32, m: u32, d: u32, two: bool| {
            let year_ok = |year: i32| {
                let year = if two { year.rem_euclid(100) } else { year };
                i64::from(y) == i64::from(year)
            };
            self.dates
                .iter()
                .filter(|id| year_ok(id.date.year()) && id.date.month() == m && id.date.day() == d)
                .min_by_key(|id| id.shifted)
                .map(|id| id.date)
        };
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
        const SEPARATORS: &[u8] = b"-./()+ ";
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
                    continue;
                }
                let seps = v[j..].iter().take_while(|b| SEPARATORS.contains(b)).count();
                if seps > 0 && v.get(j + seps).is_some_and(u8::is_ascii_digit) {
                    j += seps;
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
