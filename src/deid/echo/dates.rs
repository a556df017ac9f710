//! Dates written in text the way people write them, found and rewritten. A date identifier of
//! the file (a birth date, a study date the policy removes or shifts) is recognised in these
//! forms, with `-`, `/`, `.` or a space between the parts:
//!
//! - `YYYYMMDD` (a run of exactly 8 digits, or 12/14 when a time `HHMM[SS]` follows), and
//!   `DDMMYYYY` / `MMDDYYYY` for a run of 8;
//! - `YYYY-MM-DD`, and `DD-MM-YYYY` / `MM-DD-YYYY` (both readings are tried), days and months
//!   with or without a leading zero;
//! - the same with a 2-digit year (`13/07/48`, `07/13/48`), only between separators: a bare
//!   `YYMMDD` is not recognised, six digits are too often something else;
//! - English month names, abbreviated (with or without a dot) or full, in any case:
//!   `13 JUL 1948`, `13-Jul-48`, `13JUL1948`, `13 Jul. 1948`, `1948-JUL-13`, `July 13, 1948`,
//!   `Jul. 13, 1948`, `Jul 13 1948`.
//!
//! A date the policy shifts is rewritten in the form it was found in (same order, separators,
//! widths, year digits and month-name style), shifted by the patient's days; any other is
//! masked. Numbers that continue the expression (`1.2.1948.3`, a UID) are not dates.

use chrono::{Datelike, Days, NaiveDate};

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// How a found date was written, so that a shifted date can be written the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Form {
    order: Order,
    /// What was written between the first and second, and the second and third parts.
    gaps: (String, String),
    /// Day and month numbers written with two digits ("05", not "5").
    padded: bool,
    /// 2 or 4.
    year_width: usize,
    /// How a month name was written; `None` for a number.
    month_name: Option<MonthName>,
    /// What followed the date inside the same digit run (the time of `YYYYMMDDHHMMSS`).
    tail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Ymd,
    Dmy,
    Mdy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MonthName {
    full: bool,
    case: Case,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Upper,
    Lower,
    Title,
}

/// A date expression found in a value: its byte range, the date and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub start: usize,
    pub end: usize,
    pub date: NaiveDate,
    pub form: Form,
}

/// One way to read three tokens: order, year, month, day, year digits, padded, month name.
type Reading = (Order, u32, u32, u32, usize, bool, Option<MonthName>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Digits,
    Letters,
}

/// Maximal runs of ASCII digits or letters, with their byte ranges.
fn tokens(v: &[u8]) -> Vec<(Tok, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let kind = if v[i].is_ascii_digit() {
            Tok::Digits
        } else if v[i].is_ascii_alphabetic() {
            Tok::Letters
        } else {
            i += 1;
            continue;
        };
        let start = i;
        while i < v.len()
            && match kind {
                Tok::Digits => v[i].is_ascii_digit(),
                Tok::Letters => v[i].is_ascii_alphabetic(),
            }
        {
            i += 1;
        }
        out.push((kind, start, i));
    }
    out
}

fn number(v: &[u8], (s, e): (usize, usize)) -> Option<u32> {
    std::str::from_utf8(&v[s..e]).ok()?.parse().ok()
}

fn month_of(word: &[u8]) -> Option<(u32, MonthName)> {
    let lower = word.to_ascii_lowercase();
    let lower = std::str::from_utf8(&lower).ok()?;
    let case = if word.iter().all(u8::is_ascii_uppercase) {
        Case::Upper
    } else if word.iter().all(u8::is_ascii_lowercase) {
        Case::Lower
    } else {
        Case::Title
    };
    MONTHS.iter().enumerate().find_map(|(i, m)| {
        let full = lower == *m;
        let abbrev = lower.len() >= 3 && (lower == &m[..3] || (i == 8 && lower == "sept"));
        (full || abbrev).then_some((
            i as u32 + 1,
            MonthName {
                // "May" is both: written back as the 3-letter name.
                full: full && m.len() > 3,
                case,
            },
        ))
    })
}

