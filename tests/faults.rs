//! The view when the archive misbehaves: each fault gives its documented errno, affects only
//! that file, and the rest keeps being served.

mod common;

use common::fixtures as fx;
use deidfs::fs::{Config, Deidentify, ErrorKind, FsError, KeyHolderView, ROOT};
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use deidfs::source::{Fault, FaultSource, MemorySource};
use std::path::PathBuf;
use std::sync::Arc;

fn view(src: Arc<FaultSource<MemorySource>>) -> KeyHolderView {
    let cfg = Config {
        planner: Arc::new(Deidentify::new(
            deidfs::policy::load_builtin("basic").unwrap(),
            Pseudonyms::new(&SecretKey::from_bytes([5; 32])),
            1 << 20,
        )),
        cache_bytes: 1 << 20,
        access: deidfs::access::Access {
            uid: 0,
            gid: 0,
            file_mode: 0o444,
            dir_mode: 0o555,
        },
        time: std::time::UNIX_EPOCH,
        workers: 2,
        audit: None,
        open_handles: true,
        read_ahead: 0,
        index: None,
    };
    KeyHolderView::new(src, cfg)
}

fn archive() -> Arc<FaultSource<MemorySource>> {
    let mem = MemorySource::new();
    mem.put("a/one.dcm", fx::ct_like("A^B", "P1", 64, 64).build());
    mem.put("a/two.dcm", fx::ct_like("X^Y", "P2", 8, 8).build());
    mem.put("b/three.dcm", fx::ct_like("Z^W", "P3", 8, 8).build());
    Arc::new(FaultSource::new(mem))
}

/// The view directory of source folder "a" (n = 0) or "b" (n = 1).
fn dir(fs: &KeyHolderView, n: usize) -> u64 {
    let want = ["a", "b"][n];
    let e = fs
        .readdir(ROOT)
        .unwrap()
        .into_iter()
        .find(|e| fs.source_path(e.attr.ino).unwrap() == std::path::Path::new(want));
    e.unwrap().attr.ino
}

