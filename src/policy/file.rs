//! Policy files (TOML). Every mistake is an error naming the file, the line and the fix.

use super::{Action, Allow, Policy, PrivateKey, ProfileOption};
use crate::dicom::Tag;
use crate::dicom::vr::tag_of_keyword;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Policies shipped in the binary (the files under `policies/`).
const BUILTIN: &[(&str, &str)] = &[
    ("basic", include_str!("../../policies/basic.toml")),
    ("research", include_str!("../../policies/research.toml")),
];

pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

pub fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A policy problem; `line` is 0 when it is not about one line of a file.
#[derive(Debug)]
pub struct PolicyError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.origin, self.message),
            n => write!(f, "{}:{n}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Option<String>,
    description: Option<String>,
    extends: Option<Spanned<String>>,
    #[serde(default)]
    options: Vec<Spanned<String>>,
    refuse_modalities: Option<Vec<String>>,
    refuse_sop_classes: Option<Vec<String>>,
    screen_pixels: Option<bool>,
    vendor_private: Option<bool>,
    patient_identity: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    allow: Vec<RawAllow>,
    #[serde(default, rename = "override")]
    overrides: Vec<Spanned<RawOverride>>,
    #[serde(default)]
    pixel_rule: Vec<Spanned<crate::pixels::rules::RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    modality: String,
    manufacturer: Option<String>,
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    keyword: Option<String>,
    tag: Option<String>,
    creator: Option<String>,
    action: String,
}

/// Loads a policy by built-in name or by path.
pub fn load(name_or_path: &str) -> Result<Policy, PolicyError> {
    if builtin_text(name_or_path).is_some() {
        return load_builtin(name_or_path);
    }
    let path = Path::new(name_or_path);
    let known = builtin_names().collect::<Vec<_>>().join(", ");
    if !path.exists() && !name_or_path.contains('/') && !name_or_path.ends_with(".toml") {
        return Err(PolicyError {
            origin: name_or_path.into(),
            line: 0,
            message: format!(
                "no built-in policy of that name (built in: {known}); or give a path to a .toml file"
            ),
        });
    }
    load_path(path, 0)
}

pub fn load_builtin(name: &str) -> Result<Policy, PolicyError> {
    let text = builtin_text(name).ok_or_else(|| PolicyError {
        origin: name.into(),
        line: 0,
        message: "no built-in policy of that name".into(),
    })?;
    parse(text, &format!("policies/{name}.toml"), None, 0)
}

fn load_path(path: &Path, depth: usize) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        origin: path.display().to_string(),
        line: 0,
        message: format!("cannot read the policy file: {e}"),
    })?;
    parse(&text, &path.display().to_string(), path.parent(), depth)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Parses policy text; `dir` resolves a relative `extends` path.