/// Every date expression of `v` whose date `wanted` accepts. `wanted(y, m, d, two_digit_year)`
/// is asked for each reading; with a 2-digit year the century is the caller's to match.
pub(super) fn find(
    v: &[u8],
    wanted: &dyn Fn(u32, u32, u32, bool) -> Option<NaiveDate>,
) -> Vec<Found> {
    let toks = tokens(v);
    let mut out: Vec<Found> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let found = three_tokens(v, &toks, i, wanted)
            .map(|f| (f, 3))
            .or_else(|| one_run(v, toks[i], wanted).map(|f| (f, 1)));
        match found {
            Some((f, n)) => {
                out.push(f);
                i += n;
            }
            None => i += 1,
        }
    }
    out
}

type Token = (Tok, usize, usize);

/// `D-M-Y`, `M-D-Y`, `Y-M-D`, `D MON Y`, `Y-MON-D`, `MON D, Y` starting at token `i`.
fn three_tokens(
    v: &[u8],
    toks: &[Token],
    i: usize,
    wanted: &dyn Fn(u32, u32, u32, bool) -> Option<NaiveDate>,
) -> Option<Found> {
    let (t0, t1, t2) = (*toks.get(i)?, *toks.get(i + 1)?, *toks.get(i + 2)?);
    let (g1, g2) = (&v[t0.2..t1.1], &v[t1.2..t2.1]);
    let len = |t: Token| t.2 - t.1;
    let num = |t: Token| number(v, (t.1, t.2));
    let one_sep = |g: &[u8]| g.len() == 1 && b"-/. ".contains(&g[0]);
    let readings: Vec<Reading> = match (t0.0, t1.0, t2.0) {
        (Tok::Digits, Tok::Digits, Tok::Digits) if g1 == g2 && one_sep(g1) => {
            if !stands_alone(v, t0.1, t2.2, g1[0]) {
                return None;
            }
            // Numbers padded unless one was written with one digit ("13/7/1948").
            let padded = |a: Token, b: Token| len(a) == 2 && len(b) == 2;
            match (num(t0)?, num(t1)?, num(t2)?, len(t0), len(t1), len(t2)) {
                (y, m, d, 4, 1..=2, 1..=2) => vec![(Order::Ymd, y, m, d, 4, padded(t1, t2), None)],
                (p, q, y, 1..=2, 1..=2, yw @ (2 | 4)) => vec![
                    (Order::Dmy, y, q, p, yw, padded(t0, t1), None),
                    (Order::Mdy, y, p, q, yw, padded(t0, t1), None),
                ],
                _ => vec![],
            }
        }
        // 13 JUL 1948, 13-Jul-48, 13JUL1948, 13 Jul. 1948; a day before a month name is
        // padded when written with two digits ("13-JUL-1948").
        (Tok::Digits, Tok::Letters, Tok::Digits)
            if matches!(g1, b"" | b"-" | b"/" | b" " | b".")
                && (g1 == g2 || (g1 == b" " && g2 == b". ")) =>
        {
            let (m, name) = month_of(&v[t1.1..t1.2])?;
            match (num(t0)?, num(t2)?, len(t0), len(t2)) {
                (d, y, 1..=2, yw @ (2 | 4)) => {
                    vec![(Order::Dmy, y, m, d, yw, len(t0) == 2, Some(name))]
                }
                (y, d, 4, 1..=2) => vec![(Order::Ymd, y, m, d, 4, len(t2) == 2, Some(name))],
                _ => vec![],
            }
        }
        // July 13, 1948; Jul. 13 1948: the day padded only when it shows its leading zero.
        (Tok::Letters, Tok::Digits, Tok::Digits)
            if matches!(g1, b" " | b". ") && matches!(g2, b" " | b", ") =>
        {
            let (m, name) = month_of(&v[t0.1..t0.2])?;
            match (num(t1)?, num(t2)?, len(t1), len(t2)) {
                (d, y, 1..=2, 4) => vec![(Order::Mdy, y, m, d, 4, v[t1.1] == b'0', Some(name))],
                _ => vec![],
            }
        }
        _ => vec![],
    };
    let gaps = (
        String::from_utf8_lossy(g1).into_owned(),
        String::from_utf8_lossy(g2).into_owned(),
    );
    readings
        .into_iter()
        .find_map(|(order, y, m, d, year_width, padded, month_name)| {
            Some(Found {
                start: t0.1,
                end: t2.2,
                date: wanted(y, m, d, year_width == 2)?,
                form: Form {
                    order,
                    gaps: gaps.clone(),
                    padded,
                    year_width,
                    month_name,
                    tail: String::new(),
                },
            })
        })
}

