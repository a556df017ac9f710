//! Comparing views: a key for a test, a tree of files by relative path, and the assertion
//! that two trees are the same view (shared by the remote-source tests, which compare the
//! view of files kept on a server with the view of the same files on local disk).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A new key, `dir/k.key`, made by `deidfs keygen`.
pub fn keygen(dir: &Path) -> PathBuf {
    let key = dir.join("k.key");
    let st = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("keygen")
        .arg(&key)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    key
}

/// Every file of a tree by relative path, with its bytes (an export's journal left out:
/// it records source versions, which differ by kind of source).
pub fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    super::walk(root)
        .into_iter()
        .map(|p| (p.strip_prefix(root).unwrap().to_path_buf(), p))
        .filter(|(rel, _)| !rel.to_string_lossy().starts_with(".deidfs-export"))
        .map(|(rel, p)| (rel, std::fs::read(p).unwrap()))
        .collect()
}

/// `remote` holds the names of `local` and no other, each with the same bytes, and there
/// are at least `at_least` of them.
pub fn assert_same_view(
    local: &BTreeMap<PathBuf, Vec<u8>>,
    remote: &BTreeMap<PathBuf, Vec<u8>>,
    at_least: usize,
    what: &str,
) {
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(local), names(remote), "{what}: names differ");
    for (rel, bytes) in local {
        assert!(remote[rel] == *bytes, "{what}: {} differs", rel.display());
    }
    assert!(
        local.len() >= at_least,
        "{what}: only {} files",
        local.len()
    );
}
