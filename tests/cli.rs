//! The `deidfs` binary, run as a user would.

mod common;

use common::fixtures as fx;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn deidfs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn keygen(dir: &Path) -> String {
    let key = dir.join("k.key").display().to_string();
    let o = deidfs(&["keygen", &key]);
    assert!(o.status.success(), "{}", stderr(&o));
    key
}

#[test]
fn keygen_is_private_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&key).unwrap();
    let o = deidfs(&["keygen", &key]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("never overwrites"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn deid_writes_the_file_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let input = dir.path().join("in.dcm");
    let output = dir.path().join("out.dcm");
    std::fs::write(&input, fx::ct_default().build()).unwrap();
    let o = deidfs(&[
        "deid",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--key-file",
        &key,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read(&output).unwrap();
    assert!(
        !out.windows(fx::PATIENT_NAME.len())
            .any(|w| w == fx::PATIENT_NAME.as_bytes())
    );

    // A refused file: exit 3, one line naming the reason, no output file, no temp file left.
    let refused_in = dir.path().join("pdf.dcm");
    let refused_out = dir.path().join("pdf-out.dcm");
    std::fs::write(&refused_in, fx::encapsulated_pdf().build()).unwrap();
    let o = deidfs(&[
        "deid",
        refused_in.to_str().unwrap(),
        refused_out.to_str().unwrap(),
        "--key-file",
        &key,
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("refused (document)"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(!refused_out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_open_key_file_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let input = dir.path().join("in.dcm");
    std::fs::write(&input, fx::ct_default().build()).unwrap();
    let o = deidfs(&[
        "deid",
        input.to_str().unwrap(),
        "/dev/null",
        "--key-file",
        &key,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("chmod 600 {key}")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_policies_and_options_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "extends = \"basic\"\n\n[[override]]\nkeyword = \"PatientNme\"\naction = \"keep\"\n",
    )
    .unwrap();
    let o = deidfs(&["policy", "check", policy.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("p.toml:3: unknown keyword \"PatientNme\""),
        "{}",
        stderr(&o)
    );

    let input = dir.path().join("in.dcm");
    std::fs::write(&input, fx::ct_default().build()).unwrap();
    let o = deidfs(&[
        "deid",
        input.to_str().unwrap(),
        "/tmp/x",
        "--key-file",
        &key,
        "--option",
        "retain-everything",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown option \"retain-everything\"")
            && stderr(&o).contains("retain-uids"),
        "{}",
        stderr(&o)
    );

    let o = deidfs(&["policy", "show", "research"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("retain-longitudinal-modified-dates"));
}

#[test]
fn inspect_shows_each_attribute_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let input = dir.path().join("in.dcm");
    std::fs::write(&input, fx::ct_default().build()).unwrap();
    let o = deidfs(&["inspect", input.to_str().unwrap(), "--key-file", &key]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().find(|l| l.contains("PatientName")).unwrap();
    assert!(
        line.contains("pseudonym") && line.contains(fx::PATIENT_NAME) && line.contains("ANON^"),
        "{line}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("InstitutionAddress"))
        .unwrap();
    assert!(
        line.contains("remove") && line.contains("basic X"),
        "{line}"
    );
}

#[test]
#[cfg_attr(not(deidfs_fuse), ignore = "skipped: no FUSE (see build.rs)")]
fn demo_mounts_a_fake_archive_and_shows_no_phi_in_the_view() {
    let o = deidfs(&["demo", "--exit"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("cannot mount here"),
        "FUSE looks usable here, yet the demo did not mount: {out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("SOURCE"))
        .expect(&out);
    let col = lines[head].find("VIEW").unwrap();
    let view: Vec<&str> = lines[head + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| l.get(col..).unwrap_or(""))
        .collect();
    assert!(
        view.iter().filter(|l| l.contains(".dcm")).count() == 6,
        "{out}"
    );
    for l in &view {
        for phi in ["DOE", "ROE", "MRN", "2024", "IM0", "notes"] {
            assert!(!l.contains(phi), "view shows {phi}: {l}");
        }
    }
    let name = lines
        .iter()
        .find(|l| l.trim_start().starts_with("PatientName"))
        .unwrap();
    assert!(
        name.trim_end()
            .ends_with(|c: char| c.is_ascii_alphanumeric())
            && name.contains("ANON^"),
        "{name}"
    );
    assert!(
        !name
            .split("DOE^JANE^DEMO")
            .nth(1)
            .unwrap_or("")
            .contains("DOE"),
        "{name}"
    );
}

#[test]
#[cfg_attr(deidfs_fuse, ignore = "skipped: FUSE is here, so the demo mounts")]
fn demo_without_fuse_deidentifies_one_file_instead() {
    let o = deidfs(&["demo", "--exit"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cannot mount here"), "{out}");
    assert!(out.contains("Pixel Data byte-identical: true"), "{out}");
}