pub fn parse(
    text: &str,
    origin: &str,
    dir: Option<&Path>,
    depth: usize,
) -> Result<Policy, PolicyError> {
    let err = |offset: usize, message: String| PolicyError {
        origin: origin.to_string(),
        line: line_of(text, offset),
        message,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        err(at, with_suggestion(e.message().trim()))
    })?;

    let mut policy = match &raw.extends {
        None => Policy::bare(),
        Some(parent) if depth >= 8 => {
            return Err(err(
                parent.span().start,
                "`extends` chain deeper than 8 (a cycle?)".into(),
            ));
        }
        Some(parent) => {
            let name = parent.get_ref();
            if builtin_text(name).is_some() {
                parse(
                    builtin_text(name).unwrap_or_default(),
                    &format!("policies/{name}.toml"),
                    None,
                    depth + 1,
                )?
            } else {
                let p: PathBuf = dir.map_or_else(|| PathBuf::from(name), |d| d.join(name));
                if !p.exists() {
                    return Err(err(
                        parent.span().start,
                        format!(
                            "extends {name:?}: neither a built-in policy ({}) nor an existing file",
                            builtin_names().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                load_path(&p, depth + 1)?
            }
        }
    };

    if let Some(name) = raw.name {
        policy.name = name;
    }
    if let Some(d) = raw.description {
        policy.description = d;
    }
    for opt in &raw.options {
        let o = ProfileOption::from_name(opt.get_ref()).ok_or_else(|| {
            let names: Vec<_> = ProfileOption::ALL.iter().map(|o| o.name()).collect();
            err(
                opt.span().start,
                format!(
                    "unknown option {:?}{}; the options are: {}",
                    opt.get_ref(),
                    did_you_mean(opt.get_ref(), &names),
                    names.join(", ")
                ),
            )
        })?;
        policy.options.insert(o);
    }
    check_options(&policy.options)
        .map_err(|m| err(raw.options.first().map_or(0, |o| o.span().start), m))?;
    if let Some(m) = raw.refuse_modalities {
        policy.refuse_modalities = m
            .into_iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .collect();
    }
    if let Some(v) = raw.vendor_private {
        policy.vendor_private = v;
    }
    if let Some(s) = raw.screen_pixels {
        policy.screen_pixels = s;
    }
    if let Some(ids) = &raw.patient_identity {
        let at = ids.span().start;
        if ids.get_ref().is_empty() {
            return Err(err(at, "`patient_identity` needs at least one keyword, e.g. [\"IssuerOfPatientID\", \"PatientID\"] (the default)".into()));
        }
        let mut tags = Vec::new();
        for kw in ids.get_ref() {
            let tag = tag_of_keyword(kw).ok_or_else(|| {
                err(at, format!("patient_identity: unknown keyword {kw:?} (keywords are as in PS3.6, e.g. \"PatientID\")"))
            })?;
            if crate::dicom::vr::dictionary_vr(tag) == crate::dicom::Vr::SQ {
                return Err(err(
                    at,
                    format!(
                        "patient_identity: {kw} is a sequence; name attributes with a value, e.g. \"PatientID\""
                    ),
                ));
            }
            tags.push(tag);
        }
        policy.patient_identity = tags;
    }
    if let Some(c) = raw.refuse_sop_classes {
        policy.refuse_sop_classes = c.into_iter().map(|s| s.trim().to_string()).collect();
    }
    for a in raw.allow {
        policy.allow.insert(Allow {
            modality: a.modality.trim().to_ascii_uppercase(),
            manufacturer: a.manufacturer,
            model: a.model,
        });
    }
    for ov in &raw.overrides {
        let at = ov.span().start;
        let o = ov.get_ref();
        let action = Action::parse(&o.action).ok_or_else(|| {
            err(at, format!("unknown action {:?}; use keep, remove, empty, dummy, uid, clean or pseudonym (or K, X, Z, D, U, C)", o.action))
        })?;
        match (&o.creator, &o.keyword, &o.tag) {
            (Some(creator), None, Some(tag)) => {
                let (group, element) = super::vocabulary::parse_private_tag(tag).ok_or_else(|| {
                    err(at, format!("private tag {tag:?} must look like \"(0029,xx10)\": an odd group and the element's low byte"))
                })?;
                policy.private_overrides.insert(
                    PrivateKey {
                        creator: creator.clone(),
                        group,
                        element,
                    },
                    action,
                );
            }
            (None, Some(kw), None) => {
                let tag = tag_of_keyword(kw).ok_or_else(|| err(at, format!("unknown keyword {kw:?} (keywords are as in PS3.6, e.g. \"PatientName\")")))?;
                policy.overrides.insert(tag, action);
            }
            (None, None, Some(t)) => {
                let tag = parse_tag(t)
                    .ok_or_else(|| err(at, format!("tag {t:?} must look like \"(0010,0010)\"")))?;
                if tag.is_private() {
                    return Err(err(
                        at,
                        format!(
                            "{tag} is private: give its `creator` and write the tag as \"({:04X},xx{:02X})\"",
                            tag.0,
                            tag.1 & 0xFF
                        ),
                    ));
                }
                policy.overrides.insert(tag, action);
            }
            _ => {
                return Err(err(at, "an override needs exactly one of `keyword` or `tag` (private ones: `creator` and `tag`)".into()));
            }
        }
    }
    if !raw.pixel_rule.is_empty() {
        let mut rules = policy.pixel_rules.rules().to_vec();
        for spec in &raw.pixel_rule {
            let rule = crate::pixels::rules::DeviceRule::compile(spec.get_ref())
                .map_err(|m| err(spec.span().start, m))?;
            rules.push(rule);
            policy.custom_pixel_rules.push(spec.get_ref().clone());
        }
        policy.pixel_rules = std::sync::Arc::new(crate::pixels::rules::RuleSet::new(rules));
    }
    policy.index();
    Ok(policy)
}

fn check_options(opts: &BTreeSet<ProfileOption>) -> Result<(), String> {
    if opts.contains(&ProfileOption::RetainLongitudinalFullDates)
        && opts.contains(&ProfileOption::RetainLongitudinalModifiedDates)
    {
        return Err("retain-longitudinal-full-dates and retain-longitudinal-modified-dates exclude each other; keep one".into());
    }
    Ok(())
}

/// serde's "unknown field `X`, expected one of `a`, `b`" with the field meant added.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((typed, expected)) = rest.split_once("`, expected one of ") else {
        return message.to_string();
    };
    let names: Vec<&str> = expected.split(", ").map(|n| n.trim_matches('`')).collect();
    match did_you_mean(typed, &names) {
        hint if hint.is_empty() => message.to_string(),
        hint => format!("unknown field `{typed}`{hint}; expected one of {expected}"),
    }
}

/// ` (did you mean "NAME"?)` for the name of `names` closest to `typed`, when it is close
/// (a few letters off); else nothing.
pub fn did_you_mean(typed: &str, names: &[&str]) -> String {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for j in 0..b.len() {
                let next = (prev + usize::from(ca != b[j]))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
    names
        .iter()
        .map(|n| (distance(typed, n), n))
        .min()
        .filter(|(d, _)| *d <= (typed.len() / 3).max(1))
        .map(|(_, n)| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default()
}

/// Adds command-line options to a loaded policy.
pub fn with_options(mut policy: Policy, names: &[String]) -> Result<Policy, PolicyError> {
    for n in names {
        let o = ProfileOption::from_name(n).ok_or_else(|| PolicyError {
            origin: "--option".into(),
            line: 0,
            message: {
                let names: Vec<_> = ProfileOption::ALL.iter().map(|o| o.name()).collect();
                format!(
                    "unknown option {n:?}{}; the options are: {}",
                    did_you_mean(n, &names),
                    names.join(", ")
                )
            },
        })?;
        policy.options.insert(o);
    }
    check_options(&policy.options).map_err(|message| PolicyError {
        origin: "--option".into(),
        line: 0,
        message,
    })?;
    policy.index();
    Ok(policy)
}

pub fn parse_tag(s: &str) -> Option<Tag> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (g, e) = inner.split_once(',')?;
    Some(Tag(
        super::vocabulary::hex4(g.trim())?,
        super::vocabulary::hex4(e.trim())?,
    ))
}

/// Used by `policy show`: the options and overrides in effect.
pub fn describe(p: &Policy) -> String {
    let mut s = format!("name: {}\n", p.name);
    if !p.description.is_empty() {
        s += &format!("description: {}\n", p.description);
    }
    s += &format!("id: {}\n", p.id());
    s += "profile: PS3.15 Basic Application Level Confidentiality Profile\n";
    let opts: Vec<_> = p.options.iter().map(|o| o.name()).collect();
    s += &format!(
        "options: {}\n",
        if opts.is_empty() {
            "(none)".into()
        } else {
            opts.join(", ")
        }
    );
    let overrides: BTreeMap<String, &str> = p
        .overrides
        .iter()
        .map(|(t, a)| {
            (
                format!("{t} {}", crate::dicom::vr::keyword(*t).unwrap_or("")),
                a.name(),
            )
        })
        .chain(p.private_overrides.iter().map(|(k, a)| {
            (
                format!("({:04X},xx{:02X}) {:?}", k.group, k.element, k.creator),
                a.name(),
            )
        }))
        .collect();
    for (k, a) in overrides {
        s += &format!("override: {k} -> {a}\n");
    }
    if p.vendor_private {
        s += &format!(
            "vendor private: {} attributes analysis tools read, kept or cleaned (policies/vendor-private.toml)\n",
            super::vendor::dictionary().len()
        );
    }
    s += &format!(
        "refuse modalities: {}\n",
        p.refuse_modalities
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    s += &format!(
        "refuse SOP classes: {}\n",
        p.refuse_sop_classes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    for a in &p.allow {
        s += &format!(
            "allow: modality {} manufacturer {:?} model {:?}\n",
            a.modality, a.manufacturer, a.model
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load() {
        for n in builtin_names() {
            load_builtin(n).unwrap();
        }
        let r = load_builtin("research").unwrap();
        assert!(r.has(ProfileOption::RetainLongitudinalModifiedDates));
        assert!(r.has(ProfileOption::CleanDescriptors));
        assert!(
            !r.refuse_modalities.is_empty(),
            "research inherits basic's refusals"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            "name = \"x\"\n\noptions = [\"retain-uid\"]\n",
            "p.toml",
            None,
            0,
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(
            e.to_string().contains("retain-uids"),
            "lists the valid names: {e}"
        );

        let e = parse(
            "name = \"x\"\n[[override]]\nkeyword = \"PatientNam\"\naction = \"keep\"\n",
            "p.toml",
            None,
            0,
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.to_string().starts_with("p.toml:2: unknown keyword"),
            "{e}"
        );

        let e = parse("name = \"x\"\ncolour = 3\n", "p.toml", None, 0).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn overrides_by_keyword_tag_and_creator() {
        let p = parse(
            "extends = \"basic\"\n[[override]]\nkeyword = \"StudyDescription\"\naction = \"keep\"\n[[override]]\ntag = \"(0008,1030)\"\naction = \"K\"\n[[override]]\ncreator = \"ACME\"\ntag = \"(0009,xx01)\"\naction = \"keep\"\n",
            "p.toml",
            None,
            0,
        )
        .unwrap();
        assert_eq!(p.public_rule(Tag(0x0008, 0x1030)).action, Action::Keep);
        assert_eq!(
            p.private_rule(Tag(0x0009, 0x1001), Some("ACME")).action,
            Action::Keep
        );
        assert_eq!(
            p.private_rule(Tag(0x0009, 0x1002), Some("ACME")).action,
            Action::Remove
        );
        assert!(
            parse(
                "[[override]]\ntag = \"(0009,1001)\"\naction = \"keep\"\n",
                "p",
                None,
                0
            )
            .is_err()
        );
    }

    #[test]
    fn exclusive_date_options() {
        let e = parse(
            "options = [\"retain-longitudinal-full-dates\", \"retain-longitudinal-modified-dates\"]\n",
            "p",
            None,
            0,
        );
        assert!(e.is_err());
    }
}
