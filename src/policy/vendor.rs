//! The research-safe vendor dictionary (`policies/vendor-private.toml`): the private attributes
//! analysis tools read, each kept or cleaned by its format. A policy uses it with
//! `vendor_private = true`; it is part of the policy id. The file says where each entry comes
//! from; a test proves it parses and that every entry is well formed.

use super::vocabulary::{Action, Blob, PrivateKey};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const TABLE: &str = include_str!("../../policies/vendor-private.toml");

/// What the dictionary does with one private attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorRule {
    pub action: Action,
    /// The structure a cleaned value is parsed as (`None` for kept values).
    pub blob: Option<Blob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    element: Vec<RawElement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    creator: String,
    tag: String,
    action: String,
    format: Option<String>,
    #[allow(dead_code)] // documentation for readers of the file
    carries: String,
}

/// The dictionary, parsed once.
pub fn dictionary() -> &'static BTreeMap<PrivateKey, VendorRule> {
    static DICT: OnceLock<BTreeMap<PrivateKey, VendorRule>> = OnceLock::new();
    // The table is part of the build; a test proves it parses.
    DICT.get_or_init(|| parse(TABLE).expect("policies/vendor-private.toml parses"))
}

fn parse(text: &str) -> Result<BTreeMap<PrivateKey, VendorRule>, String> {
    let raw: RawTable = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for e in raw.element {
        let (group, element) = super::vocabulary::parse_private_tag(&e.tag)
            .ok_or_else(|| format!("{}: tag {:?} is not \"(gggg,xxEE)\"", e.creator, e.tag))?;
        let rule = match (e.action.as_str(), e.format.as_deref()) {
            ("keep", None) => VendorRule {
                action: Action::Keep,
                blob: None,
            },
            ("clean", Some(f)) => VendorRule {
                action: Action::Clean,
                blob: Some(
                    Blob::parse(f).ok_or_else(|| format!("{}: unknown format {f:?}", e.tag))?,
                ),
            },
            (a, f) => {
                return Err(format!(
                    "{}: action {a:?} with format {f:?}: keep takes no format, clean needs one",
                    e.tag
                ));
            }
        };
        let key = PrivateKey {
            creator: e.creator,
            group,
            element,
        };
        if out.insert(key.clone(), rule).is_some() {
            return Err(format!("{} {}: listed twice", key.creator, e.tag));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_parses_and_names_the_blobs_dcm2niix_needs() {
        let d = dictionary();
        assert!(d.len() > 100);
        let csa = PrivateKey {
            creator: "SIEMENS CSA HEADER".into(),
            group: 0x0029,
            element: 0x10,
        };
        assert_eq!(d[&csa].blob, Some(Blob::SiemensCsa));
        let slope = PrivateKey {
            creator: "Philips MR Imaging DD 001".into(),
            group: 0x2005,
            element: 0x0E,
        };
        assert_eq!(d[&slope].action, Action::Keep);
    }

    #[test]
    fn a_malformed_entry_is_an_error_naming_it() {
        let bad = "[[element]]\ncreator = \"X\"\ntag = \"(0029,xx10)\"\naction = \"clean\"\ncarries = \"\"\n";
        assert!(parse(bad).unwrap_err().contains("clean needs one"));
        let twice = format!(
            "{0}{0}",
            "[[element]]\ncreator = \"X\"\ntag = \"(0029,xx10)\"\naction = \"keep\"\ncarries = \"\"\n"
        );
        assert!(parse(&twice).unwrap_err().contains("listed twice"));
    }
}
