//! Dates written in text the way people write them, found and rewritten. A date identifier of
//! the file (a birth date, a study date the policy removes or shifts) is recognised in these
//! forms, with `-`, `/`, `.` or a space between the parts:
//!
//! - `YYYYMMDD` (a run of exactly 8 digits, or 12/14 when a time `HHMM[SS]` follows);
//! - `YYYY-MM-DD`, and `DD-MM-YYYY` / `MM-DD-YYYY` (both readings are tried), days and months
//!   with or without a leading zero;
//! - the same with a 2-digit year (`13/07/48`, `07/13/48`), only between separators: a bare
//!   `YYMMDD` is not recognised, six digits are too often something else;
//! - English month names, abbreviated or full, in any case: `13 JUL 1948`, `13-Jul-48`,
//!   `13JUL1948`, `July 13, 1948`, `Jul 13 1948`.
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
    sep: Sep,
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sep {
    None,
    /// The same separator between every part.
    Same(char),
    /// `July 13, 1948`: a space, then a comma and a space.
    MonthDayComma,
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

/// Every date expression of `v` whose date `wanted` accepts. `wanted(date, two_digit_year)`
/// is asked for each reading; with a 2-digit year the century is the caller's to match.
pub(super) fn find(
    v: &[u8],
    wanted: &dyn Fn(u32, u32, u32, bool) -> Option<NaiveDate>,
) -> Vec<Found> {
    let toks = tokens(v);
    let mut out: Vec<Found> = Vec::new();
    let gap = |a: usize, b: usize| &v[toks[a].2..toks[b].1];
    let mut i = 0;
    while i < toks.len() {
        let mut best: Option<(Found, usize)> = None;
        // Three-token forms.
        if i + 2 < toks.len() {
            let (g1, g2) = (gap(i, i + 1), gap(i + 1, i + 2));
            let (t0, t1, t2) = (toks[i], toks[i + 1], toks[i + 2]);
            let len = |t: (Tok, usize, usize)| t.2 - t.1;
            let sep = match (g1, g2) {
                (a, b) if a == b && a.len() == 1 && b"-/. ".contains(&a[0]) => {
                    Some(Sep::Same(a[0] as char))
                }
                (b"", b"") => Some(Sep::None),
                (b" ", b", ") => Some(Sep::MonthDayComma),
                _ => None,
            };
            let outside_ok = continues(v, toks[i].1, t2.2, &sep);
            if let (Some(sep), true) = (sep, outside_ok) {
                let numeric = |t: (Tok, usize, usize)| t.0 == Tok::Digits;
                // Numbers padded unless one was written with one digit ("13/7/1948"); a day before
                // a month name when written with two digits ("13-JUL-1948"), after one only when
                // it shows its leading zero ("July 5, 1948").
                let two_digits =
                    |a: (Tok, usize, usize), b: (Tok, usize, usize)| len(a) == 2 && len(b) == 2;
                let candidates: Vec<Reading> = match (t0.0, t1.0, t2.0) {
                    (Tok::Digits, Tok::Digits, Tok::Digits)
                        if !matches!(sep, Sep::None | Sep::MonthDayComma) =>
                    {
                        let (a, b, c) = (
                            number(v, (t0.1, t0.2)),
                            number(v, (t1.1, t1.2)),
                            number(v, (t2.1, t2.2)),
                        );
                        match (a, b, c, len(t0), len(t1), len(t2)) {
                            (Some(y), Some(m), Some(d), 4, 1..=2, 1..=2) => {
                                vec![(Order::Ymd, y, m, d, 4, two_digits(t1, t2), None)]
                            }
                            (Some(p), Some(q), Some(y), 1..=2, 1..=2, 2 | 4) => vec![
                                (Order::Dmy, y, q, p, len(t2), two_digits(t0, t1), None),
                                (Order::Mdy, y, p, q, len(t2), two_digits(t0, t1), None),
                            ],
                            _ => vec![],
                        }
                    }
                    (Tok::Digits, Tok::Letters, Tok::Digits)
                        if numeric(t0) && !matches!(sep, Sep::MonthDayComma) =>
                    {
                        match (
                            number(v, (t0.1, t0.2)),
                            month_of(&v[t1.1..t1.2]),
                            number(v, (t2.1, t2.2)),
                        ) {
                            (Some(d), Some((m, name)), Some(y))
                                if matches!(len(t0), 1..=2) && matches!(len(t2), 2 | 4) =>
                            {
                                vec![(Order::Dmy, y, m, d, len(t2), len(t0) == 2, Some(name))]
                            }
                            _ => vec![],
                        }
                    }
                    (Tok::Letters, Tok::Digits, Tok::Digits)
                        if matches!(sep, Sep::Same(' ') | Sep::MonthDayComma) =>
                    {
                        match (
                            month_of(&v[t0.1..t0.2]),
                            number(v, (t1.1, t1.2)),
                            number(v, (t2.1, t2.2)),
                        ) {
                            (Some((m, name)), Some(d), Some(y))
                                if matches!(len(t1), 1..=2) && len(t2) == 4 =>
                            {
                                vec![(Order::Mdy, y, m, d, 4, v[t1.1] == b'0', Some(name))]
                            }
                            _ => vec![],
                        }
                    }
                    _ => vec![],
                };
                for (order, y, m, d, yw, padded, name) in candidates {
                    if let Some(date) = wanted(y, m, d, yw == 2) {
                        let form = Form {
                            order,
                            sep: sep.clone(),
                            padded,
                            year_width: yw,
                            month_name: name,
                            tail: String::new(),
                        };
                        best = Some((
                            Found {
                                start: t0.1,
                                end: t2.2,
                                date,
                                form,
                            },
                            3,
                        ));
                        break;
                    }
                }
            }
        }
        // One run of 8 digits (or 12/14: a date and a time).
        let t = toks[i];
        if best.is_none()
            && t.0 == Tok::Digits
            && matches!(t.2 - t.1, 8 | 12 | 14)
            && !dotted(v, t.1, t.2)
        {
            let d = |a: usize, b: usize| number(v, (t.1 + a, t.1 + b));
            if let (Some(y), Some(m), Some(dd)) = (d(0, 4), d(4, 6), d(6, 8))
                && let Some(date) = wanted(y, m, dd, false)
            {
                let tail = String::from_utf8_lossy(&v[t.1 + 8..t.2]).into_owned();
                best = Some((
                    Found {
                        start: t.1,
                        end: t.2,
                        date,
                        form: Form {
                            order: Order::Ymd,
                            sep: Sep::None,
                            padded: true,
                            year_width: 4,
                            month_name: None,
                            tail,
                        },
                    },
                    1,
                ));
            }
        }
        match best {
            Some((f, n)) => {
                out.push(f);
                i += n;
            }
            None => i += 1,
        }
    }
    out
}

/// Whether the expression `v[start..end]` stands alone: not continued by the same
/// separator and another number on either side (a UID, a version, a longer number).
fn continues(v: &[u8], start: usize, end: usize, sep: &Option<Sep>) -> bool {
    let Some(Sep::Same(c)) = sep else {
        return true;
    };
    let c = *c as u8;
    let before = start >= 2 && v[start - 1] == c && v[start - 2].is_ascii_digit();
    let after = end + 1 < v.len() && v[end] == c && v[end + 1].is_ascii_digit();
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
        let body = match &self.sep {
            Sep::None => parts.concat(),
            Sep::Same(c) => parts.join(&c.to_string()),
            Sep::MonthDayComma => format!("{} {}, {}", parts[0], parts[1], parts[2]),
        };
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
        ] {
            let f = find(text.as_bytes(), &only_birth);
            assert_eq!(f.len(), 1, "{text}");
            assert_eq!(f[0].form.render(later), shifted, "{text}");
        }
    }
}
