//! The listing index: what each folder's listing showed (every file's view size, or the
//! reason it is hidden), kept on disk across mounts, so that a folder listed again on a later
//! mount is not planned again: listing it costs a `stat` per file, as a bare mirror's does,
//! and files are planned when first read.
//!
//! The guarantee: a record is used only for the very folder version it was made from, by the
//! same planner (policy and key), the same build of deidfs and the same plan format. Its key
//! is a digest of every file's name and stamp in the folder, so a file added, removed or
//! changed (and a head series' neighbour, whose verdicts depend on each other) makes the whole
//! folder planned again. A record is authenticated with a key derived from the secret key: one
//! that was changed, truncated or made by anyone else is ignored, never trusted.
//!
//! What it holds is no more than the view shows: per folder, the sizes of its files in the
//! view and the short codes of the files hidden, in source-name order. The record's name is a
//! keyed digest of the folder's source path, so the index does not say which folders of the
//! archive it describes. Files are never served from it: opening or reading a file plans it,
//! and a plan whose size disagrees with the listing's is the one served (the kernel is told).
//!
//! Layout: `DIR/<identity>/<2 hex>/<30 hex>`, one record per folder listed, written whole
//! (atomically) after the folder's files are planned; folders and files mode 0700/0600.
//! `<identity>` names one (planner, build); records of other identities are not read.

use crate::source::Stamp;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const MAGIC: &[u8; 16] = b"deidfs-listing1\n";
/// A value with this bit set is a hidden file's reason (its index in the record's table).
const HIDDEN: u64 = 1 << 63;
/// Identities (planner and build) whose records are kept; the least recently used go.
const IDENTITIES: usize = 16;
/// Distinct hidden reasons a process takes from records (reasons are a few dozen codes).
const REASONS_MAX: usize = 256;

/// What a folder's listing showed of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Served, this many bytes in the view.
    Served(u64),
    /// Hidden, for this reason.
    Hidden(&'static str),
}

/// The version of a folder's files that a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderDigest([u8; 32]);

/// A folder's record as read from disk, not yet checked.
pub struct Record(Vec<u8>);

pub struct Index {
    /// `DIR/<identity>`.
    root: PathBuf,
    /// Names records and authenticates them: secret (derived from the secret key).
    key: [u8; 32],
}

impl Index {
    /// The index under `dir` for planner `planner_id`, whose secret is `secret`. Fails if
    /// the folder cannot be made or this build cannot be identified.
    pub fn open(dir: &Path, planner_id: &str, secret: &[u8; 32]) -> io::Result<Index> {
        let mut material = b"deidfs listing index\0".to_vec();
        material.extend((planner_id.len() as u64).to_le_bytes());
        material.extend(planner_id.as_bytes());
        material.extend(crate::deid::plan::FORMAT.to_le_bytes());
        material.extend(build_id()?);
        let key = *blake3::keyed_hash(secret, &material).as_bytes();
        let identity = blake3::hash(&key).to_hex()[..16].to_string();
        let root = dir.join(&identity);
        make_private_dir(dir)?;
        make_private_dir(&root)?;
        touch(&root);
        prune(dir, &identity);
        Ok(Index { root, key })
    }

