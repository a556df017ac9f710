//! The record of what happened to each attribute, for `inspect` and the crosswalk. It holds
//! PHI (the values before): for the key holder only, never logged, never served.
//!
//! Values are kept as bytes, not display text, so tools read them without parsing what
//! `inspect` prints; [`Change::before_text`] and [`Change::after_text`] are the display.

use super::layout::{Body, Element};
use super::values::string_of;
use crate::dicom::vr::keyword;
use crate::dicom::{Tag, Vr, VrExt};
use crate::policy::{Rule, Source};

/// A value as the trace holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traced {
    /// Not in the output.
    Absent,
    /// The value's bytes, as in the file (before) or as written (after), padding included.
    Value(Vec<u8>),
    /// A value not read while planning (Pixel Data, large values, fragments): its length.
    Unread(u64),
    /// A sequence with this many items.
    Items(usize),
}

/// One attribute's fate.
#[derive(Debug, Clone)]
pub struct Change {
    /// Where it is: `(0008,1140)[1]/(0008,1150)` for an element of a sequence's first item.
    pub path: String,
    /// Sequence nesting depth (0: the top-level data set).
    pub depth: usize,
    pub tag: Tag,
    /// The VR that describes the value.
    pub vr: Vr,
    pub keyword: &'static str,
    pub action: &'static str,
    pub why: String,
    pub before: Traced,
    pub after: Traced,
}

impl Change {
    pub fn before_text(&self) -> String {
        self.show(&self.before)
    }
    pub fn after_text(&self) -> String {
        self.show(&self.after)
    }
    /// A value as text (strings at most 64 characters), for people.
    fn show(&self, v: &Traced) -> String {
        match v {
            Traced::Absent => "(removed)".into(),
            Traced::Value(b) if self.vr.string_valued() || self.vr == Vr::PN => {
                let s = string_of(b);
                if s.chars().count() > 64 {
                    format!("{}…", s.chars().take(64).collect::<String>())
                } else {
                    s
                }
            }
            Traced::Value(b) => format!("<{} bytes>", b.len()),
            Traced::Unread(n) => format!("<{n} bytes>"),
            Traced::Items(n) => format!("<{n} items>"),
        }
    }
    /// The value as text, whole (for tables such as the crosswalk); `None` unless a string
    /// value was read.
    pub fn text_of(v: &Traced) -> Option<String> {
        match v {
            Traced::Value(b) => Some(string_of(b)),
            _ => None,
        }
    }
}

/// Collects changes while a file is rewritten (only when asked: planning for the view
/// records nothing).
#[derive(Debug, Default)]
pub(super) struct Trace {
    pub changes: Vec<Change>,
}

impl Trace {
    pub fn record(
        &mut self,
        el: &Element,
        path: &str,
        depth: usize,
        rule: &Rule,
        action: &'static str,
        (before, after): (Traced, Traced),
    ) {
        self.changes.push(Change {
            path: path.to_string(),
            depth,
            tag: el.tag,
            vr: el.value_vr(),
            keyword: keyword(el.tag).unwrap_or(if el.tag.is_private() { "(private)" } else { "" }),
            action,
            why: why(&rule.source),
            before,
            after,
        });
    }
}

/// How a value that was not read is shown: its length (or, for fragments, that it was not
/// read at all).
pub(super) fn unread(el: &Element) -> Traced {
    match el.body {
        Body::Sequence(ref items) => Traced::Items(items.len()),
        _ => Traced::Unread(el.value_len()),
    }
}

fn why(source: &Source) -> String {
    match source {
        Source::Basic(code) => format!("basic {code}"),
        Source::Option(o) => format!("option {}", o.name()),
        Source::Override => "override".into(),
        Source::NotListed => "not in E.1-1".into(),
        Source::Unknown => "not in PS3.6".into(),
        Source::SafePrivate => "safe private".into(),
        Source::Vendor(None) => "vendor dictionary".into(),
        Source::Vendor(Some(b)) => format!("vendor dictionary, {}", b.name()),
    }
}
