//! deidfs: a DICOM archive as a de-identified, read-only view.
//!
//! Layers (dependencies point down):
//! `cli` / `commands` (composition root) -> `mount` (session, signals, daemon) and `keyholder`
//! (resolve, crosswalk, export, scan) -> `fuse` (the thin fuser adapter) -> `fs` (the view,
//! fuser-free) -> `cache`, `source` (the archive, confined), `audit` -> `deid` (the pure
//! engine) -> `policy` (profile tables, policy files) and `pseudonym` (keyed derivations).

pub mod audit;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod deid;
pub mod demo;
pub mod dicom;
pub mod fs;
pub mod fuse;
pub mod io;
pub mod keyholder;
pub mod mount;
pub mod policy;
pub mod pseudonym;
pub mod source;

/// Locks a mutex, taking the data even if another thread panicked while holding it: every
/// shared structure here stays consistent between statements, so a poisoned lock is no reason
/// to stop serving.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