    /// The digest of a folder's files: their source names and stamps, in source-name order.
    pub fn digest<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a OsStr, &'a Stamp)>,
    ) -> FolderDigest {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(b"folder files\0");
        for (name, stamp) in files {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_encoded_bytes());
            h.update(&stamp.to_bytes());
        }
        FolderDigest(*h.finalize().as_bytes())
    }

    /// The record of the folder at `source` (relative to the archive's root), of whatever
    /// version, unread.
    pub fn read(&self, source: &Path) -> Option<Record> {
        std::fs::read(self.record(source)).ok().map(Record)
    }

    /// What a folder showed, by `record`, when its files were `digest`: one per file, in
    /// source-name order; `None` if the record is of another version or not valid.
    pub fn shown(
        &self,
        record: &Record,
        digest: &FolderDigest,
        files: usize,
    ) -> Option<Vec<Shown>> {
        let shown = self.parse(&record.0, digest)?;
        (shown.len() == files).then_some(shown)
    }

    /// [`Index::read`] then [`Index::shown`].
    #[cfg(test)]
    fn load(&self, source: &Path, digest: &FolderDigest, files: usize) -> Option<Vec<Shown>> {
        self.shown(&self.read(source)?, digest, files)
    }

    /// Whether the folder at `source` has a record (of any version).
    pub fn has(&self, source: &Path) -> bool {
        self.record(source).exists()
    }

    /// Keeps what the folder at `source` shows while its files are `digest`. A failure is
    /// logged (without a path) and otherwise ignored: the folder is planned next time.
    pub fn store(&self, source: &Path, digest: &FolderDigest, shown: &[Shown]) {
        let path = self.record(source);
        let bytes = self.encode(digest, shown);
        let written = path
            .parent()
            .map_or(Ok(()), make_private_dir)
            .and_then(|()| {
                crate::io::write_atomically(&path, false, |f| {
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                    f.write_all(&bytes)
                })
            });
        if let Err(e) = written {
            tracing::warn!(error = %e, "listing index: a folder's record could not be written");
        }
    }

    /// Drops the record of the folder at `source` (what it says no longer holds).
    pub fn forget(&self, source: &Path) {
        let _ = std::fs::remove_file(self.record(source));
    }

    fn record(&self, source: &Path) -> PathBuf {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(b"folder path\0");
        h.update(source.as_os_str().as_encoded_bytes());
        let hex = h.finalize().to_hex();
        self.root.join(&hex[..2]).join(&hex[2..32])
    }

    fn encode(&self, digest: &FolderDigest, shown: &[Shown]) -> Vec<u8> {
        let mut reasons: Vec<&'static str> = Vec::new();
        let mut values = Vec::with_capacity(shown.len());
        for s in shown {
            values.push(match *s {
                Shown::Served(size) => size & !HIDDEN,
                Shown::Hidden(r) => {
                    let i = reasons.iter().position(|x| *x == r).unwrap_or_else(|| {
                        reasons.push(r);
                        reasons.len() - 1
                    });
                    HIDDEN | i as u64
                }
            });
        }
        let mut out = Vec::with_capacity(64 + 8 * values.len());
        out.extend(MAGIC);
        out.extend(digest.0);
        out.extend((values.len() as u32).to_le_bytes());
        out.push(reasons.len().min(255) as u8);
        for r in reasons.iter().take(255) {
            out.push(r.len().min(255) as u8);
            out.extend(&r.as_bytes()[..r.len().min(255)]);
        }
        for v in values {
            out.extend(v.to_le_bytes());
        }
        let mac = blake3::keyed_hash(&self.key, &out);
        out.extend(mac.as_bytes());
        out
    }

    fn parse(&self, bytes: &[u8], digest: &FolderDigest) -> Option<Vec<Shown>> {
        let (body, mac) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        // `blake3::Hash` compares in constant time.
        if blake3::keyed_hash(&self.key, body) != blake3::Hash::from_slice(mac).ok()? {
            return None;
        }
        let mut r = Reader(body);
        if r.take(16)? != MAGIC || r.take(32)? != digest.0 {
            return None;
        }
        let n = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
        let mut reasons = Vec::new();
        for _ in 0..r.take(1)?[0] {
            let len = r.take(1)?[0] as usize;
            reasons.push(intern(std::str::from_utf8(r.take(len)?).ok()?)?);
        }
        let mut shown = Vec::with_capacity(n.min(body.len() / 8));
        for _ in 0..n {
            let v = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
            shown.push(if v & HIDDEN == 0 {
                Shown::Served(v)
            } else {
                Shown::Hidden(reasons.get((v & !HIDDEN) as usize)?)
            });
        }
        r.0.is_empty().then_some(shown)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
}

/// A hidden reason read from a record, as the `'static` code the view reports (reasons are
/// short lower-case codes: anything else is refused, as is a process's 257th distinct one).
fn intern(reason: &str) -> Option<&'static str> {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if reason.is_empty() || reason.len() > 64 || !reason.chars().all(ok) {
        return None;
    }
    let mut seen = crate::lock(SEEN.get_or_init(Mutex::default));
    if let Some(s) = seen.get(reason) {
        return Some(s);
    }
    if seen.len() >= REASONS_MAX {
        return None;
    }
    let s: &'static str = Box::leak(reason.to_owned().into_boxed_str());
    seen.insert(s);
    Some(s)
}

/// A digest of the running executable: records made by another build are never read (a
/// change of the engine can change sizes without changing the version number).
fn build_id() -> io::Result<[u8; 32]> {
    static ID: OnceLock<Result<[u8; 32], String>> = OnceLock::new();
    let hash = || -> io::Result<[u8; 32]> {
        let mut h = blake3::Hasher::new();
        h.update_reader(std::fs::File::open("/proc/self/exe")?)?;
        Ok(*h.finalize().as_bytes())
    };
    ID.get_or_init(|| hash().map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)
}

/// Marks an identity's folder as used now (what [`prune`] goes by).
fn touch(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) {
        // SAFETY: a valid C string; a null `times` sets both times to now.
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) };
    }
}

/// Removes the folders of all but the [`IDENTITIES`] identities used last (another key,
/// policy or build of deidfs each make one; their records are never read again).
fn prune(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name != keep && name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, stale) in found.into_iter().skip(IDENTITIES - 1) {
        let _ = std::fs::remove_dir_all(stale);
    }
}

