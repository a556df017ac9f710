//! The pure de-identification engine: source bytes, a policy and a key in; a plan out.
//! No FUSE, no cache, no globals.
//!
//! `engine` composes the steps: `read` (how the source is read), `layout` (the validating
//! walker), `screen` (refusals, the patient), `complete` (what every object of its kind
//! holds, `iod` saying what each SOP class requires), `header` (the values pixel work reads), `burned_in` (text in the pixels of images at risk),
//! `pixel_screen` (the frames of every other image, searched for text when read), `rules`
//! (which rule for which element), `echo` (the file's identifiers, hunted in every value it
//! keeps), `rewrite` (carrying the rules out), `values` (replacement values), `vendor` (vendor blobs the research-safe
//! dictionary cleans), `meta` (marking and file
//! meta), `deflate`, `trace` (what happened, for the key holder) and `plan` (the result).

mod burned_in;
mod complete;
mod deflate;
pub mod echo;
pub mod engine;
pub mod head;
mod header;
pub mod iod;
pub mod layout;
mod meta;
pub mod peek;
mod pixel_screen;
pub mod plan;
pub mod read;
mod refusal;
mod rewrite;
mod rules;
mod screen;
pub mod trace;
pub mod values;
mod vendor;

pub use echo::EchoMemo;
pub use engine::{Engine, Faces, FileInfo, HeadFace, Outcome};
pub use head::{HeadSlice, head_slice};
pub use meta::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION};
pub use plan::{Plan, Segment};
pub use refusal::{DeidError, Refusal};
pub use trace::{Change, Traced};
