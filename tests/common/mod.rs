//! Shared helpers for integration tests.
//!
//! Include from a test crate with `mod common;` and use
//! `common::fixtures::*`. Every test binary compiles its own copy of this
//! module and only uses part of it, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod fixtures;
