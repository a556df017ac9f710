//! Why the walker refuses a file: each error carries offsets and tags, never a value, and
//! maps to a short reason for counts and logs.

use crate::dicom::Tag;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("not a DICOM file: {0}")]
    NotDicom(&'static str),
    #[error("truncated at byte {offset}: {what} needs {needed} bytes, the file ends at {file_len}")]
    Truncated {
        offset: u64,
        what: String,
        needed: u64,
        file_len: u64,
    },
    #[error(
        "element {tag} at byte {offset}: length {len} overruns its container ending at byte {container_end}"
    )]
    Overrun {
        tag: Tag,
        offset: u64,
        len: u64,
        container_end: u64,
    },
    #[error("element {tag} at byte {offset}: unknown VR code {code:?}")]
    UnknownVr { tag: Tag, offset: u64, code: String },
    #[error("nesting deeper than {limit} levels at byte {offset}")]
    TooDeep { offset: u64, limit: usize },
    #[error("more than {limit} {what}")]
    TooMany { what: &'static str, limit: usize },
    #[error("byte {offset}: expected {expected}, found tag {found}")]
    Unexpected {
        offset: u64,
        expected: &'static str,
        found: Tag,
    },
    #[error("file meta information: {0}")]
    BadMeta(String),
    #[error("I/O error while reading the source: {0}")]
    Io(#[from] io::Error),
}

impl LayoutError {
    /// Short machine-friendly reason, for counts and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            LayoutError::NotDicom(_) => "not-dicom",
            LayoutError::Truncated { .. } => "truncated",
            LayoutError::Overrun { .. } => "malformed-length",
            LayoutError::UnknownVr { .. } => "unknown-vr",
            LayoutError::TooDeep { .. } => "too-deep",
            LayoutError::TooMany { .. } => "too-many-elements",
            LayoutError::Unexpected { .. } => "malformed-structure",
            LayoutError::BadMeta(_) => "malformed-meta",
            LayoutError::Io(_) => "unreadable",
        }
    }
}
