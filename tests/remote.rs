//! Archives in an object store: the view of files kept in a real S3 server (SeaweedFS, and
//! `rclone serve s3` as a second, independent server) is the view of the same files on local
//! disk, name for name and byte for byte, through export and through a real FUSE mount; a
//! changed object fails its read; a store that goes away fails reads with EIO while what was
//! read still serves; the logs name no source path. Servers are started by each test on
//! loopback ports of its own and stopped at its end.

mod common;

use common::s3::S3Server;
use common::views::{assert_same_view, keygen, tree};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_deidfs")
}

/// Source names with what a log must never show: patient names and IDs (the generated
/// archive's folders), and a folder whose name needs care in an object key.
const NEVER_LOGGED: &[&str] = &["DOE", "ROE", "MRN-DEMO", "Ünïcode", "with space"];

/// The generated archive of mixed files, plus a folder whose name has a space, an `&` and
/// letters beyond ASCII (a key an object store must keep as given).
fn archive(src: &Path) {
    common::mixed_archive(src);
    let odd = src.join("with space & Ünïcode");
    std::fs::create_dir_all(&odd).unwrap();
    let ct = deidfs::synth::ct_slice(1, 7, 3, 1, 64, 64).unwrap();
    std::fs::write(odd.join("IM 0001.dcm"), ct).unwrap();
}

