//! deidfs: a DICOM archive as a de-identified, read-only view.
//!
//! Layers (dependencies point down): `cli` / `commands` -> `deid` (pure engine) ->
//! `policy` (profile tables, policy files) and `pseudonym` (keyed derivations).

pub mod audit;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod deid;
pub mod demo;
pub mod fs;
pub mod fuse;
pub mod keyholder;
pub mod mount;
pub mod policy;
pub mod pseudonym;
pub mod source;
