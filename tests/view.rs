//! The view without a kernel: the domain layer over in-memory and local sources.

mod common;

use common::fixtures as fx;
use deidfs::fs::{Config, DeidFs, Deidentify, ErrorKind, FsError, ROOT};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use deidfs::source::{Kind, LocalSource, MemorySource};
use std::ffi::OsStr;
use std::sync::Arc;

fn config(key: u8) -> Config {
    Config {
        planner: Arc::new(Deidentify::new(
            deidfs::policy::load_builtin("basic").unwrap(),
            Pseudonyms::new(&SecretKey::from_bytes([key; 32])),
            1 << 20,
        )),
        cache_bytes: 1 << 20,
        uid: 1000,
        gid: 1000,
        time: std::time::UNIX_EPOCH,
        workers: 2,
        audit: None,
    }
}

fn archive() -> Arc<MemorySource> {
    let src = MemorySource::new();
    src.put("PAT DOE/study/a.dcm", fx::ct_default().build());
    src.put(
        "PAT DOE/study/b.dcm",
        fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 8, 8).build(),
    );
    src.put("PAT DOE/study/report.pdf", fx::encapsulated_pdf().build());
    src.put("PAT DOE/readme.txt", b"hello".to_vec());
    Arc::new(src)
}

fn child(fs: &DeidFs, dir: u64, kind: Kind) -> (String, u64) {
    let e = fs
        .readdir(dir)
        .unwrap()
        .into_iter()
        .find(|e| e.attr.kind == kind)
        .unwrap();
    (e.name, e.attr.ino)
}

#[test]
fn names_are_keyed_stable_and_hidden_files_absent() {
    let src = archive();
    let a = DeidFs::new(src.clone(), config(1));
    let b = DeidFs::new(src.clone(), config(1));
    let c = DeidFs::new(src, config(2));
    let names = |fs: &DeidFs| {
        let (_, patient) = child(fs, ROOT, Kind::Dir);
        let (_, study) = child(fs, patient, Kind::Dir);
        fs.readdir(study)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
    };
    let (na, nb, nc) = (names(&a), names(&b), names(&c));
    assert_eq!(na.len(), 2, "pdf and text hidden: {na:?}");
    assert_eq!(na, nb, "same key, same names");
    assert!(
        na.iter().all(|n| !nc.contains(n)),
        "another key, other names"
    );
    let mut sorted = na.clone();
    sorted.sort();
    assert_eq!(na, sorted, "listings are ordered");
    assert!(na.iter().all(|n| n.ends_with(".dcm") && n.len() == 16));
}

#[test]
fn sizes_are_exact_before_reading_and_reads_match() {
    let src = archive();
    let fs = DeidFs::new(src.clone(), config(1));
    let (_, patient) = child(&fs, ROOT, Kind::Dir);
    let (_, study) = child(&fs, patient, Kind::Dir);
    for e in fs.readdir(study).unwrap() {
        let size = fs.lookup(study, OsStr::new(&e.name)).unwrap().size;
        let h = fs.open(e.attr.ino, Default::default()).unwrap();
        let bytes = fs.read(h.fh, 0, u32::MAX).unwrap();
        assert_eq!(bytes.len() as u64, size);
        fs.release(h.fh);
    }
    assert!(matches!(
        fs.read(999, 0, 1),
        Err(FsError {
            kind: ErrorKind::BadHandle,
            ..
        })
    ));
}

#[test]
fn a_file_changed_during_reading_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.dcm"), fx::ct_default().build()).unwrap();
    let fs = DeidFs::new(Arc::new(LocalSource::new(dir.path()).unwrap()), config(1));
    let (_, ino) = child(&fs, ROOT, Kind::File);
    let h = fs.open(ino, Default::default()).unwrap();
    assert!(fs.read(h.fh, 0, 100).is_ok());
    // Rewritten in place (same inode, new content): the open handle must not mix versions.
    std::fs::write(
        dir.path().join("a.dcm"),
        fx::ct_like("X^Y", "Z9", 32, 32).build(),
    )
    .unwrap();
    assert!(matches!(
        fs.read(h.fh, 0, 100),
        Err(FsError {
            kind: ErrorKind::Stale,
            ..
        })
    ));
    // The next lookup re-plans with the new size.
    let size = fs.getattr(ino).unwrap().size;
    let h2 = fs.open(ino, Default::default()).unwrap();
    assert_eq!(fs.read(h2.fh, 0, u32::MAX).unwrap().len() as u64, size);
}

#[test]
fn a_file_that_becomes_invalid_disappears() {
    let src = archive();
    let fs = DeidFs::new(src.clone(), config(1));
    let (_, patient) = child(&fs, ROOT, Kind::Dir);
    let (_, study) = child(&fs, patient, Kind::Dir);
    let (_, ino) = child(&fs, study, Kind::File);
    let names_before = fs.readdir(study).unwrap().len();
    src.put("PAT DOE/study/a.dcm", b"garbage".to_vec());
    src.put("PAT DOE/study/b.dcm", b"garbage".to_vec());
    assert!(matches!(
        fs.getattr(ino),
        Err(FsError {
            kind: ErrorKind::NotFound,
            ..
        })
    ));
    assert!(fs.readdir(study).unwrap().len() < names_before);
}