#[test]
fn eio_while_reading_fails_that_read_only() {
    let src = archive();
    let fs = view(src.clone());
    let a = dir(&fs, 0);
    let files = fs.readdir(a).unwrap();
    assert_eq!(files.len(), 2);
    // Planned already; now every read of one.dcm fails.
    src.inject(Fault::EioFromRead {
        path: PathBuf::from("a/one.dcm"),
        nth: 0,
    });
    let mut failed = 0;
    for f in &files {
        let h = fs.open(f.attr.ino, Default::default()).unwrap();
        match fs.read(h.fh, 0, 1 << 20) {
            Ok(bytes) => assert_eq!(bytes.len() as u64, f.attr.size),
            Err(FsError {
                kind: ErrorKind::Io(_),
                ..
            }) => failed += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(failed, 1, "only the broken file fails (EIO)");
}

#[test]
fn a_file_that_cannot_be_planned_is_hidden_and_its_neighbours_served() {
    let src = archive();
    src.inject(Fault::EioFromRead {
        path: PathBuf::from("a/one.dcm"),
        nth: 0,
    });
    src.inject(Fault::DenyOpen {
        path: PathBuf::from("a/two.dcm"),
    });
    let fs = view(src.clone());
    let a = dir(&fs, 0);
    assert!(
        fs.readdir(a).unwrap().is_empty(),
        "unreadable files are hidden, not served raw"
    );
    let hidden = fs.hidden(a).unwrap();
    assert_eq!(hidden.len(), 2);
    assert!(hidden.iter().all(|(_, r)| *r == "unreadable"));
    let b = dir(&fs, 1);
    assert_eq!(
        fs.readdir(b).unwrap().len(),
        1,
        "the other folder is untouched"
    );
}

#[test]
fn permission_denied_on_open_is_eacces() {
    let src = archive();
    let fs = view(src.clone());
    let a = dir(&fs, 0);
    let f = fs.readdir(a).unwrap().remove(0);
    src.inject(Fault::DenyOpen {
        path: PathBuf::from("a/one.dcm"),
    });
    src.inject(Fault::DenyOpen {
        path: PathBuf::from("a/two.dcm"),
    });
    assert!(matches!(
        fs.open(f.attr.ino, Default::default()),
        Err(FsError {
            kind: ErrorKind::Access,
            ..
        })
    ));
}

#[test]
fn a_directory_removed_while_listed_is_enoent_and_the_rest_lists() {
    let src = archive();
    let fs = view(src.clone());
    src.inject(Fault::VanishedDir {
        path: PathBuf::from("b"),
    });
    let b = dir(&fs, 1);
    assert!(matches!(
        fs.readdir(b),
        Err(FsError {
            kind: ErrorKind::NotFound,
            ..
        })
    ));
    assert_eq!(fs.readdir(dir(&fs, 0)).unwrap().len(), 2);
}

#[test]
fn a_file_truncated_between_lookup_and_read_is_not_served_mixed() {
    let src = archive();
    let fs = view(src.clone());
    let a = dir(&fs, 0);
    let f = fs.readdir(a).unwrap().remove(0);
    let h = fs.open(f.attr.ino, Default::default()).unwrap();
    let before = fs.read(h.fh, 0, u32::MAX).unwrap();
    // Truncated after lookup and open.
    let ct = fx::ct_default().build();
    src.inner().put("a/one.dcm", ct[..ct.len() / 2].to_vec());
    // The open handle keeps serving the version it opened (whole, never mixed) ...
    assert!(fs.read(h.fh, 0, u32::MAX).unwrap() == before);
    // ... and the next lookup finds the file refused: hidden.
    assert!(matches!(
        fs.getattr(f.attr.ino),
        Err(FsError {
            kind: ErrorKind::NotFound,
            ..
        })
    ));
    assert!(matches!(
        fs.open(f.attr.ino, Default::default()),
        Err(FsError {
            kind: ErrorKind::NotFound,
            ..
        })
    ));
    assert_eq!(fs.readdir(a).unwrap().len(), 1);
}

/// Regression: a planning error used to fill the plan cache's shared cell with a hidden
/// verdict, so a reader waiting for the same plan got ENOENT for what was a transient EIO.
#[test]
fn readers_waiting_for_a_plan_that_fails_get_eio_not_enoent() {
    let src = archive();
    let fs = view(src.clone());
    let a = dir(&fs, 0);
    let one = fs
        .readdir(a)
        .unwrap()
        .into_iter()
        .find(|e| fs.source_path(e.attr.ino).unwrap() == std::path::Path::new("a/one.dcm"))
        .unwrap();
    // A new version (not planned yet) on a slow disk that then fails.
    src.inner()
        .put("a/one.dcm", fx::ct_like("A^B", "P1", 32, 32).build());
    let path = PathBuf::from("a/one.dcm");
    src.inject(Fault::SlowRead {
        path: path.clone(),
        delay: std::time::Duration::from_millis(300),
    });
    src.inject(Fault::EioFromRead { path, nth: 0 });
    let results: Vec<_> = std::thread::scope(|s| {
        let opens: Vec<_> = (0..2)
            .map(|i| {
                let fs = &fs;
                s.spawn(move || {
                    // The second reader arrives while the first is planning.
                    std::thread::sleep(std::time::Duration::from_millis(100 * i));
                    fs.open(one.attr.ino, Default::default())
                })
            })
            .collect();
        opens.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let e = r.err().expect("the plan failed");
        assert!(matches!(e.kind, ErrorKind::Io(_)), "{e}");
        assert_eq!(e.errno(), libc::EIO);
        assert!(e.to_string().starts_with('/'), "names the view path: {e}");
    }
    // Not cached: once the disk recovers, the file opens.
    src.clear();
    assert!(fs.open(one.attr.ino, Default::default()).is_ok());
}