fn make_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &Path, planner: &str) -> Index {
        Index::open(dir, planner, &[7; 32]).unwrap()
    }

    fn stamp(n: u64) -> Stamp {
        Stamp::local(1, n, 100 + n, 5, 5)
    }

    fn digest_of(ix: &Index, files: &[(&str, Stamp)]) -> FolderDigest {
        ix.digest(files.iter().map(|(n, s)| (OsStr::new(*n), s)))
    }

    #[test]
    fn a_record_is_read_back_for_the_same_folder_version() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let d = digest_of(&ix, &[("a", stamp(1)), ("b", stamp(2))]);
        let shown = [Shown::Served(1234), Shown::Hidden("burned-in-risk")];
        ix.store(Path::new("x/y"), &d, &shown);
        assert_eq!(ix.load(Path::new("x/y"), &d, 2).unwrap(), shown);
        assert!(ix.has(Path::new("x/y")));
        assert!(ix.load(Path::new("x/z"), &d, 2).is_none());
    }

    #[test]
    fn a_changed_added_or_renamed_file_makes_the_record_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let before = digest_of(&ix, &[("a", stamp(1)), ("b", stamp(2))]);
        ix.store(
            Path::new("f"),
            &before,
            &[Shown::Served(1), Shown::Served(2)],
        );
        for after in [
            vec![("a", stamp(1)), ("b", stamp(3))],
            vec![("a", stamp(1)), ("b", stamp(2)), ("c", stamp(4))],
            vec![("a", stamp(1)), ("c", stamp(2))],
        ] {
            let d = digest_of(&ix, &after);
            assert!(ix.load(Path::new("f"), &d, after.len()).is_none());
        }
    }

    #[test]
    fn another_planner_or_key_does_not_read_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let d = digest_of(&ix, &[("a", stamp(1))]);
        ix.store(Path::new("f"), &d, &[Shown::Served(9)]);
        let other_policy = index(dir.path(), "q");
        let other_key = Index::open(dir.path(), "p", &[8; 32]).unwrap();
        for other in [other_policy, other_key] {
            let d = digest_of(&other, &[("a", stamp(1))]);
            assert!(other.load(Path::new("f"), &d, 1).is_none());
        }
    }

    #[test]
    fn a_record_changed_on_disk_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let d = digest_of(&ix, &[("a", stamp(1))]);
        ix.store(Path::new("f"), &d, &[Shown::Served(9)]);
        let path = ix.record(Path::new("f"));
        let good = std::fs::read(&path).unwrap();
        // Each byte flipped in turn, then every truncation.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            assert!(ix.load(Path::new("f"), &d, 1).is_none(), "byte {i}");
        }
        for n in 0..good.len() {
            std::fs::write(&path, &good[..n]).unwrap();
            assert!(ix.load(Path::new("f"), &d, 1).is_none(), "{n} bytes");
        }
        std::fs::write(&path, &good).unwrap();
        assert_eq!(ix.load(Path::new("f"), &d, 1), Some(vec![Shown::Served(9)]));
    }

    #[test]
    fn records_are_private_and_named_without_the_source_path() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let d = digest_of(&ix, &[("a", stamp(1))]);
        ix.store(Path::new("DOE^JOHN/CT"), &d, &[Shown::Served(9)]);
        let path = ix.record(Path::new("DOE^JOHN/CT"));
        let rel = path
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(!rel.contains("DOE") && !rel.contains("CT"), "{rel}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&ix.root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(3).any(|w| w == b"DOE"));
    }

    #[test]
    fn only_the_identities_used_last_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let planners: Vec<String> = (0..IDENTITIES + 3).map(|i| format!("p{i}")).collect();
        let mut roots = Vec::new();
        for p in &planners {
            let ix = index(dir.path(), p);
            let d = digest_of(&ix, &[("a", stamp(1))]);
            ix.store(Path::new("f"), &d, &[Shown::Served(9)]);
            roots.push(ix.root.clone());
            // Modification times are compared: make them differ.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let kept: Vec<bool> = roots.iter().map(|r| r.exists()).collect();
        assert_eq!(kept.iter().filter(|k| **k).count(), IDENTITIES);
        assert!(
            kept[3..].iter().all(|k| *k) && !kept[..3].iter().any(|k| *k),
            "{kept:?}"
        );
    }

    #[test]
    fn forgetting_a_folder_drops_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let ix = index(dir.path(), "p");
        let d = digest_of(&ix, &[("a", stamp(1))]);
        ix.store(Path::new("f"), &d, &[Shown::Served(9)]);
        ix.forget(Path::new("f"));
        assert!(!ix.has(Path::new("f")));
        assert!(ix.load(Path::new("f"), &d, 1).is_none());
    }
}
