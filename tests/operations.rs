//! The sharp edges an administrator and a new user hit (issue 17), each run as they would:
//! commands that must not touch what is not theirs, and messages that name the fix.

mod common;

use common::fixtures as fx;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deidfs(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args(args)
        .output()
        .unwrap()
}

fn said(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

/// A folder with a key `k.key` and an archive `src/` of one CT file `src/a/ct.dcm`.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    assert!(deidfs(&[&"keygen", &key]).status.success());
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/ct.dcm"), fx::ct_default().build()).unwrap();
    (dir, key, src)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn deid_never_writes_over_its_input_and_says_what_to_give_instead() {
    let (dir, key, src) = setup();
    let input = src.join("a/ct.dcm");
    let before = std::fs::read(&input).unwrap();
    // The same file, by its own path and through `..`.
    for output in [input.clone(), src.join("a/../a/ct.dcm")] {
        let o = deidfs(&[&"deid", &input, &output, &"--key-file", &key]);
        assert!(!o.status.success());
        assert!(
            said(&o).contains("the output is the input file"),
            "{}",
            said(&o)
        );
    }
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the source is intact"
    );
    // A folder as input, an output in a missing folder, a folder as output.
    let o = deidfs(&[
        &"deid",
        &src,
        &dir.path().join("x.dcm"),
        &"--key-file",
        &key,
    ]);
    assert!(said(&o).contains("deidfs export"), "{}", said(&o));
    let missing = dir.path().join("no/such/out.dcm");
    let o = deidfs(&[&"deid", &input, &missing, &"--key-file", &key]);
    assert!(said(&o).contains("mkdir -p"), "{}", said(&o));
    let o = deidfs(&[&"deid", &input, &dir.path(), &"--key-file", &key]);
    assert!(
        said(&o).contains("give the output file's path"),
        "{}",
        said(&o)
    );
}

#[test]
fn export_refuses_a_destination_inside_the_source() {
    let (_dir, key, src) = setup();
    for dest in [src.join("out"), src.join("a/../deid"), src.clone()] {
        let o = deidfs(&[&"export", &src, &dest, &"--key-file", &key]);
        assert!(!o.status.success(), "{dest:?}");
        assert!(said(&o).contains("inside the source"), "{}", said(&o));
    }
    assert!(!src.join("out").exists() && !src.join("deid").exists());
}

#[test]
fn a_key_file_that_is_no_key_is_named_so_not_sent_back_to_keygen() {
    let (dir, _key, src) = setup();
    let binary = dir.path().join("binary.key");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00, 0x81, 0x92]).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("out"),
        &"--key-file",
        &binary,
    ]);
    assert!(said(&o).contains("does not hold a key"), "{}", said(&o));
    assert!(
        !said(&o).contains(&format!("keygen {}", binary.display())),
        "keygen would refuse to overwrite it: {}",
        said(&o)
    );
    // A missing key file is the one case keygen is the fix for.
    let missing = dir.path().join("none.key");
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("out"),
        &"--key-file",
        &missing,
    ]);
    assert!(
        said(&o).contains(&format!("deidfs keygen {}", missing.display())),
        "{}",
        said(&o)
    );
}

#[test]
fn a_few_bytes_of_text_are_not_dicom_rather_than_truncated() {
    let (dir, key, src) = setup();
    let text = src.join("a/notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    let o = deidfs(&[
        &"deid",
        &text,
        &dir.path().join("o.dcm"),
        &"--key-file",
        &key,
    ]);
    assert!(said(&o).contains("(not-dicom)"), "{}", said(&o));
}

#[test]
fn zero_threads_or_jobs_are_refused() {
    let (dir, key, src) = setup();
    let o = deidfs(&[
        &"export",
        &src,
        &dir.path().join("o"),
        &"--key-file",
        &key,
        &"--jobs",
        &"0",
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("give 1 or more"), "{}", said(&o));
    let view = dir.path().join("view");
    std::fs::create_dir_all(&view).unwrap();
    let o = deidfs(&[
        &"mount",
        &src,
        &view,
        &"--key-file",
        &key,
        &"--threads",
        &"0",
    ]);
    assert!(!o.status.success());
    assert!(said(&o).contains("give 1 or more"), "{}", said(&o));
}

/// A detached mount of `src` at `view`.
fn mount(src: &Path, view: &Path, key: &Path) {
    std::fs::create_dir_all(view).unwrap();
    let o = deidfs(&[&"mount", &src, &view, &"--key-file", &key]);
    assert!(o.status.success(), "{}", said(&o));
}

/// The pid of the daemon serving `view`.
fn daemon_of(view: &Path) -> i32 {
    let o = Command::new("pgrep")
        .arg("-f")
        .arg(format!("mount .* {}", view.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .expect("the daemon runs")
        .trim()
        .parse()
        .unwrap()
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn after_a_killed_daemon_mount_names_deidfs_unmount_and_unmount_clears_it() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    mount(&src, &view, &key);
    // SAFETY: kill a daemon this test started.
    unsafe { libc::kill(daemon_of(&view), libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = deidfs(&[&"mount", &src, &view, &"--key-file", &key]);
    assert!(!o.status.success());
    let msg = said(&o);
    assert!(
        msg.contains(&format!("deidfs unmount {}", view.display())),
        "{msg}"
    );
    assert!(!msg.contains("mkdir"), "{msg}");
    let o = deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    mount(&src, &view, &key);
    assert!(deidfs(&[&"unmount", &view]).status.success());
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn resolve_takes_an_absolute_path_under_a_live_mount() {
    let (dir, key, src) = setup();
    let view = dir.path().join("view");
    mount(&src, &view, &key);
    let study = std::fs::read_dir(&view)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&study)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let o = deidfs(&[&"resolve", &file, &"--source", &src, &"--key-file", &key]);
    let _ = deidfs(&[&"unmount", &view]);
    assert!(o.status.success(), "{}", said(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        src.join("a/ct.dcm").display().to_string()
    );
}

#[test]
fn unmount_leaves_what_is_not_a_deidfs_view_mounted() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    std::fs::create_dir_all(&target).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "deidfs"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(mounted.success());
    let o = deidfs(&[&"unmount", &target]);
    let still = deidfs::mount::is_mountpoint(&target);
    let _ = Command::new("umount").arg(&target).status();
    assert!(!o.status.success());
    assert!(said(&o).contains("not a deidfs view"), "{}", said(&o));
    assert!(still, "the tmpfs is still mounted");
}
