//! The key holder's and batch tools, run as a user would, checked against a real mount.

mod common;

use common::fixtures as fx;
use deidfs::pseudonym::{Pseudonyms, SecretKey};
use dicom_core::Tag;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn deidfs(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args(args)
        .output()
        .unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    keys: Pseudonyms,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        deidfs::synth::write_archive(&src).unwrap();
        std::fs::write(src.join("DICOMDIR"), fx::dicomdir_like().build()).unwrap();
        std::fs::write(src.join("report.dcm"), fx::encapsulated_pdf().build()).unwrap();
        let ct = fx::ct_default().build();
        std::fs::write(src.join("cut.dcm"), &ct[..ct.len() - 10]).unwrap();
        std::fs::write(
            src.join("mr.dcm"),
            fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 8, 8).build(),
        )
        .unwrap();
        let key = dir.path().join("k.key");
        assert!(
            deidfs(&["keygen".as_ref(), key.as_os_str()])
                .status
                .success()
        );
        let keys = Pseudonyms::new(&SecretKey::load(&key).unwrap());
        Setup { dir, keys }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn run(&self, args: &[&str]) -> Output {
        let mut v: Vec<std::ffi::OsString> = args.iter().map(|a| a.into()).collect();
        v.push("--key-file".into());
        v.push(self.p("k.key").into());
        let refs: Vec<&std::ffi::OsStr> = v.iter().map(|a| a.as_os_str()).collect();
        deidfs(&refs)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn resolve_round_trips_every_file() {
    let t = Setup::new();
    let src = t.p("src");
    let mut files = Vec::new();
    files.extend(common::walk(&src));
    let mut resolved = 0;
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let view = deidfs::fs::view_path(&t.keys, rel, true);
        let o = t.run(&["resolve", view.trim_start_matches('/'), "--source", s(&src)]);
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), s(&f));
            resolved += 1;
        }
    }
    assert_eq!(
        resolved,
        6 + 1,
        "demo CTs and the MR; refused files have no view path"
    );
    let o = t.run(&["resolve", "NOSUCHNAME000/x.dcm", "--source", s(&src)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such path in the view"));
}

fn csv(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

#[test]
fn crosswalk_matches_the_exported_files_and_export_is_incremental() {
    use std::os::unix::fs::PermissionsExt;
    let t = Setup::new();
    let (src, out, exp) = (t.p("src"), t.p("crosswalk"), t.p("export"));
    let o = t.run(&["crosswalk", s(&src), "--out", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["uid_mapping.csv", "patid_mapping.csv", "path_mapping.csv"] {
        let mode = std::fs::metadata(out.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    let header = std::fs::read_to_string(out.join("uid_mapping.csv")).unwrap();
    assert!(header.starts_with("id_old,id_new\n"));
    let uids: BTreeMap<_, _> = csv(&out.join("uid_mapping.csv")).into_iter().collect();
    let pids: BTreeMap<_, _> = csv(&out.join("patid_mapping.csv")).into_iter().collect();
    let paths = csv(&out.join("path_mapping.csv"));

    let o = t.run(&["export", s(&src), s(&exp)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        summary.contains("7 written")
            && summary.contains("dicomdir 1")
            && summary.contains("document 1"),
        "{summary}"
    );
    assert_eq!(paths.len(), 7);
    for (old, new) in &paths {
        let source = dicom_object::open_file(src.join(old)).unwrap();
        let exported = dicom_object::open_file(exp.join(new)).unwrap();
        let get = |o: &dicom_object::DefaultDicomObject, t: Tag| {
            o.element(t)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .trim()
                .to_string()
        };
        for tag in [
            Tag(0x0020, 0x000D),
            Tag(0x0020, 0x000E),
            Tag(0x0008, 0x0018),
            Tag(0x0020, 0x0052),
        ] {
            assert_eq!(
                uids.get(&get(&source, tag)),
                Some(&get(&exported, tag)),
                "{old} {tag}"
            );
        }
        assert_eq!(
            pids.get(&get(&source, Tag(0x0010, 0x0020))),
            Some(&get(&exported, Tag(0x0010, 0x0020)))
        );
    }
    // A second run skips everything; a changed source file is written again.
    let o = t.run(&["export", s(&src), s(&exp)]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 written")
            && String::from_utf8_lossy(&o.stdout).contains("7 skipped")
    );
    std::fs::write(
        src.join("mr.dcm"),
        fx::mr_like(fx::PATIENT_NAME, fx::PATIENT_ID, 16, 16).build(),
    )
    .unwrap();
    let o = t.run(&["export", s(&src), s(&exp)]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 written"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A file the view no longer shows leaves the destination: it may now be refused.
    let before = common::walk(&exp).len();
    std::fs::write(src.join("mr.dcm"), b"no longer DICOM").unwrap();
    let o = t.run(&["export", s(&src), s(&exp)]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 removed"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(common::walk(&exp).len(), before - 1);
    let mut left = Vec::new();
    left.extend(common::walk(&exp));
    assert!(
        left.iter()
            .all(|p| !p.to_string_lossy().contains("deidfs-tmp")),
        "no partial files"
    );
    // The manifest holds no source stamps in the clear.
    let manifest = std::fs::read_to_string(exp.join(".deidfs-export")).unwrap();
    assert!(!manifest.contains("ino") && !manifest.contains("mtime"));
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn export_equals_a_live_mount_and_the_audit_log_records_reads() {
    let t = Setup::new();
    let (src, exp, view, audit) = (t.p("src"), t.p("export"), t.p("view"), t.p("audit.jsonl"));
    assert!(t.run(&["export", s(&src), s(&exp)]).status.success());
    // One writer lists and writes in turn; four overlap listing with writing: same files.
    let others = [t.p("export-1"), t.p("export-4")];
    for (dir, jobs) in others.iter().zip(["1", "4"]) {
        let o = t.run(&["export", s(&src), s(dir), "--jobs", jobs]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::create_dir(&view).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args([
            "mount",
            s(&src),
            s(&view),
            "--foreground",
            "--key-file",
            s(&t.p("k.key")),
            "--audit-log",
            s(&audit),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_mounted(&view);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    a.extend(common::walk(&exp));
    b.extend(common::walk(&view));
    let a: Vec<_> = a
        .into_iter()
        .filter(|p| !p.ends_with(".deidfs-export"))
        .collect();
    assert_eq!(a.len(), b.len());
    let mut bytes = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x.strip_prefix(&exp).unwrap(),
            y.strip_prefix(&view).unwrap()
        );
        let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        assert!(bx == by, "{}", x.display());
        for other in &others {
            let z = other.join(x.strip_prefix(&exp).unwrap());
            assert!(std::fs::read(&z).unwrap() == by, "{}", z.display());
        }
        bytes += by.len();
    }
    // SAFETY: kill with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= b.len(), "{log}");
    let total: u64 = lines
        .iter()
        .filter(|l| l["event"] == "close")
        .map(|l| l["bytes"].as_u64().unwrap())
        .sum();
    let opens = lines.iter().filter(|l| l["event"] == "open").count();
    assert_eq!(
        opens * 2,
        lines.len(),
        "an open line and a close line per file: {log}"
    );
    assert!(total >= bytes as u64, "{total} < {bytes}");
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    for l in &lines {
        assert_eq!(l["uid"].as_u64(), Some(u64::from(me)));
        assert!(l["path"].as_str().unwrap().ends_with(".dcm"));
        assert!(
            l["time"].as_str().unwrap().contains('T')
                && l["pid"].as_u64().is_some()
                && l["process"].is_string()
        );
    }
    assert!(
        !log.contains("src") && !log.contains("IM0") && !log.contains("DOE"),
        "no source paths"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn scan_explains_every_hidden_file() {
    let t = Setup::new();
    std::fs::write(t.p("src").join("x.bin"), b"random bytes").unwrap();
    let o = deidfs(&["scan".as_ref(), t.p("src").as_os_str(), "--json".as_ref()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["visible"], 7);
    assert_eq!(r["hidden"]["dicomdir"], 1);
    assert_eq!(r["hidden"]["document"], 1);
    assert_eq!(r["hidden"]["truncated"], 1);
    assert_eq!(r["hidden"]["not-dicom"], 2, "notes.txt and x.bin");
    assert_eq!(r["by_modality"]["CT"], 6);
    assert!(
        r.get("hidden_paths").is_none(),
        "no source paths without --show-paths"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("DOE") && !text.contains("notes"));
    let o = deidfs(&[
        "scan".as_ref(),
        t.p("src").as_os_str(),
        "--show-paths".as_ref(),
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.dcm"));
}

#[test]
fn walking_the_view_holds_the_folders_in_flight_not_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    // 30 series folders of 12 files each, under 3 patients.
    for s in 0..30 {
        let series = dir.path().join(format!("P{}/S{s:02}", s % 3));
        std::fs::create_dir_all(&series).unwrap();
        for i in 0..12 {
            std::fs::write(
                series.join(format!("IM{i:02}.dcm")),
                fx::ct_like("A^B", &format!("ID{s}"), 8, 8).build(),
            )
            .unwrap();
        }
    }
    let keys = Pseudonyms::new(&SecretKey::from_bytes([4; 32]));
    let policy = deidfs::policy::load_builtin("basic").unwrap();
    let fs = deidfs::run::offline_view(
        &deidfs::archive::Archive::Local(dir.path().into()),
        keys,
        policy,
        2,
    )
    .unwrap();
    let (seen, most) = (
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicU64::new(0),
    );
    let hidden = deidfs::tools::walk::visit(&fs, 2, |f| {
        assert!(
            fs.plan_of(f.ino).is_ok(),
            "a file's inode is valid inside the walk"
        );
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        most.fetch_max(fs.known_entries(), std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert!(hidden.is_empty());
    assert_eq!(seen.into_inner(), 360, "every file, once");
    // Two walkers: at most two series folders' files at once, plus the folders queued.
    let most = most.into_inner();
    assert!(
        most <= 2 * 12 + 3 + 30 + 1,
        "{most} entries held at once of 394"
    );
    assert!(
        fs.known_entries() <= 1,
        "only the root is left: {}",
        fs.known_entries()
    );
}
