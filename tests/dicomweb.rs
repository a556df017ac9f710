//! A PACS as the archive: files stored in a real Orthanc (started by the test, see
//! common/orthanc.rs) and read through DICOMweb give the view the same files give from local
//! disk laid out as the server's tree (STUDY/SERIES/SOP.dcm), name for name and byte for
//! byte, through export and a real FUSE mount; QIDO is paged through; once the server is gone
//! what was fetched is still served from the disk cache and the rest fails with EIO; neither the log nor the
//! disk cache's names show a UID or a patient, and the cache is gone at unmount.

mod common;

use common::orthanc::Orthanc;
use common::views::{assert_same_view, keygen, tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_deidfs")
}

/// Stores every file of `from` in Orthanc and lays the stored ones out under `to` as the
/// server's tree. Two files with one study/series/SOP triple are left out of `to` (Orthanc
/// keeps both but serves neither by that address: the view hides it, unreadable).
fn store_all(server: &Orthanc, from: &[PathBuf], to: &Path) -> usize {
    let mut placed: BTreeMap<PathBuf, Option<PathBuf>> = BTreeMap::new();
    for f in from {
        if let Some(rel) = server.store(f) {
            placed
                .entry(rel)
                .and_modify(|e| *e = None)
                .or_insert_with(|| Some(f.clone()));
        }
    }
    let mut n = 0;
    for (rel, f) in placed {
        if let Some(f) = f {
            let dest = to.join(&rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(f, dest).unwrap();
            n += 1;
        }
    }
    n
}

/// The files of `dir` that deidfs's local view does not hide as nested too deep: Orthanc
/// 1.10 overflows its stack on them (and dies).
fn storable(dir: &Path) -> Vec<PathBuf> {
    let out = Command::new(bin())
        .arg("scan")
        .arg(dir)
        .arg("--show-paths")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let deep: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("hidden too-deep"))
        .map(str::trim)
        .collect();
    common::walk(dir)
        .into_iter()
        .filter(|p| !deep.iter().any(|d| p.ends_with(d)))
        .collect()
}

fn export(cmd: &mut Command, source: &str, dest: &Path, key: &Path, cache: &Path) {
    cmd.arg("export")
        .arg(source)
        .arg(dest)
        .arg("--key-file")
        .arg(key)
        .arg("--cache-dir")
        .arg(cache);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "export of {source}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `deidfs mount` of the server's DICOMweb root at `view` in the foreground, run in the
/// server's network namespace, with its disk cache in `cache` and debug logs; returns once
/// the view is live.
fn mount(server: &Orthanc, view: &Path, key: &Path, cache: &Path, extra: &[&str]) -> Child {
    let child = server
        .command(bin())
        .arg("mount")
        .arg(server.source())
        .arg(view)
        .arg("--key-file")
        .arg(key)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--foreground")
        .args(extra)
        .env("DEIDFS_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_mounted(view);
    child
}

/// UIDs and names that must not show in the log or the cache's names.
fn identifiers(local_tree: &Path) -> Vec<String> {
    let mut ids: Vec<String> = common::walk(local_tree)
        .iter()
        .flat_map(|p| {
            p.strip_prefix(local_tree)
                .unwrap()
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".dcm").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.extend(["DOE", "ROE", "MRN-DEMO"].map(String::from));
    ids.sort();
    ids.dedup();
    ids
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn an_archive_in_orthanc_is_viewed_through_dicomweb_exactly_as_the_same_files_on_disk() {
    let Some(mut server) = Orthanc::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("archive");
    common::mixed_archive(&src);
    let mut files = storable(&src);
    if cfg!(deidfs_corpus) {
        files.extend(storable(&common::corpus()));
    } else {
        println!("skipped tier: no ../shared/corpus, the generated archive only");
    }
    let local = dir.path().join("as-the-server-lays-it-out");
    let stored = store_all(&server, &files, &local);
    assert!(stored >= 5, "Orthanc stored {stored} files");
    let key = keygen(dir.path());
    let cache = dir.path().join("cache");

    // Export, with QIDO paged 3 results at a time: every study, series and instance is found.
    let (out_local, out_web) = (dir.path().join("out-local"), dir.path().join("out-web"));
    export(
        &mut Command::new(bin()),
        local.to_str().unwrap(),
        &out_local,
        &key,
        &cache,
    );
    let mut cmd = server.command(bin());
    cmd.env("DEIDFS_QIDO_PAGE", "3");
    export(&mut cmd, &server.source(), &out_web, &key, &cache);
    let expected = tree(&out_local);
    assert_same_view(&expected, &tree(&out_web), 5, "export through DICOMweb");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "the export left its cache: {left:?}");

    // A mount serves the same tree; the cache's names hold no UID; the log names nothing.
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let log = dir.path().join("mount.log");
    let log_arg = log.to_str().unwrap();
    let mut child = mount(&server, &view, &key, &cache, &["--log-file", log_arg]);
    assert_same_view(&expected, &tree(&view), 5, "mount through DICOMweb");
    let secrets = identifiers(&local);
    let cached: Vec<PathBuf> = common::walk(&cache);
    assert!(!cached.is_empty(), "nothing was cached");
    for c in &cached {
        let name = c
            .strip_prefix(&cache)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            !secrets.iter().any(|s| name.contains(s.as_str())),
            "a cache name shows {name}"
        );
        use std::os::unix::fs::PermissionsExt;
        let folder = std::fs::metadata(c.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(folder & 0o777, 0o700, "the cache folder is open to others");
    }

    // The server goes away: with the kernel's page cache dropped, every instance fetched
    // is still served, from the disk cache, byte for byte.
    server.stop();
    std::fs::write("/proc/sys/vm/drop_caches", "3").unwrap();
    assert_same_view(
        &expected,
        &tree(&view),
        5,
        "mount through DICOMweb, the server gone",
    );

    // SAFETY: kill with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let start = Instant::now();
    while deidfs::mount::is_mountpoint(&view) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "the mount left its cache: {left:?}");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("requests to the archive's server"), "{said}");
    assert!(
        said.contains("Orthanc"),
        "Orthanc was not recognised:\n{said}"
    );
    for s in &secrets {
        assert!(!said.contains(s.as_str()), "the log shows {s}");
    }
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn a_dicomweb_server_gone_fails_instances_not_in_the_disk_cache_with_eio() {
    let Some(mut server) = Orthanc::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("archive");
    deidfs::synth::write_archive(&src).unwrap();
    let local = dir.path().join("tree");
    assert!(store_all(&server, &common::walk(&src), &local) >= 4);
    let key = keygen(dir.path());
    let (view, cache) = (dir.path().join("view"), dir.path().join("cache"));
    std::fs::create_dir_all(&view).unwrap();
    // A disk cache of 1 byte keeps one instance at a time: the listing fetched them all,
    // and all but the last are gone again, so a read needs the server.
    let mut child = mount(&server, &view, &key, &cache, &["--disk-cache-size", "1"]);
    let files = common::walk(&view);
    assert!(files.len() >= 4, "{} files", files.len());
    let (read, unread) = (&files[0], &files[files.len() / 2]);
    let bytes = std::fs::read(read).unwrap();
    server.stop();
    // What the kernel still holds is served as it was (it may have dropped it: then EIO).
    match std::fs::read(read) {
        Ok(again) => assert!(again == bytes, "other bytes once the server was gone"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}"),
    }
    let start = Instant::now();
    let err = std::fs::read(unread).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    // SAFETY: kill with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}
