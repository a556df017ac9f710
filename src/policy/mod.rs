//! The policy: which action each attribute gets. The Basic Profile and its ten options come
//! from PS3.15 Table E.1-1 (generated into `generated.rs`); a policy file picks options, adds
//! per-attribute overrides and says which files are refused.

pub mod file;
pub mod generated;
pub mod stop_words;
pub mod table_types;
pub mod vendor;
mod vocabulary;

use crate::dicom::Tag;
use crate::pixels::rules::{DeviceRule, RuleSet, RuleSpec};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

/// The built-in device rules (`policies/pixel-rules.toml`), compiled once.
fn builtin_pixel_rules() -> &'static [DeviceRule] {
    static RULES: OnceLock<Vec<DeviceRule>> = OnceLock::new();
    // The table is part of the build; a test proves every rule compiles.
    RULES.get_or_init(|| crate::pixels::rules::builtin().expect("the built-in pixel rules compile"))
}
use table_types::TagPattern;

pub use file::{PolicyError, builtin_names, load as load_policy, load_builtin};
pub use vocabulary::{Action, Allow, Blob, PrivateKey, ProfileOption, Rule, Source};

/// Who the patient is unless a policy says otherwise: the ID and who issued it.
pub const DEFAULT_PATIENT_IDENTITY: [Tag; 2] = [Tag(0x0010, 0x0021), Tag(0x0010, 0x0020)];

/// A fully resolved policy. Built from a file by [`file::load`], or [`Policy::basic`].
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub options: BTreeSet<ProfileOption>,
    pub overrides: BTreeMap<Tag, Action>,
    pub private_overrides: BTreeMap<PrivateKey, Action>,
    /// Modalities whose images are known to carry burned-in text when the flag is absent.
    pub refuse_modalities: BTreeSet<String>,
    /// SOP Classes refused for the same reason (secondary capture, screen saves...).
    pub refuse_sop_classes: BTreeSet<String>,
    pub allow: BTreeSet<Allow>,
    /// Device rules: where devices burn text in (the built-in table, then the policy's own
    /// `[[pixel_rule]]`s, in order).
    pub pixel_rules: Arc<RuleSet>,
    /// The policy's own pixel rules as written (part of the policy id).
    pub custom_pixel_rules: Vec<RuleSpec>,
    /// Search the frames of images nobody marked at risk for burned-in text when they are
    /// first read (on unless a policy says `screen_pixels = false`).
    pub screen_pixels: bool,
    /// The top-level attributes whose values together are the patient (one keyed token and
    /// date shift per distinct combination). Default: Issuer of Patient ID, Patient ID.
    pub patient_identity: Vec<Tag>,
    /// Keep or clean the private attributes of the research-safe vendor dictionary
    /// (`policies/vendor-private.toml`) that analysis tools read.
    pub vendor_private: bool,
    /// By tag, hashed with Fx (a tag is 4 bytes; SipHash cost more than the rest of a
    /// lookup, and this is asked for every element of every file).
    exact: rustc_hash::FxHashMap<Tag, Rule>,
    /// Rules of the pattern rows (50xx, 60xx), in table order.
    repeating: Vec<(TagPattern, Rule)>,
    /// The rule of the private row (gggg,eeee)odd.
    private_default: Rule,
    safe_private: HashMap<(String, u16, u8), ()>,
}

impl Policy {
    /// The Basic Profile with no options, no overrides and no refusal lists.
    pub fn bare() -> Policy {
        Policy::build(
            String::from("bare"),
            String::new(),
            BTreeSet::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        )
    }

    pub(crate) fn build(
        name: String,
        description: String,
        options: BTreeSet<ProfileOption>,
        overrides: BTreeMap<Tag, Action>,
        private_overrides: BTreeMap<PrivateKey, Action>,
    ) -> Policy {
        let mut p = Policy {
            name,
            description,
            options,
            overrides,
            private_overrides,
            refuse_modalities: BTreeSet::new(),
            refuse_sop_classes: BTreeSet::new(),
            allow: BTreeSet::new(),
            pixel_rules: Arc::new(RuleSet::new(builtin_pixel_rules().to_vec())),
            custom_pixel_rules: Vec::new(),
            screen_pixels: true,
            patient_identity: DEFAULT_PATIENT_IDENTITY.to_vec(),
            vendor_private: false,
            exact: rustc_hash::FxHashMap::default(),
            repeating: Vec::new(),
            private_default: Rule {
                action: Action::Remove,
                source: Source::Basic("X"),
            },
            safe_private: HashMap::new(),
        };
        p.index();
        p
    }

