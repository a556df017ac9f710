//! The pure de-identification engine: source bytes, a policy and a key in; a plan out.
//! No FUSE, no cache, no globals.

pub mod engine;
pub mod layout;
pub mod plan;
pub mod read;
pub mod values;

pub use engine::{Change, DeidError, Engine, FileInfo, Outcome, Refusal};
pub use plan::{Plan, Segment};
