//! Pseudonymous names: every entry is named by a keyed token of its source name chained
//! through its parent's token, so a name depends on the whole relative path, equal names in
//! different folders differ, and the same key gives the same names on any machine.

use crate::pseudonym::Pseudonyms;
use crate::source::Kind;
use std::path::Path;

/// Characters of a path pseudonym (Crockford base32: 60 bits); longer on a collision.
pub const NAME_CHARS: usize = 12;
pub const NAME_CHARS_ON_COLLISION: usize = 20;

/// A source entry's pseudonym: `(token, name)`; files end in `.dcm`.
pub fn view_name(
    keys: &Pseudonyms,
    parent_token: &str,
    name: &[u8],
    kind: Kind,
    chars: usize,
) -> (String, String) {
    let token = keys.path_token(parent_token, name, chars);
    let shown = if kind == Kind::File {
        format!("{token}.dcm")
    } else {
        token.clone()
    };
    (token, shown)
}

/// The view path of a source path, assuming no pseudonym collision (for the demo and tools).
pub fn view_path(keys: &Pseudonyms, rel: &Path, file: bool) -> String {
    let comps: Vec<_> = rel.components().collect();
    let (mut token, mut out) = (String::new(), String::new());
    for (i, c) in comps.iter().enumerate() {
        let kind = if file && i + 1 == comps.len() {
            Kind::File
        } else {
            Kind::Dir
        };
        let (t, name) = view_name(
            keys,
            &token,
            c.as_os_str().as_encoded_bytes(),
            kind,
            NAME_CHARS,
        );
        out.push('/');
        out.push_str(&name);
        token = t;
    }
    out
}

/// `parent/name` for logs, from the mount root.
pub(super) fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}
