//! The key holder's and batch tools. All of them walk the same view the mount serves
//! ([`crate::fs::KeyHolderView`]), so names, visibility and bytes are the mount's.

pub mod crosswalk;
pub mod export;
pub mod progress;
pub mod resolve;
pub mod scan;
pub mod walk;
