//! What every layer shares about DICOM: tags, value representations and the standard
//! dictionary, transfer syntaxes and encodings, and the writing of element headers.
//!
//! A leaf: nothing here imports from the rest of the crate, so the engine, the policy and the
//! tools can all depend on it without depending on each other.

pub mod encode;
pub mod encoding;
pub mod tag;
pub mod vr;

pub use encoding::Encoding;
pub use tag::Tag;
pub use vr::{Vr, VrExt};
