//! Device rules: where a device is known to burn text into its images, keyed by header
//! conditions. The format is pydicom/deid's recipe `%filter` language, so the rules users
//! already have work: a rule holds condition lines (`contains`, `notcontains`, `equals`,
//! `notequals`, `missing`, `empty`, `present`), and the rectangles to blank or keep.
//!
//! Evaluation: within a line the tests combine left to right (`+` and, `||` or); the lines
//! then combine left to right by their leading operator (none means and). A test of a
//! keyword the dictionary does not know sees the attribute as missing.

use super::geometry::Rect;
use super::mask::Op;
use crate::dicom::Tag;
use regex_automata::meta::Regex;
use std::sync::Arc;

/// A rule as written in TOML (the generated table `policies/pixel-rules.toml`, or a policy's
/// own `[[pixel_rule]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub label: String,
    /// whitelist, graylist (the default) or blacklist, as in deid's recipes.
    #[serde(default = "graylist")]
    pub group: String,
    #[serde(default)]
    pub when: Vec<String>,
    /// Rectangles to blank: x0, y0, x1, y1 (maxima exclusive).
    #[serde(default)]
    pub blank: Vec<[u32; 4]>,
    /// Rectangles to keep (applied after the rule's blanks).
    #[serde(default)]
    pub keep: Vec<[u32; 4]>,
    #[serde(default)]
    pub blank_all: bool,
    #[serde(default)]
    pub keep_ultrasound_regions: bool,
}

fn graylist() -> String {
    "graylist".into()
}

/// deid's three lists: whitelist (known clean), graylist (known places of text), blacklist
/// (known bad).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Whitelist,
    Graylist,
    Blacklist,
}

/// Where a rule acts, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Rect(Rect, Op),
    BlankAll,
    KeepUltrasoundRegions,
}

/// A rule's pattern, checked when the rule is read and compiled the first time a file is
/// tested against it: the built-in rules hold hundreds, and compiling them all cost every
/// command 50 ms at start (most devices meet a few).
#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    compiled: std::sync::Arc<std::sync::OnceLock<Option<Regex>>>,
}

impl Pattern {
    fn new(source: String) -> Result<Pattern, String> {
        regex_syntax::Parser::new()
            .parse(&source)
            .map_err(|e| format!("not a regular expression: {e}"))?;
        Ok(Pattern {
            source,
            compiled: Default::default(),
        })
    }

    /// Whether `text` matches. A pattern that parses but cannot be compiled (past the
    /// regex crate's size limits) matches everything: its rule then cleans rather than
    /// misses a device.
    fn is_match(&self, text: &str) -> bool {
        let compiled = self.compiled.get_or_init(|| match compile(&self.source) {
            Ok(re) => Some(re),
            Err(e) => {
                tracing::error!(error = %e, "a pixel rule's pattern could not be compiled: taken as matching");
                None
            }
        });
        compiled.as_ref().is_none_or(|re| re.is_match(text))
    }
}

/// A pattern compiled for what rules need: one test of a short header value, whose verdict
/// is memoised per series (`RuleSet::matching`). The lazy DFA and the NFA engines answer
/// that as well as a full DFA and a literal prefilter, whose building cost the first file of
/// a mount most of its planning time (hundreds of patterns).
fn compile(source: &str) -> Result<Regex, Box<regex_automata::meta::BuildError>> {
    Regex::builder()
        .configure(Regex::config().dfa(false).auto_prefilter(false))
        .build(source)
        .map_err(Box::new)
}

#[derive(Debug, Clone)]
enum Test {
    Contains(Pattern),
    NotContains(Pattern),
    Equals(String),
    NotEquals(String),
    Missing,
    Empty,
    Present,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    And,
    Or,
}