/// One run of 8 digits (`YYYYMMDD`, `DDMMYYYY`, `MMDDYYYY`), or 12/14 (`YYYYMMDD` and a time).
fn one_run(
    v: &[u8],
    t: Token,
    wanted: &dyn Fn(u32, u32, u32, bool) -> Option<NaiveDate>,
) -> Option<Found> {
    let n = t.2 - t.1;
    if t.0 != Tok::Digits || !matches!(n, 8 | 12 | 14) || dotted(v, t.1, t.2) {
        return None;
    }
    let d = |a: usize, b: usize| number(v, (t.1 + a, t.1 + b));
    let mut readings = vec![(Order::Ymd, d(0, 4)?, d(4, 6)?, d(6, 8)?)];
    if n == 8 {
        readings.push((Order::Dmy, d(4, 8)?, d(2, 4)?, d(0, 2)?));
        readings.push((Order::Mdy, d(4, 8)?, d(0, 2)?, d(2, 4)?));
    }
    readings.into_iter().find_map(|(order, y, m, dd)| {
        Some(Found {
            start: t.1,
            end: t.2,
            date: wanted(y, m, dd, false)?,
            form: Form {
                order,
                gaps: (String::new(), String::new()),
                padded: true,
                year_width: 4,
                month_name: None,
                tail: String::from_utf8_lossy(&v[t.1 + 8..t.2]).into_owned(),
            },
        })
    })
}

/// Whether the expression `v[start..end]` stands alone: not continued by its separator and
/// another number on either side (a UID, a version, a longer number).
fn stands_alone(v: &[u8], start: usize, end: usize, sep: u8) -> bool {
    let before = start >= 2 && v[start - 1] == sep && v[start - 2].is_ascii_digit();
    let after = end + 1 < v.len() && v[end] == sep && v[end + 1].is_ascii_digit();
    !(before || after)
}

/// A digit run that is part of a dotted number (`1.19480713`, `19480713.5.2`): a decimal or
/// a UID component, not a date. A single fraction after the run (`19480713.5`) is allowed: DS.
fn dotted(v: &[u8], start: usize, end: usize) -> bool {
    let digit_at = |i: usize| v.get(i).is_some_and(u8::is_ascii_digit);
    let before = start >= 2 && v[start - 1] == b'.' && digit_at(start - 2);
    let after_uid = end + 1 < v.len() && v[end] == b'.' && digit_at(end + 1) && {
        let mut j = end + 1;
        while digit_at(j) {
            j += 1;
        }
        v.get(j) == Some(&b'.')
    };
    before || after_uid
}

