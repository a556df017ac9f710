//! deidfs: a DICOM archive as a de-identified, read-only view.
//!
//! Layers (dependencies point down; `tests/layers.rs` checks there is no cycle):
//! - `main` -> `commands` (parses and dispatches) -> `run` (the composition root), `demo`,
//!   `report` (what commands print)
//! - `tools` (resolve, crosswalk, export, scan, walking the view) and `mount` (session,
//!   signals, daemon; `mountinfo`) -> `fuse` (the thin fuser adapter)
//! - `fs` (the view, fuser-free; `fs::KeyHolderView` alone hands out source paths) -> `cache`,
//!   `source` (the archive, confined), `audit`
//! - `deid` (the pure engine) -> `policy` (Table E.1-1, policy files), `pseudonym` (keyed
//!   derivations)
//! - leaves: `dicom` (tags, VRs, encodings) and `io` (positional reads, atomic and private
//!   files); `synth` writes synthetic DICOM for the demo, benchmarks and tests.

pub mod access;
pub mod archive;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod deface;
pub mod deid;
pub mod demo;
pub mod dicom;
pub mod fs;
pub mod fuse;
pub mod helper;
pub mod io;
pub mod metrics;
pub mod mount;
pub mod mountinfo;
pub mod pixels;
pub mod policy;
pub mod pseudonym;
pub mod report;
pub mod run;
pub mod source;
pub mod synth;
pub mod syslog;
pub mod tools;

/// Locks a mutex, taking the data even if another thread panicked while holding it: every
/// shared structure here stays consistent between statements, so a poisoned lock is no reason
/// to stop serving.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error and its causes as one line, each cause once: errors that already quote their
/// cause in their own message (`cannot read it (No such file...)`) do not repeat it.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !out.contains(&s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&s);
        }
    }
    out
}
