//! Cross-checks `src/policy/generated.rs` (written by scripts/gen_profile_table.py)
//! against the shared reference CSVs, parsed here independently of the generator.
//! Ignored, with the reason, where ../shared/reference is absent.

use std::path::{Path, PathBuf};

use deidfs::policy::generated::{PROFILE_TABLE, SAFE_PRIVATE};
use deidfs::policy::table_types::TagPattern;

const PROFILE_CSV: &str = "../shared/reference/ps3.15-table-E.1-1.csv";
const SAFE_PRIVATE_CSV: &str = "../shared/reference/ps3.15-table-E.3.10-1-safe-private.csv";

const OPTION_COLUMNS: [&str; 10] = [
    "rtnSafePrivOpt",
    "rtnUIDsOpt",
    "rtnDevIdOpt",
    "rtnInstIdOpt",
    "rtnPatCharsOpt",
    "rtnLongFullDatesOpt",
    "rtnLongModifDatesOpt",
    "cleanDescOpt",
    "cleanStructContOpt",
    "cleanGraphOpt",
];

fn reference(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    assert!(
        p.is_file(),
        "{} is missing from the shared reference",
        p.display()
    );
    p
}

/// Minimal RFC 4180 reader: comma-separated, fields optionally in double
/// quotes, `""` inside quotes is a literal quote, quoted fields may span lines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    assert!(!in_quotes, "unterminated quoted field at end of CSV");
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Header + rows; each row accessed by column name, values trimmed.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn load(path: &Path) -> Table {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut records = parse_csv(&text).into_iter();
        let header: Vec<String> = records
            .next()
            .expect("CSV has a header")
            .into_iter()
            .map(|h| h.trim().to_string())
            .collect();
        let rows: Vec<Vec<String>> = records
            .filter(|r| !(r.len() == 1 && r[0].trim().is_empty()))
            .collect();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                r.len(),
                header.len(),
                "{}: row {} has {} fields",
                path.display(),
                i + 1,
                r.len()
            );
        }
        Table { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header))
    }

    fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        row[self.col(name)].trim()
    }
}

fn hex4(s: &str) -> u16 {
    assert_eq!(s.len(), 4, "{s:?}");
    u16::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// "(0008,0050)", "(50xx,xxxx)", "(60xx,3000)", "(gggg,eeee)odd".
fn parse_tag(tag: &str) -> TagPattern {
    if tag == "(gggg,eeee)odd" {
        return TagPattern::AllPrivate;
    }
    let inner = tag
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("tag {tag:?}"));
    let (g, e) = inner
        .split_once(',')
        .unwrap_or_else(|| panic!("tag {tag:?}"));
    if let Some(hi) = g.strip_suffix("xx") {
        assert_eq!(hi.len(), 2, "tag {tag:?}");
        let base = u16::from(u8::from_str_radix(hi, 16).unwrap()) << 8;
        let element = if e == "xxxx" { None } else { Some(hex4(e)) };
        return TagPattern::RepeatingGroup { base, element };
    }
    TagPattern::Exact(hex4(g), hex4(e))
}

#[test]
#[cfg_attr(not(deidfs_reference), ignore = "skipped: no ../shared/reference")]
fn profile_table_matches_reference_csv() {
    let path = reference(PROFILE_CSV);
    let t = Table::load(&path);
    assert_eq!(t.rows.len(), 649, "rows in {}", path.display());
    assert_eq!(
        PROFILE_TABLE.len(),
        t.rows.len(),
        "PROFILE_TABLE length vs CSV rows"
    );

    for (i, (row, g_row)) in t.rows.iter().zip(PROFILE_TABLE).enumerate() {
        let tag = t.get(row, "tag");
        let ctx = format!("row {} ({tag})", i + 1);
        assert_eq!(g_row.tag, parse_tag(tag), "{ctx}: tag");
        assert_eq!(g_row.name, t.get(row, "name"), "{ctx}: name");
        let retired = match t.get(row, "retired") {
            "Y" => true,
            "N" => false,
            other => panic!("{ctx}: retired {other:?}"),
        };
        assert_eq!(g_row.retired, retired, "{ctx}: retired");
        assert_eq!(
            g_row.basic,
            t.get(row, "basicProfile"),
            "{ctx}: basicProfile"
        );
        for (k, col) in OPTION_COLUMNS.iter().enumerate() {
            assert_eq!(g_row.options[k], t.get(row, col), "{ctx}: {col}");
        }
    }

    // The special patterns are present and each matches what it should.
    let special: Vec<TagPattern> = PROFILE_TABLE
        .iter()
        .map(|r| r.tag)
        .filter(|p| !matches!(p, TagPattern::Exact(..)))
        .collect();
    assert_eq!(
        special,
        [
            TagPattern::RepeatingGroup {
                base: 0x5000,
                element: None
            },
            TagPattern::RepeatingGroup {
                base: 0x6000,
                element: Some(0x3000)
            },
            TagPattern::RepeatingGroup {
                base: 0x6000,
                element: Some(0x4000)
            },
            TagPattern::AllPrivate,
        ]
    );
}

#[test]
#[cfg_attr(not(deidfs_reference), ignore = "skipped: no ../shared/reference")]
fn safe_private_matches_reference_csv() {
    let path = reference(SAFE_PRIVATE_CSV);
    let t = Table::load(&path);
    assert_eq!(t.rows.len(), 130, "rows in {}", path.display());

    // Expected rows in CSV order; exact duplicates (none in the current file)
    // are dropped by the generator, so drop them here too.
    let mut expected: Vec<(u16, u8, String, String)> = Vec::new();
    for (i, row) in t.rows.iter().enumerate() {
        let de = t.get(row, "Data Element");
        let ctx = format!("row {} ({de})", i + 1);
        let inner = de
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{ctx}: data element"));
        let (g, e) = inner
            .split_once(',')
            .unwrap_or_else(|| panic!("{ctx}: data element"));
        let low = e
            .strip_prefix("xx")
            .unwrap_or_else(|| panic!("{ctx}: element not of the form xxNN"));
        let group = hex4(g);
        assert!(group & 1 == 1, "{ctx}: not a private group");
        let element = u8::from_str_radix(low, 16).unwrap_or_else(|err| panic!("{ctx}: {err}"));
        let item = (
            group,
            element,
            t.get(row, "Private Creator").to_string(),
            t.get(row, "VR").to_string(),
        );
        if !expected.contains(&item) {
            expected.push(item);
        }
    }
    assert_eq!(
        SAFE_PRIVATE.len(),
        expected.len(),
        "SAFE_PRIVATE length vs CSV rows"
    );
    assert_eq!(SAFE_PRIVATE.len(), 130);
    for (i, (g_row, exp)) in SAFE_PRIVATE.iter().zip(&expected).enumerate() {
        let got = (
            g_row.group,
            g_row.element,
            g_row.creator.to_string(),
            g_row.vr.to_string(),
        );
        assert_eq!(&got, exp, "SAFE_PRIVATE[{i}]");
    }
}