impl Form {
    /// `date` written the way this form was.
    pub(super) fn render(&self, date: NaiveDate) -> String {
        let year = if self.year_width == 2 {
            format!("{:02}", date.year().rem_euclid(100))
        } else {
            format!("{:04}", date.year())
        };
        let num = |n: u32| {
            if self.padded {
                format!("{n:02}")
            } else {
                n.to_string()
            }
        };
        let day = num(date.day());
        let month = match self.month_name {
            Some(name) => {
                let m = MONTHS[date.month0() as usize];
                let m = if name.full {
                    m.to_string()
                } else {
                    m[..3].to_string()
                };
                match name.case {
                    Case::Upper => m.to_ascii_uppercase(),
                    Case::Lower => m,
                    Case::Title => {
                        let mut c = m.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    }
                }
            }
            None => num(date.month()),
        };
        let parts = match self.order {
            Order::Ymd => [year, month, day],
            Order::Dmy => [day, month, year],
            Order::Mdy => [month, day, year],
        };
        let body = format!(
            "{}{}{}{}{}",
            parts[0], self.gaps.0, parts[1], self.gaps.1, parts[2]
        );
        body + &self.tail
    }
}

/// `date` moved by `days` (negative: earlier).
pub(super) fn shift(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days < 0 {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_add_days(Days::new(days as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn birth() -> NaiveDate {
        NaiveDate::from_ymd_opt(1948, 7, 13).unwrap()
    }

    fn only_birth(y: u32, m: u32, d: u32, two: bool) -> Option<NaiveDate> {
        let b = birth();
        let year_ok = if two {
            y as i32 == b.year() % 100
        } else {
            y as i32 == b.year()
        };
        (year_ok && m == b.month() && d == b.day()).then_some(b)
    }

    fn found(text: &str) -> Vec<String> {
        find(text.as_bytes(), &only_birth)
            .into_iter()
            .map(|f| text[f.start..f.end].to_string())
            .collect()
    }

    #[test]
    fn every_documented_form_of_a_date_is_recognised() {
        for form in [
            "19480713",
            "1948-07-13",
            "1948/07/13",
            "1948.07.13",
            "1948-7-13",
            "13/07/1948",
            "07/13/1948",
            "7/13/1948",
            "13.07.1948",
            "13.7.1948",
            "13-07-1948",
            "13/07/48",
            "07/13/48",
            "13.07.48",
            "13 JUL 1948",
            "13-Jul-1948",
            "13JUL1948",
            "13-JUL-48",
            "13 July 1948",
            "July 13, 1948",
            "Jul 13 1948",
            "194807131200",
            "19480713120000",
            "13071948",
            "07131948",
            "13 Jul. 1948",
            "Jul. 13, 1948",
            "1948-JUL-13",
        ] {
            let text = format!("born {form}, seen");
            assert_eq!(found(&text), vec![form.to_string()], "{text}");
        }
    }

    #[test]
    fn numbers_that_only_contain_a_date_are_not_dates() {
        for text in [
            "480713",         // bare 2-digit-year form
            "1.2.19480713.4", // a UID component
            "0.19480713",     // a decimal
            "1.13.07.1948",   // continued by the separator
            "13.07.1948.5",
            "119480713",  // a longer run
            "13/07/1949", // another date
            "13 Jux 1948",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn a_shifted_date_is_written_in_the_form_it_was_found_in() {
        let later = NaiveDate::from_ymd_opt(1947, 12, 5).unwrap();
        for (text, shifted) in [
            ("19480713", "19471205"),
            ("1948-07-13", "1947-12-05"),
            ("13/7/1948", "5/12/1947"),
            ("07/13/48", "12/05/47"),
            ("13-JUL-1948", "05-DEC-1947"),
            ("13 Jul 1948", "05 Dec 1947"),
            ("July 13, 1948", "December 5, 1947"),
            ("19480713101500", "19471205101500"),
            ("13071948", "05121947"),
            ("Jul. 13, 1948", "Dec. 5, 1947"),
            ("1948-JUL-13", "1947-DEC-05"),
        ] {
            let f = find(text.as_bytes(), &only_birth);
            assert_eq!(f.len(), 1, "{text}");
            assert_eq!(f[0].form.render(later), shifted, "{text}");
        }
    }
}