fn export(source: &str, dest: &Path, key: &Path, server: Option<&S3Server>) {
    let mut cmd = Command::new(bin());
    cmd.arg("export")
        .arg(source)
        .arg(dest)
        .arg("--key-file")
        .arg(key);
    if let Some(s) = server {
        s.env(&mut cmd);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "export of {source} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scan(source: &str, server: Option<&S3Server>) -> serde_json::Value {
    let mut cmd = Command::new(bin());
    cmd.arg("scan").arg(source).arg("--json");
    if let Some(s) = server {
        s.env(&mut cmd);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "scan of {source}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The shared corpus exported from local disk and from `remote` (the same files, kept by
/// `server`) into `dir`: the same view, with at least the 140 files the corpus serves.
fn corpus_exported_alike(corpus: &Path, remote: &str, server: &S3Server, dir: &Path, key: &Path) {
    let (local, stored) = (dir.join("corpus-local"), dir.join("corpus-s3"));
    export(corpus.to_str().unwrap(), &local, key, None);
    export(remote, &stored, key, Some(server));
    let local = tree(&local);
    assert!(local.len() >= 140, "corpus: {} files", local.len());
    assert_same_view(
        &local,
        &tree(&stored),
        10,
        &format!("corpus through {remote}"),
    );
}

/// A foreground mount of `source` through `server`, logging at debug into `log`.
struct Mount {
    child: std::process::Child,
    view: PathBuf,
}

impl Mount {
    fn new(
        source: &str,
        view: &Path,
        key: &Path,
        log: &Path,
        server: &S3Server,
        extra: &[&str],
    ) -> Self {
        std::fs::create_dir_all(view).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("mount")
            .arg(source)
            .arg(view)
            .arg("--key-file")
            .arg(key)
            .arg("--foreground")
            .arg("--log-file")
            .arg(log)
            .args(extra)
            .env("DEIDFS_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        server.env(&mut cmd);
        let child = cmd.spawn().unwrap();
        common::wait_mounted(view);
        Self {
            child,
            view: view.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        if deidfs::mount::is_mountpoint(&self.view) {
            let _ = Command::new(bin()).arg("unmount").arg(&self.view).status();
        }
    }
}

fn assert_nothing_logged_names_a_source(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("requests to the archive's server"),
        "no request count logged:\n{text}"
    );
    for s in NEVER_LOGGED {
        assert!(!text.contains(s), "the log names {s:?}:\n{text}");
    }
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn an_archive_in_seaweedfs_is_viewed_exactly_as_the_same_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("archive");
    archive(&src);
    let key = keygen(dir.path());
    let server = S3Server::seaweedfs("pacs");
    server.upload(&src, "pacs/site-a/archive");

    // Export: the local view's files and the store's, name for name and byte for byte.
    let (out_local, out_remote) = (dir.path().join("out-local"), dir.path().join("out-s3"));
    export(src.to_str().unwrap(), &out_local, &key, None);
    export("s3://pacs/site-a/archive", &out_remote, &key, Some(&server));
    let local = tree(&out_local);
    assert_same_view(&local, &tree(&out_remote), 10, "export");
    // What is shown and hidden, and why, is the same too.
    assert_eq!(
        scan(src.to_str().unwrap(), None),
        scan("s3://pacs/site-a/archive", Some(&server))
    );

    // A mount of the store serves the same tree; mounted again, it lists it from the listing
    // index the first mount kept (no object's header fetched to list it), the same view.
    let (view, index) = (dir.path().join("view"), dir.path().join("index"));
    let indexed = ["--index-dir", index.to_str().unwrap()];
    for (pass, least_indexed) in [("mount", 0), ("mount again", 10)] {
        let log = dir.path().join(format!("{pass}.log"));
        let m = Mount::new(
            "s3://pacs/site-a/archive",
            &view,
            &key,
            &log,
            &server,
            &indexed,
        );
        assert_same_view(&local, &tree(&view), 10, pass);
        drop(m);
        assert_nothing_logged_names_a_source(&log);
        assert!(
            common::logged_count(&log, "indexed") >= least_indexed,
            "{pass}: fewer than {least_indexed} files listed from the index"
        );
    }

    // The real corpus, every vendor and transfer syntax: the same again.
    if cfg!(deidfs_corpus) {
        let corpus = common::corpus();
        server.upload(&corpus, "pacs/corpus");
        corpus_exported_alike(&corpus, "s3://pacs/corpus", &server, dir.path(), &key);
    } else {
        println!("skipped tier: no ../shared/corpus, the generated archive only");
    }
}

#[test]
fn rclone_serve_s3_over_the_archive_folder_gives_the_same_view() {
    // A second S3 server, sharing no code with the first, serving the very files the local
    // view reads: its buckets are the folders of `root`.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    let src = root.join("archive");
    archive(&src);
    let key = keygen(dir.path());
    let server = S3Server::rclone_serve(&root);
    let (out_local, out_remote) = (dir.path().join("out-local"), dir.path().join("out-s3"));
    export(src.to_str().unwrap(), &out_local, &key, None);
    export("s3://archive", &out_remote, &key, Some(&server));
    let local = tree(&out_local);
    assert_same_view(&local, &tree(&out_remote), 10, "rclone serve s3");
    // And mounted: the same tree, read through FUSE.
    if cfg!(deidfs_fuse) {
        let (view, log) = (dir.path().join("view"), dir.path().join("mount.log"));
        let m = Mount::new("s3://archive", &view, &key, &log, &server, &[]);
        assert_same_view(&local, &tree(&view), 10, "rclone serve s3, mounted");
        drop(m);
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(
            said.contains("objects are read whole"),
            "the quirk was not learnt:\n{said}"
        );
    } else {
        println!("skipped: no FUSE (see build.rs), the export only");
    }
    drop(server);

    // The real corpus, served by rclone where it lies (its folder is the bucket `corpus`).
    if cfg!(deidfs_corpus) {
        let corpus = common::corpus().canonicalize().unwrap();
        let server = S3Server::rclone_serve(corpus.parent().unwrap());
        corpus_exported_alike(&corpus, "s3://corpus", &server, dir.path(), &key);
    } else {
        println!("skipped tier: no ../shared/corpus, the generated archive only");
    }
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn a_changed_object_fails_its_read_and_a_store_gone_fails_unread_files_with_eio_while_the_tree_still_lists()
 {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("archive");
    std::fs::create_dir_all(src.join("big")).unwrap();
    // Slices of 8 MiB: a reader needs several ranged GETs to go through one.
    for i in 1..=3 {
        let ct = deidfs::synth::ct_slice(0, 1, 1, i, 1024, 4096).unwrap();
        std::fs::write(src.join(format!("big/IM{i}.dcm")), ct).unwrap();
    }
    let key = keygen(dir.path());
    let mut server = S3Server::seaweedfs("pacs");
    server.upload(&src, "pacs/a");
    let (view, log) = (dir.path().join("view"), dir.path().join("mount.log"));
    let m = Mount::new(
        "s3://pacs/a",
        &view,
        &key,
        &log,
        &server,
        &["--open-handles"],
    );
    let folder = std::fs::read_dir(&view)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    // The view's name of IM1 (source names sort as view names need not).
    let keys =
        deidfs::pseudonym::Pseudonyms::new(&deidfs::pseudonym::SecretKey::load(&key).unwrap());
    let of = |rel: &str| {
        view.join(deidfs::fs::view_path(&keys, Path::new(rel), true).trim_start_matches('/'))
    };
    let (changed, read_before, never_read) =
        (of("big/IM1.dcm"), of("big/IM2.dcm"), of("big/IM3.dcm"));
    let whole = std::fs::read(&read_before).unwrap();
    assert!(whole.len() > 8 << 20);

    // IM1 opened (its version pinned: --open-handles), then replaced in the store before
    // its pixels were read: the read fails (EIO), it never mixes two versions. (A frame is
    // fetched whole at its first read, as it is screened whole.)
    let f = std::fs::File::open(&changed).unwrap();
    let replacement = dir.path().join("replacement");
    std::fs::create_dir_all(&replacement).unwrap();
    let other = deidfs::synth::ct_slice(0, 1, 1, 9, 1024, 4096).unwrap();
    std::fs::write(replacement.join("IM1.dcm"), other).unwrap();
    server.upload(&replacement, "pacs/a/big");
    let mut tail = vec![0u8; 65536];
    let end = f.metadata().unwrap().len();
    let err = f.read_exact_at(&mut tail, end - 65536).expect_err(&format!(
        "a read after the object changed succeeded; the mount's log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    ));
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("changed since it was planned"),
        "the log gives no reason:\n{said}"
    );
    drop(f);

    // The store goes away: the folder still lists and every file still stats (from the
    // view's caches); a file the kernel still holds is served with the same bytes (it may
    // have dropped it: then EIO, never other bytes); a file never read fails with EIO
    // within seconds.
    server.stop();
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 3);
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() > 8 << 20);
    }
    match std::fs::read(&read_before) {
        Ok(again) => assert!(again == whole, "other bytes once the store was gone"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}"),
    }
    let start = Instant::now();
    let err = std::fs::read(&never_read).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    drop(m);
    assert_nothing_logged_names_a_source(&log);
}
