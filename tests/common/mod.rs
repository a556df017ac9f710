//! Shared helpers for integration tests.
//!
//! Include from a test crate with `mod common;` and use
//! `common::fixtures::*`. Every test binary compiles its own copy of this
//! module and only uses part of it, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod burned;
pub mod csa;
pub mod cuts;
pub mod echo;
pub mod fixtures;
pub mod orthanc;
pub mod s3;
pub mod views;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `../shared/corpus`, real DICOM files. A test reading it carries
/// `#[cfg_attr(not(deidfs_corpus), ignore = "skipped: no ../shared/corpus")]`: build.rs sets
/// the cfg where the corpus is.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Fails the test, naming the fix, unless `program` is on PATH. The tools the tests read
/// outputs with are required where used: scripts/test.sh installs them all, and a check that
/// passes without running would hide that it never ran.
pub fn require_tool(program: &str, apt_package: &str) {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    assert!(
        on_path,
        "{program} is not installed: `apt-get install {apt_package}` \
         (or `scripts/test.sh --deps-only`, which installs every tool the tests use)"
    );
}

/// The Code Values of the De-identification Method Code Sequence (0012,0064) of a file.
pub fn method_codes(obj: &dicom_object::DefaultDicomObject) -> Vec<String> {
    use dicom_core::Tag;
    obj.element(Tag(0x0012, 0x0064))
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| {
            i.element(Tag(0x0008, 0x0100))
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string()
        })
        .collect()
}

/// Fails the test, naming the fix, unless python3 can import pydicom (see [`require_tool`]).
pub fn require_pydicom() {
    let ok = Command::new("python3")
        .args(["-c", "import pydicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 cannot import pydicom: `python3 -m pip install 'pydicom>=3,<4'` \
         (or `scripts/test.sh --deps-only`, which installs every tool the tests use)"
    );
}

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

/// The generated archive (two patients' CT series) and odd files beside it: a DICOMDIR,
/// an encapsulated PDF, a truncated file, a bare implicit file, big-endian, JPEG, and a
/// link leading out of the archive.
pub fn mixed_archive(src: &Path) {
    deidfs::synth::write_archive(src).unwrap();
    let odd = src.join("odd files");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("DICOMDIR"), fixtures::dicomdir_like().build()).unwrap();
    std::fs::write(
        odd.join("report.pdf.dcm"),
        fixtures::encapsulated_pdf().build(),
    )
    .unwrap();
    let ct = fixtures::ct_default().build();
    std::fs::write(odd.join("truncated.dcm"), &ct[..ct.len() - 100]).unwrap();
    std::fs::write(odd.join("bare-implicit"), fixtures::bare_implicit().build()).unwrap();
    std::fs::write(
        odd.join("big-endian.dcm"),
        fixtures::ct_explicit_be().build(),
    )
    .unwrap();
    std::fs::write(odd.join("jpeg.dcm"), fixtures::jpeg_baseline().build()).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", odd.join("escape.dcm")).unwrap();
}

/// The number after `name=` on the log's line saying how many files were planned.
pub fn logged_count(log: &Path, name: &str) -> u64 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("listed from the listing index"))
        .unwrap_or_else(|| panic!("no count of planned files logged:\n{text}"));
    let at = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
