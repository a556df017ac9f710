//! Shared helpers for integration tests.
//!
//! Include from a test crate with `mod common;` and use
//! `common::fixtures::*`. Every test binary compiles its own copy of this
//! module and only uses part of it, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every regular file under `dir`, depth first, in name order.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// Waits (20 s at most) until a filesystem is mounted at `path`.
pub fn wait_mounted(path: &Path) {
    let start = Instant::now();
    while !deidfs::mount::is_mountpoint(path) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "mount did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