#[derive(Debug, Clone)]
struct Cond {
    /// `None`: a keyword the dictionary does not know (always missing).
    tag: Option<Tag>,
    test: Test,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct DeviceRule {
    pub label: String,
    pub group: Group,
    lines: Vec<(Join, Vec<(Join, Cond)>)>,
    pub areas: Vec<Area>,
    /// The tags its conditions read.
    pub tags: Vec<Tag>,
}

const ACTIONS: [&str; 7] = [
    "contains",
    "notcontains",
    "equals",
    "notequals",
    "missing",
    "empty",
    "present",
];

/// Splits a line at `+` / `||` operators that start a new test (a `+` inside a value, as in
/// "SOMATOM Definition AS+", is part of the value).
fn split_tests(line: &str) -> Vec<(Join, String)> {
    let mut out = Vec::new();
    let mut join = Join::And;
    let mut rest = line.trim();
    for (op, j) in [("||", Join::Or), ("+", Join::And)] {
        if let Some(r) = rest.strip_prefix(op) {
            join = j;
            rest = r.trim_start();
            break;
        }
    }
    let starts_test = |s: &str| {
        let word = s.split_whitespace().next().unwrap_or("");
        ACTIONS.contains(&word.to_ascii_lowercase().as_str())
    };
    let mut current = String::new();
    let mut i = 0;
    let b = rest.as_bytes();
    while i < b.len() {
        let (op, j) = if rest[i..].starts_with("||") {
            ("||", Join::Or)
        } else if rest[i..].starts_with('+') {
            ("+", Join::And)
        } else {
            ("", Join::And)
        };
        if !op.is_empty() && starts_test(&rest[i + op.len()..]) {
            out.push((join, current.trim().to_string()));
            current.clear();
            join = j;
            i += op.len();
            continue;
        }
        let c = rest[i..].chars().next().unwrap_or(' ');
        current.push(c);
        i += c.len_utf8();
    }
    out.push((join, current.trim().to_string()));
    out
}

fn parse_test(text: &str) -> Result<Cond, String> {
    let mut parts = text.splitn(3, char::is_whitespace);
    let action = parts.next().unwrap_or("").to_ascii_lowercase();
    let field = parts.next().unwrap_or("").trim();
    let value = parts.next().unwrap_or("").trim();
    if field.is_empty() {
        return Err(format!("{text:?}: a test needs a keyword"));
    }
    let needs_value = matches!(
        action.as_str(),
        "contains" | "notcontains" | "equals" | "notequals"
    );
    if needs_value && value.is_empty() {
        return Err(format!("{text:?}: {action} needs a value"));
    }
    let regex = || Pattern::new(format!("(?i){value}")).map_err(|e| format!("{text:?}: {e}"));
    let test = match action.as_str() {
        "contains" => Test::Contains(regex()?),
        "notcontains" => Test::NotContains(regex()?),
        "equals" => Test::Equals(value.to_lowercase()),
        "notequals" => Test::NotEquals(value.to_lowercase()),
        "missing" => Test::Missing,
        "empty" => Test::Empty,
        "present" => Test::Present,
        _ => {
            return Err(format!(
                "{text:?}: unknown test {action:?} (one of {})",
                ACTIONS.join(", ")
            ));
        }
    };
    Ok(Cond {
        tag: crate::dicom::vr::tag_of_keyword(field),
        test,
    })
}

impl DeviceRule {
    pub fn compile(spec: &RuleSpec) -> Result<DeviceRule, String> {
        let at = |e: String| format!("pixel rule {:?}: {e}", spec.label);
        let group = match spec.group.as_str() {
            "whitelist" => Group::Whitelist,
            "graylist" => Group::Graylist,
            "blacklist" => Group::Blacklist,
            g => {
                return Err(at(format!(
                    "unknown group {g:?} (whitelist, graylist, blacklist)"
                )));
            }
        };
        let mut lines = Vec::new();
        for (n, line) in spec.when.iter().enumerate() {
            let tests = split_tests(line);
            let join = if n == 0 { Join::And } else { tests[0].0 };
            let conds = tests
                .iter()
                .enumerate()
                .map(|(i, (j, t))| Ok((if i == 0 { Join::And } else { *j }, parse_test(t)?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(at)?;
            lines.push((join, conds));
        }
        let rect = |c: &[u32; 4]| -> Result<Rect, String> {
            if c[0] >= c[2] || c[1] >= c[3] {
                return Err(at(format!(
                    "{c:?} is not x0, y0, x1, y1 with x0 < x1 and y0 < y1"
                )));
            }
            Ok(Rect {
                x0: c[0],
                y0: c[1],
                x1: c[2],
                y1: c[3],
            })
        };
        // A rule's areas apply in one fixed order, whatever the order in the file: blank all,
        // keep the ultrasound regions, blank the rectangles (text inside a region still
        // goes), keep the rectangles.
        let mut areas = Vec::new();
        if spec.blank_all {
            areas.push(Area::BlankAll);
        }
        if spec.keep_ultrasound_regions {
            areas.push(Area::KeepUltrasoundRegions);
        }
        for c in &spec.blank {
            areas.push(Area::Rect(rect(c)?, Op::Blank));
        }
        for c in &spec.keep {
            areas.push(Area::Rect(rect(c)?, Op::Keep));
        }
        let mut tags: Vec<Tag> = lines
            .iter()
            .flat_map(|(_, c)| c.iter().filter_map(|(_, c)| c.tag))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(DeviceRule {
            label: spec.label.clone(),
            group,
            lines,
            areas,
            tags,
        })
    }

    /// Whether the rule applies to a header; `value(tag)` is the attribute's text (multiple
    /// values joined by `\`, numbers in decimal), `None` when absent. A rule without
    /// conditions applies to every image.
    pub fn applies(&self, value: &dyn Fn(Tag) -> Option<String>) -> bool {
        // Left to right, skipping what cannot change the result (most rules fail on their
        // first test, the manufacturer or model).
        let eval = |conds: &[(Join, Cond)]| {
            let mut r = true;
            for (i, (j, c)) in conds.iter().enumerate() {
                r = match (i, j, r) {
                    (0, _, _) => c.eval(value),
                    (_, Join::And, false) | (_, Join::Or, true) => r,
                    _ => c.eval(value),
                };
            }
            r
        };
        let mut result = true;
        for (n, (join, conds)) in self.lines.iter().enumerate() {
            result = match (n, join, result) {
                (0, _, _) => eval(conds),
                (_, Join::And, false) | (_, Join::Or, true) => result,
                _ => eval(conds),
            };
        }
        result
    }
}

/// The rules that act (graylist rules with somewhere to act; the others are recorded, see
/// docs/pixels.md), with the tags they read and a memo of recent verdicts: images of one
/// series share their device and description values, so most files reuse one evaluation.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<DeviceRule>,
    active: Vec<usize>,
    tags: Vec<Tag>,
    memo: std::sync::Mutex<lru::LruCache<[u8; 32], Arc<Vec<usize>>>>,
}

impl Clone for RuleSet {
    fn clone(&self) -> Self {
        RuleSet::new(self.rules.clone())
    }
}

impl RuleSet {
    pub fn new(rules: Vec<DeviceRule>) -> RuleSet {
        let active: Vec<usize> = (0..rules.len())
            .filter(|i| rules[*i].group == Group::Graylist && !rules[*i].areas.is_empty())
            .collect();
        let mut tags: Vec<Tag> = active.iter().flat_map(|i| rules[*i].tags.clone()).collect();
        tags.sort();
        tags.dedup();
        RuleSet {
            rules,
            active,
            tags,
            memo: std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(512).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        }
    }

    pub fn rules(&self) -> &[DeviceRule] {
        &self.rules
    }

    /// The tags the acting rules read.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The acting rules that apply to a header whose values of [`RuleSet::tags`] are
    /// `values` (in that order), in rule order.
    pub fn matching(&self, values: &[Option<String>]) -> Arc<Vec<usize>> {
        // The values length-prefixed in one buffer, hashed once (blake3 costs ~160
        // instructions per update of a few bytes).
        let mut keyed = Vec::with_capacity(
            values.len() + values.iter().flatten().map(|s| s.len() + 8).sum::<usize>(),
        );
        for v in values {
            match v {
                None => keyed.push(0),
                Some(s) => {
                    keyed.push(1);
                    keyed.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    keyed.extend_from_slice(s.as_bytes());
                }
            }
        }
        let key = *blake3::hash(&keyed).as_bytes();
        if let Some(hit) = crate::lock(&self.memo).get(&key) {
            return hit.clone();
        }
        let value = |t: Tag| {
            self.tags
                .binary_search(&t)
                .ok()
                .and_then(|i| values.get(i).cloned().flatten())
        };
        let found: Arc<Vec<usize>> = Arc::new(
            self.active
                .iter()
                .copied()
                .filter(|i| self.rules[*i].applies(&value))
                .collect(),
        );
        crate::lock(&self.memo).put(key, found.clone());
        found
    }
}

impl Cond {
    fn eval(&self, value: &dyn Fn(Tag) -> Option<String>) -> bool {
        let v = self.tag.and_then(value);
        let equals = |want: &str, v: &Option<String>| {
            v.as_deref().is_some_and(|v| {
                let v = v.trim().to_lowercase();
                v == want || v.split('\\').any(|part| part.trim() == want)
            })
        };
        match &self.test {
            Test::Contains(re) => v.is_some_and(|v| re.is_match(v.trim())),
            Test::NotContains(re) => !v.is_some_and(|v| re.is_match(v.trim())),
            Test::Equals(want) => equals(want, &v),
            Test::NotEquals(want) => !equals(want, &v),
            Test::Missing => v.is_none(),
            Test::Empty => v.is_some_and(|v| v.trim().is_empty()),
            Test::Present => v.is_some(),
        }
    }
}

/// The generated table: the rules of pydicom/deid's recipe (`scripts/gen_pixel_rules.py`).
pub const BUILTIN_TABLE: &str = include_str!("../../policies/pixel-rules.toml");

#[derive(serde::Deserialize)]
struct Table {
    pixel_rule: Vec<RuleSpec>,
}

/// The built-in rules, compiled.
pub fn builtin() -> Result<Vec<DeviceRule>, String> {
    let t: Table = toml::from_str(BUILTIN_TABLE).map_err(|e| format!("pixel-rules.toml: {e}"))?;
    t.pixel_rule.iter().map(DeviceRule::compile).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_built_in_pattern_compiles_so_none_is_taken_as_matching_at_run_time() {
        let mut patterns = 0;
        for rule in builtin().unwrap() {
            for (_, conds) in &rule.lines {
                for (_, cond) in conds {
                    if let Test::Contains(p) | Test::NotContains(p) = &cond.test {
                        assert!(compile(&p.source).is_ok(), "{}: {}", rule.label, p.source);
                        patterns += 1;
                    }
                }
            }
        }
        assert!(patterns > 300, "{patterns}");
    }

    #[test]
    fn a_pattern_that_does_not_parse_is_refused_when_the_rule_is_read() {
        let err = parse_test("contains Manufacturer (unclosed").unwrap_err();
        assert!(err.contains("not a regular expression"), "{err}");
    }

    fn header(pairs: &[(&str, &str)]) -> impl Fn(Tag) -> Option<String> {
        let map: HashMap<Tag, String> = pairs
            .iter()
            .map(|(k, v)| (crate::dicom::vr::tag_of_keyword(k).unwrap(), v.to_string()))
            .collect();
        move |t| map.get(&t).cloned()
    }

    fn rule(when: &[&str]) -> DeviceRule {
        DeviceRule::compile(&RuleSpec {
            label: "t".into(),
            group: "graylist".into(),
            when: when.iter().map(|s| s.to_string()).collect(),
            blank: vec![[0, 0, 10, 10]],
            keep: vec![],
            blank_all: false,
            keep_ultrasound_regions: false,
        })
        .unwrap()
    }

    #[test]
    fn an_or_inside_a_line_binds_before_the_lines_are_joined() {
        let r = rule(&[
            "contains ManufacturerModelName LightSpeed VCT",
            "+ contains Modality CT",
            "+ contains ImageType SCREEN SAVE || contains SeriesDescription Dose",
        ]);
        let dose = header(&[
            ("ManufacturerModelName", "LightSpeed VCT"),
            ("Modality", "CT"),
            ("ImageType", "DERIVED\\SECONDARY\\SCREEN SAVE"),
        ]);
        assert!(r.applies(&dose));
        // A dose series of another scanner does not match: the or is inside the last line.
        let other = header(&[
            ("ManufacturerModelName", "Revolution"),
            ("Modality", "CT"),
            ("SeriesDescription", "Dose Report"),
        ]);
        assert!(!r.applies(&other));
    }

    #[test]
    fn a_plus_inside_a_value_is_part_of_the_value() {
        let r = rule(&[
            "contains ManufacturerModelName SOMATOM Definition AS+",
            "+ contains Modality CT",
        ]);
        assert!(r.applies(&header(&[
            ("ManufacturerModelName", "SOMATOM Definition AS+"),
            ("Modality", "CT")
        ])));
        assert!(!r.applies(&header(&[
            ("ManufacturerModelName", "SOMATOM Definition AS"),
            ("Modality", "MR")
        ])));
    }

    #[test]
    fn leading_or_lines_join_with_or() {
        let r = rule(&[
            "contains ImageType SAVE",
            "+ contains Modality CT|MR",
            "|| contains BurnedInAnnotation YES",
        ]);
        assert!(r.applies(&header(&[
            ("BurnedInAnnotation", "YES"),
            ("Modality", "US")
        ])));
        assert!(!r.applies(&header(&[("ImageType", "SAVE"), ("Modality", "US")])));
    }

    #[test]
    fn missing_empty_present_and_equals_read_as_deid_does() {
        let r = rule(&["missing Manufacturer || empty Manufacturer"]);
        assert!(r.applies(&header(&[])));
        assert!(r.applies(&header(&[("Manufacturer", " ")])));
        assert!(!r.applies(&header(&[("Manufacturer", "GE")])));
        let r = rule(&["equals Rows 480", "+ present SequenceOfUltrasoundRegions"]);
        assert!(r.applies(&header(&[
            ("Rows", "480"),
            ("SequenceOfUltrasoundRegions", "")
        ])));
        assert!(!r.applies(&header(&[("Rows", "4800")])));
        // A keyword the dictionary does not know is missing (the recipe has typos).
        assert!(rule(&["missing Manfacturer"]).applies(&header(&[("Manufacturer", "GE")])));
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let mut spec = RuleSpec {
            label: "mine".into(),
            group: "graylist".into(),
            when: vec!["containz Modality US".into()],
            blank: vec![],
            keep: vec![],
            blank_all: false,
            keep_ultrasound_regions: false,
        };
        let e = DeviceRule::compile(&spec).unwrap_err();
        assert!(e.contains("mine") && e.contains("unknown test"), "{e}");
        spec.when = vec!["contains Modality US".into()];
        spec.blank = vec![[10, 0, 5, 5]];
        assert!(DeviceRule::compile(&spec).unwrap_err().contains("x0 < x1"));
    }

    #[test]
    fn the_builtin_table_compiles_with_every_recipe_rule() {
        let rules = builtin().unwrap();
        assert_eq!(rules.len(), 118);
        let with_rects = rules
            .iter()
            .filter(|r| {
                r.group == Group::Graylist && r.areas.iter().any(|a| matches!(a, Area::Rect(..)))
            })
            .count();
        assert!(with_rects >= 100, "{with_rects}");
    }
}
