//! Test tiers: a test that needs something this machine lacks shows in `cargo test` as
//! `ignored, skipped: ...` (and counts in "N ignored") instead of passing without running.
//! This script probes each tier once per build and sets a cfg when it is present; the tests
//! say `#[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]`. The
//! library and the binary never read these cfgs.
//!
//! * `deidfs_corpus`: `../shared/corpus` (real DICOM files) is a directory.
//! * `deidfs_reference`: `../shared/reference` (the standard's tables as CSV) is a directory.
//! * `deidfs_fuse`: `/dev/fuse` exists, and `fusermount3` is on PATH or the build runs as root
//!   (the same check as `deidfs mount`'s preflight).
//!
//! `DEIDFS_TEST_NO_SHARED=1 cargo test` pretends `../shared` is absent: the suite as a machine
//! without it runs it. (No such switch for FUSE: the binary under test would still find it.)
//!
//! Cargo reruns this script when that variable changes and when a probed path that exists
//! changes or disappears (`../shared` is watched whole, so a corpus or reference appearing in
//! it counts). A missing path is not watched: Cargo would rerun the script, and so rebuild the
//! crate, on every build. If `../shared` itself, `/dev/fuse` or `fusermount3` appears later,
//! `touch build.rs`.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));

    let shared = root.join("../shared");
    watch_if_present(&shared);
    let no_shared = flag("DEIDFS_TEST_NO_SHARED");
    let shared_dir = |name: &str| !no_shared && shared.join(name).is_dir();
    tier("deidfs_corpus", shared_dir("corpus"));
    tier("deidfs_reference", shared_dir("reference"));

    let dev_fuse = Path::new("/dev/fuse");
    watch_if_present(dev_fuse);
    let fusermount = on_path("fusermount3");
    if let Some(p) = &fusermount {
        watch_if_present(p);
    }
    let fuse = dev_fuse.exists() && (fusermount.is_some() || effective_uid() == Some(0));
    tier("deidfs_fuse", fuse);
}

/// Declares the cfg (so `unexpected_cfgs` knows it) and sets it when the tier is present.
fn tier(cfg: &str, present: bool) {
    println!("cargo::rustc-check-cfg=cfg({cfg})");
    if present {
        println!("cargo::rustc-cfg={cfg}");
    }
}

/// Set and neither empty nor "0"; watched, so changing it reruns this script.
fn flag(name: &str) -> bool {
    println!("cargo::rerun-if-env-changed={name}");
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn watch_if_present(path: &Path) {
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}

fn on_path(prog: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(prog))
        .find(|p| p.is_file())
}

/// The effective uid, from /proc/self/status ("Uid: real effective saved fs").
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}
