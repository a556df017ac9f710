//! Echoes: a file's identifiers copied into elements the policy keeps. Devices misuse
//! elements (the patient's name in Body Part Examined, the MRN in Sequence Name, a birth date
//! in a window explanation); Table E.1-1 decides by tag and keeps those tags. So every value
//! the policy removes, replaces or shifts that can identify (`sources`) is looked for in every
//! value it keeps, at every depth, private ones included (`find`), and removed from it in a way
//! the VR allows (`scrub`). What is never looked for is in the stop list
//! (`policy::stop_words`) or below the minimum lengths (`sources`).
//!
//! The guarantee: no identifier of a file, in any form `find` knows, survives in a value the
//! view serves. Cleaned free text (`clean-descriptors`) goes through the same search.

mod collect;
mod dates;
mod find;
mod memo;
mod scrub;
pub mod sources;

pub(super) use collect::collect;
pub use find::Echoes;
pub use memo::EchoMemo;
pub use scrub::{Removed, scrub, search_vr};
pub use sources::Kind;