    /// Precomputes the rule of every exact tag of the table (options and overrides applied).
    pub(crate) fn index(&mut self) {
        self.exact.clear();
        self.repeating.clear();
        for row in generated::PROFILE_TABLE {
            match row.tag {
                TagPattern::Exact(g, e) => {
                    self.exact.insert(Tag(g, e), self.row_rule(row));
                }
                TagPattern::RepeatingGroup { .. } => {
                    self.repeating.push((row.tag, self.row_rule(row)))
                }
                // The option column of the private row says C ("keep if safe"): that is
                // the safe-private lookup in `private_rule`, not a replacement action.
                TagPattern::AllPrivate => {
                    let action = Action::parse(row.basic).unwrap_or(Action::Remove);
                    self.private_default = Rule {
                        action,
                        source: Source::Basic(row.basic),
                    };
                }
            }
        }
        for (tag, action) in &self.overrides {
            self.exact.insert(
                *tag,
                Rule {
                    action: *action,
                    source: Source::Override,
                },
            );
        }
        self.safe_private = generated::SAFE_PRIVATE
            .iter()
            .map(|r| ((r.creator.to_string(), r.group, r.element), ()))
            .collect();
    }

    /// A row's rule: an enabled option's column replaces the basic action; where several
    /// enabled options name the attribute, retaining (K) wins over cleaning (C).
    fn row_rule(&self, row: &table_types::ProfileRow) -> Rule {
        let mut best: Option<(Action, ProfileOption)> = None;
        for opt in &self.options {
            let Some(column) = opt.column() else {
                continue;
            };
            let code = row.options[column];
            let Some(action) = Action::parse(code) else {
                continue;
            };
            match best {
                Some((Action::Keep, _)) => {}
                _ => best = Some((action, *opt)),
            }
        }
        match best {
            Some((action, opt)) => Rule {
                action,
                source: Source::Option(opt),
            },
            None => Rule {
                action: Action::parse(row.basic).unwrap_or(Action::Remove),
                source: Source::Basic(row.basic),
            },
        }
    }

    pub fn has(&self, opt: ProfileOption) -> bool {
        self.options.contains(&opt)
    }

    /// The rule for a standard (even-group) attribute.
    pub fn public_rule(&self, tag: Tag) -> Rule {
        if let Some(rule) = self.exact.get(&tag) {
            return rule.clone();
        }
        if let Some((_, rule)) = self.repeating.iter().find(|(p, _)| p.matches(tag.0, tag.1)) {
            return rule.clone();
        }
        if crate::dicom::vr::keyword(tag).is_none() {
            // Unknown to PS3.6: a corrupt or non-standard tag. Nothing says it is safe.
            return Rule {
                action: Action::Remove,
                source: Source::Unknown,
            };
        }
        Rule {
            action: Action::Keep,
            source: Source::NotListed,
        }
    }

    /// The rule for a private attribute in the block of `creator` (None: no creator found):
    /// an override, else the vendor dictionary (with `vendor_private`), else the safe-private
    /// table (with `retain-safe-private`), else the private row (remove).
    pub fn private_rule(&self, tag: Tag, creator: Option<&str>) -> Rule {
        let element = (tag.1 & 0xFF) as u8;
        if let Some(creator) = creator {
            let key = PrivateKey {
                creator: creator.to_string(),
                group: tag.0,
                element,
            };
            if let Some(action) = self.private_overrides.get(&key) {
                return Rule {
                    action: *action,
                    source: Source::Override,
                };
            }
            if self.vendor_private
                && let Some(v) = vendor::dictionary().get(&key)
            {
                return Rule {
                    action: v.action,
                    source: Source::Vendor(v.blob),
                };
            }
            if self.has(ProfileOption::RetainSafePrivate)
                && self
                    .safe_private
                    .contains_key(&(creator.to_string(), tag.0, element))
            {
                return Rule {
                    action: Action::Keep,
                    source: Source::SafePrivate,
                };
            }
        }
        self.private_default.clone()
    }

