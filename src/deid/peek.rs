//! A few top-level values of a file, read by the same validating walker that plans it, without
//! planning it: what the demo shows before and after.

use super::layout::{self, Body, Limits};
use super::read::Window;
use super::values::string_of;
use crate::dicom::Tag;
use crate::io::ReadAt;

/// The trimmed text of each of `tags` at the top level; `None` where it is absent, not a
/// plain value, or the file does not walk.
pub fn top_level_text(src: &dyn ReadAt, tags: &[Tag]) -> Vec<Option<String>> {
    let Ok(layout) = layout::walk(src, Limits::default()) else {
        return vec![None; tags.len()];
    };
    let mut win = Window::new(src);
    tags.iter()
        .map(|t| {
            let el = layout
                .elements
                .iter()
                .find(|e| e.tag == *t && matches!(e.body, Body::Primitive))?;
            let v = win.exact(el.value_start, el.value_len() as usize).ok()?;
            Some(string_of(&v))
        })
        .collect()
}