    /// Identifier for cache keys: changes whenever any decision of the policy can change.
    /// The hash of [`Policy::canonical`].
    pub fn id(&self) -> String {
        blake3::hash(self.canonical().as_bytes()).to_hex()[..16].to_string()
    }

    /// Everything the policy decides, as canonical text: one line per decision in a fixed
    /// order, names as the standard and the policy files spell them, strings JSON-quoted (so
    /// no two policies share a text), and the crate version (which fixes the generated table).
    pub fn canonical(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let oq = |s: &Option<String>| s.as_deref().map_or("-".to_string(), q);
        let mut lines = vec![
            format!("deidfs {}", env!("CARGO_PKG_VERSION")),
            // The built-in tables change with the build, not always with the version.
            format!(
                "pixel-rules {}",
                blake3::hash(crate::pixels::rules::BUILTIN_TABLE.as_bytes()).to_hex()
            ),
            format!(
                "echo-stop-words {}",
                blake3::hash(stop_words::TABLE.as_bytes()).to_hex()
            ),
            format!("name {}", q(&self.name)),
        ];
        if self.vendor_private {
            lines.push(format!(
                "vendor-private {}",
                blake3::hash(vendor::TABLE.as_bytes()).to_hex()
            ));
        }
        lines.extend(self.options.iter().map(|o| format!("option {}", o.name())));
        lines.extend(
            self.overrides
                .iter()
                .map(|(t, a)| format!("override {t} {}", a.name())),
        );
        lines.extend(self.private_overrides.iter().map(|(k, a)| {
            format!(
                "private {} {:04X} {:02X} {}",
                q(&k.creator),
                k.group,
                k.element,
                a.name()
            )
        }));
        lines.extend(
            self.refuse_modalities
                .iter()
                .map(|m| format!("refuse-modality {}", q(m))),
        );
        lines.extend(
            self.refuse_sop_classes
                .iter()
                .map(|c| format!("refuse-sop-class {}", q(c))),
        );
        lines.push(format!("screen-pixels {}", self.screen_pixels));
        lines.push(format!(
            "patient-identity {}",
            self.patient_identity
                .iter()
                .map(Tag::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ));
        lines.extend(self.custom_pixel_rules.iter().map(|r| {
            format!(
                "pixel-rule {}",
                serde_json::to_string(r).unwrap_or_default()
            )
        }));
        lines.extend(self.allow.iter().map(|a| {
            format!(
                "allow {} {} {}",
                q(&a.modality),
                oq(&a.manufacturer),
                oq(&a.model)
            )
        }));
        lines.join("\n")
    }

    /// Whether the whole file is refused for burned-in risk by modality or SOP class.
    pub fn burned_in_risk(
        &self,
        modality: &str,
        sop_class: &str,
        manufacturer: &str,
        model: &str,
    ) -> bool {
        let risky = self.refuse_modalities.contains(modality)
            || self.refuse_sop_classes.iter().any(|c| c == sop_class);
        risky
            && !self.allow.iter().any(|a| {
                a.modality == modality
                    && a.manufacturer.as_deref().is_none_or(|m| m == manufacturer)
                    && a.model.as_deref().is_none_or(|m| m == model)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(opts: &[ProfileOption]) -> Policy {
        Policy::build(
            "t".into(),
            String::new(),
            opts.iter().copied().collect(),
            BTreeMap::new(),
            BTreeMap::new(),
        )
    }

    #[test]
    fn every_code_in_the_table_parses() {
        for row in generated::PROFILE_TABLE {
            assert!(Action::parse(row.basic).is_some(), "{:?}", row);
            for code in row.options {
                assert!(
                    code.is_empty() || Action::parse(code).is_some(),
                    "{:?}",
                    row
                );
            }
        }
    }

    #[test]
    fn each_option_changes_exactly_its_column() {
        let basic = with(&[]);
        for opt in ProfileOption::ALL {
            let p = with(&[opt]);
            for row in generated::PROFILE_TABLE {
                let TagPattern::Exact(g, e) = row.tag else {
                    continue;
                };
                let (a, b) = (basic.public_rule(Tag(g, e)), p.public_rule(Tag(g, e)));
                let Some(column) = opt.column() else {
                    assert_eq!(a, b, "{opt:?} has no column: it changes no attribute");
                    continue;
                };
                let expected = Action::parse(row.options[column]).unwrap_or(a.action);
                assert_eq!(b.action, expected, "{} {}", opt.name(), row.name);
            }
        }
    }

    #[test]
    fn combined_codes_never_remove() {
        for code in ["X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"] {
            assert_ne!(Action::parse(code), Some(Action::Remove), "{code}");
        }
    }

    #[test]
    fn repeating_groups_and_private() {
        let p = with(&[]);
        assert_eq!(p.public_rule(Tag(0x6002, 0x3000)).action, Action::Remove);
        assert_eq!(p.public_rule(Tag(0x5004, 0x0010)).action, Action::Remove);
        assert_eq!(p.public_rule(Tag(0x6000, 0x0010)).action, Action::Keep);
        assert_eq!(
            p.private_rule(Tag(0x0029, 0x1010), Some("SIEMENS CSA HEADER"))
                .action,
            Action::Remove
        );
        let safe = with(&[ProfileOption::RetainSafePrivate]);
        let row = generated::SAFE_PRIVATE[0];
        let tag = Tag(row.group, 0x1000 | u16::from(row.element));
        assert_eq!(
            safe.private_rule(tag, Some(row.creator)).action,
            Action::Keep
        );
        assert_eq!(
            safe.private_rule(tag, Some("SOMEONE ELSE")).action,
            Action::Remove
        );
        assert_eq!(safe.private_rule(tag, None).action, Action::Remove);
    }

    #[test]
    fn retain_wins_over_clean() {
        // Date of Last Detector Calibration: K under device identity, C under modified dates.
        let p = with(&[
            ProfileOption::RetainDeviceIdentity,
            ProfileOption::RetainLongitudinalModifiedDates,
        ]);
        assert_eq!(p.public_rule(Tag(0x0018, 0x700C)).action, Action::Keep);
    }

    #[test]
    fn the_id_changes_with_every_decision_and_not_with_the_description() {
        let base = with(&[]);
        let mut described = base.clone();
        described.description = "another description".into();
        assert_eq!(base.id(), described.id());
        let mut changed = Vec::new();
        let mut p = base.clone();
        p.name = "other".into();
        changed.push(p);
        changed.push(with(&[ProfileOption::CleanGraphics]));
        let mut p = base.clone();
        p.overrides.insert(Tag(0x0008, 0x0080), Action::Keep);
        changed.push(p);
        let mut p = base.clone();
        p.private_overrides.insert(
            PrivateKey {
                creator: "ACME".into(),
                group: 0x0009,
                element: 0x01,
            },
            Action::Keep,
        );
        changed.push(p);
        let mut p = base.clone();
        p.refuse_modalities.insert("XA".into());
        changed.push(p);
        let mut p = base.clone();
        p.allow.insert(Allow {
            modality: "US".into(),
            manufacturer: None,
            model: None,
        });
        changed.push(p);
        let mut ids: Vec<String> = changed.iter().map(Policy::id).collect();
        ids.push(base.id());
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "every decision gives its own id");
    }

    #[test]
    fn quoted_strings_keep_canonical_texts_apart() {
        // A modality containing what looks like the next line must not collide.
        let mut a = with(&[]);
        a.refuse_modalities
            .insert("XA\nrefuse-modality \"US\"".into());
        let mut b = with(&[]);
        b.refuse_modalities.insert("XA".into());
        b.refuse_modalities.insert("US".into());
        assert_ne!(a.canonical(), b.canonical());
    }

    /// Regression: the rule for unknown standard tags was documented and never applied, so a
    /// `(0010,9999) LO` holding a name survived the Basic Profile.
    #[test]
    fn standard_tags_unknown_to_the_dictionary_are_removed() {
        let p = with(&[]);
        let r = p.public_rule(Tag(0x0010, 0x9999));
        assert_eq!((r.action, r.source), (Action::Remove, Source::Unknown));
        // Known attributes that the table does not list are still kept.
        assert_eq!(p.public_rule(Tag(0x0028, 0x0010)).action, Action::Keep);
    }
}
