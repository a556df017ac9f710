//! An object store as the archive (S3 and S3-compatible stores, through the `object_store`
//! crate). Keys are read as paths: `/` separates folders, the store's prefix is the root.
//!
//! Guarantees:
//! - **One version per open file.** A file's stamp is a digest of the store, its key and
//!   its ETag (else its version id, else its size and modification time). Every ranged GET
//!   asks `If-Match` that ETag and the answer's own ETag is checked too (for stores that
//!   ignore the header): an object changed after it was planned fails the read, never
//!   mixing the bytes of two versions.
//! - **Listings are the store's, paged** (`ListObjectsV2` with a delimiter): a folder is a
//!   common prefix. A folder's listing is kept for `ttl` (its stamp is a digest of what it
//!   lists, so a change shows as a new folder version once the listing is taken again); its
//!   objects' sizes and ETags come with it, so planning a listed file costs one GET.
//! - **Reads are ranged GETs**: planning reads the first [`PLAN_FETCH`] bytes (the header of
//!   most files, often the whole file); a reader going through the file gets a window that
//!   doubles while it reads forward, up to [`WINDOW_MAX`], and starts again where it jumps.
//!   All open files' windows together hold at most [`WINDOWS_BUDGET`].
//! - **No key in any message**: errors say what failed (not found, changed, refused, the
//!   store unreachable), never the key or the URL (keys are source paths: PHI).
//!
//! The engine stays synchronous: this source owns a small tokio runtime and blocks on it.

use super::{Entry, Kind, Source, SourceFile, Stamp};
use crate::io::ReadAt;
use crate::lock;
use bytes::Bytes;
use lru::LruCache;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes a plan's first GET asks for: the header of most files (a CT slice's Pixel Data
/// starts within 2-4 KiB; enhanced multi-frame headers run to a few hundred KiB and take a
/// second GET).
pub const PLAN_FETCH: u64 = 64 << 10;
/// The first window of a reader going through a file, and the most one window holds.
const WINDOW_FIRST: u64 = 1 << 20;
const WINDOW_MAX: u64 = 16 << 20;
/// The most the windows of all open files hold together: past it a window holds only what
/// its read asked for (however many files are open, memory stays bounded).
const WINDOWS_BUDGET: u64 = 256 << 20;
/// Folder listings kept (each with its objects' sizes and ETags).
const FOLDERS_KEPT: usize = 4096;

/// Requests made to the store, by kind (for the log at exit and the benchmarks).
#[derive(Debug, Default)]
struct Requests {
    list_pages: AtomicU64,
    heads: AtomicU64,
    gets: AtomicU64,
    bytes: AtomicU64,
}

impl Requests {
    fn summary(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} LIST, {} HEAD, {} GET, {:.1} MB received",
            n(&self.list_pages),
            n(&self.heads),
            n(&self.gets),
            n(&self.bytes) as f64 / 1e6
        )
    }
}

/// What one object is now: enough to stamp it and to read it with `If-Match`.
#[derive(Debug, Clone)]
struct Meta {
    size: u64,
    etag: Option<String>,
    version: Option<String>,
    modified_ns: i64,
}

impl Meta {
    fn of(m: &ObjectMeta) -> Self {
        Self {
            size: m.size,
            etag: m.e_tag.clone(),
            version: m.version.clone(),
            modified_ns: m.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX),
        }
    }
}

/// One folder's listing, as taken at `at`.
struct Folder {
    at: Instant,
    entries: Vec<Entry>,
    files: HashMap<OsString, Meta>,
    /// A digest of the listing: the folder's version.
    stamp: Stamp,
}

struct Shared {
    store: Arc<dyn ObjectStore>,
    lister: Arc<dyn PaginatedListStore>,
    runtime: tokio::runtime::Runtime,
    /// A digest of the store's address and prefix: the same key in two stores is two files.
    id: [u8; 32],
    requests: Requests,
    quirks: Quirks,
    /// Bytes the open files' windows hold now.
    windows: AtomicU64,
}

impl Shared {
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    fn stamp(&self, key: &Key, meta: &Meta) -> Stamp {
        let mut h = blake3::Hasher::new_derive_key("deidfs object stamp v1");
        h.update(&self.id);
        for part in [
            Some(key.as_ref()),
            meta.etag.as_deref(),
            meta.version.as_deref(),
        ] {
            let part = part.unwrap_or("").as_bytes();
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&meta.size.to_le_bytes());
        h.update(&meta.modified_ns.to_le_bytes());
        Stamp::digest(meta.size, h.finalize().as_bytes())
    }
}

pub struct ObjectSource {
    shared: Arc<Shared>,
    root: Option<Key>,
    ttl: Duration,
    folders: Mutex<LruCache<Key, Arc<Folder>>>,
}

impl ObjectSource {
    /// A source of the objects under `root` (None: the whole bucket) of `store`; `address`
    /// names the store and prefix (only its digest is kept); listings are kept for `ttl`.
    pub fn new<S: ObjectStore + PaginatedListStore>(
        store: S,
        address: &str,
        root: Option<Key>,
        ttl: Duration,
    ) -> io::Result<Self> {
        let runtime = super::runtime("deidfs-store")?;
        let id = *blake3::hash(address.as_bytes()).as_bytes();
        let store = Arc::new(store);
        Ok(Self {
            shared: Arc::new(Shared {
                store: store.clone(),
                lister: store,
                runtime,
                id,
                requests: Requests::default(),
                quirks: Quirks::new(),
                windows: AtomicU64::new(0),
            }),
            root,
            ttl,
            folders: Mutex::new(LruCache::new(
                NonZeroUsize::new(FOLDERS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
        })
    }

    /// The key of a path relative to the root (`None`: the root itself, the bucket's top).
    fn key(&self, rel: &Path) -> io::Result<Option<Key>> {
        let mut parts: Vec<&str> = self.root.iter().map(|r| r.as_ref()).collect();
        for c in rel.components() {
            match c {
                std::path::Component::Normal(n) => {
                    parts.push(n.to_str().ok_or_else(invalid_name)?);
                }
                std::path::Component::CurDir => {}
                _ => return Err(invalid_name()),
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Key::parse(parts.join("/"))
            .map(Some)
            .map_err(|_| invalid_name())
    }

    /// The listing of a folder, taken again when older than the ttl.
    fn folder(&self, rel: &Path) -> io::Result<Arc<Folder>> {
        let key = self.key(rel)?;
        let slot = key.clone().unwrap_or_default();
        if let Some(f) = lock(&self.folders).get(&slot)
            && f.at.elapsed() < self.ttl
        {
            return Ok(f.clone());
        }
        let folder = Arc::new(self.list_folder(key.as_ref())?);
        lock(&self.folders).put(slot, folder.clone());
        Ok(folder)
    }

    fn list_folder(&self, key: Option<&Key>) -> io::Result<Folder> {
        let shared = &self.shared;
        let mut entries: Vec<Entry> = Vec::new();
        let mut files = HashMap::new();
        let mut h = blake3::Hasher::new_derive_key("deidfs object folder v1");
        // The prefix of a folder's keys: a trailing delimiter, so `a/b` lists `a/b/...`
        // and not `a/bc`.
        let prefix = key.map(|k| format!("{k}/"));
        let mut token: Option<String> = None;
        loop {
            let options = PaginatedListOptions {
                delimiter: Some("/".into()),
                page_token: token.take(),
                ..Default::default()
            };
            shared.requests.list_pages.fetch_add(1, Ordering::Relaxed);
            let page = shared
                .block_on(shared.lister.list_paginated(prefix.as_deref(), options))
                .map_err(|e| store_error(e, key))?;
            for p in page.result.common_prefixes {
                if let Some(name) = p.filename() {
                    entries.push(Entry {
                        name: name.into(),
                        kind: Kind::Dir,
                    });
                }
            }
            for o in page.result.objects {
                // A folder marker (the prefix's own key, `a/b/`) is not a file of it.
                let Some(name) = o.location.filename().filter(|_| Some(&o.location) != key) else {
                    continue;
                };
                entries.push(Entry {
                    name: name.into(),
                    kind: Kind::File,
                });
                files.insert(OsString::from(name), Meta::of(&o));
            }
            match page.page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if key.is_some() && entries.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        // A name that is both an object and a prefix is shown as the folder.
        entries.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then((a.kind == Kind::File).cmp(&(b.kind == Kind::File)))
        });
        entries.dedup_by(|b, a| a.name == b.name);
        files.retain(|name, _| {
            entries
                .binary_search_by(|e| e.name.as_os_str().cmp(name))
                .is_ok_and(|i| entries[i].kind == Kind::File)
        });
        for e in &entries {
            let name = e.name.as_encoded_bytes();
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name);
            if let Some(m) = files.get(&e.name) {
                h.update(&self.shared.stamp(&Key::from(""), m).to_bytes());
            } else {
                h.update(b"/");
            }
        }
        let stamp = Stamp::digest(0, h.finalize().as_bytes());
        Ok(Folder {
            at: Instant::now(),
            entries,
            files,
            stamp,
        })
    }

    /// An object's key and what it is now: from its folder's listing while that is fresh,
    /// else from a HEAD request.
    fn meta(&self, rel: &Path) -> io::Result<(Key, Meta)> {
        let key = self
            .key(rel)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::IsADirectory))?;
        let (parent, name) = (rel.parent().unwrap_or(Path::new("")), rel.file_name());
        let listed = lock(&self.folders)
            .peek(&self.key(parent)?.unwrap_or_default())
            .filter(|f| f.at.elapsed() < self.ttl)
            .cloned();
        if let (Some(folder), Some(name)) = (listed, name) {
            return match folder.files.get(name) {
                Some(m) => Ok((key, m.clone())),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            };
        }
        self.shared.requests.heads.fetch_add(1, Ordering::Relaxed);
        let meta = self
            .shared
            .block_on(self.shared.store.head(&key))
            .map_err(|e| store_error(e, Some(&key)))?;
        Ok((key, Meta::of(&meta)))
    }
}

impl Source for ObjectSource {
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        Ok(self.folder(dir)?.entries.clone())
    }

    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>> {
        let (key, meta) = self.meta(file)?;
        let stamp = self.shared.stamp(&key, &meta);
        Ok(Box::new(ObjectFile {
            shared: self.shared.clone(),
            key,
            meta,
            stamp,
            window: Mutex::new(Window {
                start: 0,
                bytes: Bytes::new(),
                next: PLAN_FETCH,
                first: PLAN_FETCH,
            }),
        }))
    }

    fn requests(&self) -> Option<String> {
        Some(self.shared.requests.summary())
    }

    fn stamp(&self, path: &Path) -> io::Result<Stamp> {
        let Some(name) = path.file_name() else {
            return Ok(self.folder(path)?.stamp);
        };
        // The parent's listing, fresh: it holds the object's size and ETag (no HEAD).
        let parent = self.folder(path.parent().unwrap_or(Path::new("")))?;
        if let Some(meta) = parent.files.get(name) {
            let key = self
                .key(path)?
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            return Ok(self.shared.stamp(&key, meta));
        }
        match parent
            .entries
            .binary_search_by(|e| e.name.as_os_str().cmp(name))
        {
            Ok(_) => Ok(self.folder(path)?.stamp),
            Err(_) => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }
}

/// The bytes of an open object last fetched, and how much the next GET asks for.
struct Window {
    start: u64,
    bytes: Bytes,
    next: u64,
    /// What a jump starts again with: [`PLAN_FETCH`] while planning, then [`WINDOW_FIRST`].
    first: u64,
}

struct ObjectFile {
    shared: Arc<Shared>,
    key: Key,
    meta: Meta,
    stamp: Stamp,
    window: Mutex<Window>,
}

impl ObjectFile {
    /// The bytes `start..end` of the version this file was opened at, by one GET: where
    /// they start and what came (the whole object, from 0, where the store cannot answer
    /// ranges).
    fn fetch(&self, start: u64, end: u64) -> io::Result<(u64, Bytes)> {
        let shared = &self.shared;
        loop {
            let quirks = &shared.quirks;
            // The whole object is asked for without a range: some servers answer a range
            // that covers everything with the whole object, which the client refuses.
            let ranged =
                quirks.ranges.load(Ordering::Relaxed) && !(start == 0 && end == self.meta.size);
            let conditional = quirks.conditional.load(Ordering::Relaxed);
            let options = GetOptions {
                range: ranged.then_some(GetRange::Bounded(start..end)),
                if_match: self.meta.etag.clone().filter(|_| conditional),
                version: self.meta.version.clone(),
                ..Default::default()
            };
            shared.requests.gets.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(start, end, ranged, "GET");
            let got = shared.block_on(async {
                let got = shared.store.get_opts(&self.key, options).await?;
                let etag = got.meta.e_tag.clone();
                Ok::<_, object_store::Error>((etag, got.bytes().await?))
            });
            let (etag, bytes) = match got {
                Ok(g) => g,
                Err(e) => match quirks.learn(&e, ranged, conditional) {
                    true => continue,
                    false => return Err(store_error(e, Some(&self.key))),
                },
            };
            shared
                .requests
                .bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            // The answer's own ETag, for stores that ignore If-Match.
            if self.meta.etag.is_some() && !same_etag(&etag, &self.meta.etag) {
                tracing::debug!(listed = ?self.meta.etag, got = ?etag, "ETag differs");
                return Err(changed());
            }
            let (from, want) = if ranged {
                (start, end - start)
            } else {
                (0, self.meta.size)
            };
            if bytes.len() as u64 != want {
                return Err(changed());
            }
            return Ok((from, bytes));
        }
    }
}

/// What a store turned out not to do, learnt from its first refusals and kept for the
/// source's life (said once in the log). rclone's `serve s3` answers a ranged GET with 200
/// and refuses `If-Match` with 400: its objects are then read whole, and a version is
/// checked by the ETag of each answer alone.
struct Quirks {
    ranges: std::sync::atomic::AtomicBool,
    conditional: std::sync::atomic::AtomicBool,
}

impl Quirks {
    fn new() -> Self {
        Self {
            ranges: true.into(),
            conditional: true.into(),
        }
    }

    /// Whether `e` shows a feature the request used is missing (then cleared: ask again).
    fn learn(&self, e: &object_store::Error, ranged: bool, conditional: bool) -> bool {
        let said = e.to_string();
        if ranged && said.contains("non-partial response") {
            tracing::info!(
                "the object store answers ranged GETs with whole objects: objects are read whole"
            );
            self.ranges.store(false, Ordering::Relaxed);
            return true;
        }
        let refused = said.contains("400 Bad Request") || said.contains("501 Not Implemented");
        if conditional && refused {
            tracing::info!(
                "the object store refuses If-Match: versions are checked by the ETag of each answer"
            );
            self.conditional.store(false, Ordering::Relaxed);
            return true;
        }
        false
    }
}

impl ReadAt for ObjectFile {
    fn len(&self) -> u64 {
        self.meta.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.meta.size)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if buf.is_empty() {
            return Ok(());
        }
        let mut w = lock(&self.window);
        let have = w.start..w.start + w.bytes.len() as u64;
        if offset < have.start || end > have.end {
            // Reading on from where the window ends: a reader going through the file.
            w.next = if offset >= have.start && offset <= have.end && !w.bytes.is_empty() {
                (w.next * 2).min(WINDOW_MAX)
            } else {
                w.first
            };
            let windows = &self.shared.windows;
            let held = windows
                .load(Ordering::Relaxed)
                .saturating_sub(w.bytes.len() as u64);
            let want = window_len(held, w.next, end - offset);
            let fetch_end = offset.saturating_add(want).min(self.meta.size);
            let before = w.bytes.len() as u64;
            (w.start, w.bytes) = self.fetch(offset, fetch_end)?;
            windows.fetch_add(w.bytes.len() as u64, Ordering::Relaxed);
            windows.fetch_sub(before, Ordering::Relaxed);
        }
        let at = (offset - w.start) as usize;
        buf.copy_from_slice(&w.bytes[at..at + buf.len()]);
        Ok(())
    }
}

impl Drop for ObjectFile {
    fn drop(&mut self) {
        let held = lock(&self.window).bytes.len() as u64;
        self.shared.windows.fetch_sub(held, Ordering::Relaxed);
    }
}

impl SourceFile for ObjectFile {
    /// The version opened: a change shows when a read's GET is refused.
    fn stamp(&self) -> io::Result<Stamp> {
        Ok(self.stamp)
    }

    fn reading_through(&self) {
        let mut w = lock(&self.window);
        w.first = WINDOW_FIRST;
        w.next = w.next.max(WINDOW_FIRST);
    }
}

/// How much a GET fetches for a read of `asked` bytes: the window (`next`) while the other
/// open files' windows (`held`) leave room for it in the budget, else only what was asked.
fn window_len(held: u64, next: u64, asked: u64) -> u64 {
    if held.saturating_add(next) > WINDOWS_BUDGET {
        asked
    } else {
        asked.max(next)
    }
}

/// Whether two ETags name one version: servers quote them in one answer and not in
/// another (rclone's listings and GETs), and may mark them weak.
fn same_etag(a: &Option<String>, b: &Option<String>) -> bool {
    let bare = |e: &Option<String>| {
        e.as_deref()
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
    };
    bare(a) == bare(b)
}

fn invalid_name() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a name the object store cannot hold",
    )
}

fn changed() -> io::Error {
    io::Error::other("source object changed since it was planned")
}

/// The store's error as an I/O error that names no key and no address. The crate's own
/// messages carry both (in the URL, and in the XML body of the server's answer): the
/// message is kept up to any body, every address in it is replaced, and so is `key`.
fn store_error(e: object_store::Error, key: Option<&Key>) -> io::Error {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => io::Error::from(io::ErrorKind::NotFound),
        E::Precondition { .. } => changed(),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the object store refused the request (check the credentials)",
        ),
        other => io::Error::other(scrubbed(&other.to_string(), key)),
    }
}

fn scrubbed(message: &str, key: Option<&Key>) -> String {
    static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s,;()"'<>]*"#).expect("valid pattern")
    });
    let head = message.split('<').next().unwrap_or_default();
    let mut out = ADDRESS.replace_all(head, "<address>").into_owned();
    if let Some(k) = key.map(|k| k.as_ref()).filter(|k| !k.is_empty()) {
        out = out.replace(k, "<key>");
    }
    out.trim_end_matches([' ', ':']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_only_while_all_open_files_together_stay_within_the_budget() {
        assert_eq!(window_len(0, WINDOW_MAX, 4096), WINDOW_MAX);
        assert_eq!(
            window_len(WINDOWS_BUDGET - WINDOW_MAX, WINDOW_MAX, 4096),
            WINDOW_MAX
        );
        assert_eq!(
            window_len(WINDOWS_BUDGET - WINDOW_MAX + 1, WINDOW_MAX, 4096),
            4096
        );
        assert_eq!(
            window_len(WINDOWS_BUDGET, WINDOW_FIRST, 1 << 21),
            1 << 21,
            "a read gets what it asked for"
        );
    }

    #[test]
    fn etags_match_quoted_or_not() {
        let e = |s: &str| Some(s.to_string());
        assert!(same_etag(&e("\"848c\""), &e("848c")));
        assert!(same_etag(&e("W/\"848c\""), &e("848c")));
        assert!(!same_etag(&e("848c"), &e("848d")));
        assert!(!same_etag(&e("848c"), &None));
    }

    #[test]
    fn store_errors_name_neither_the_key_nor_the_address() {
        let key = Key::parse("SMITH^JOHN/1.2.840.99/slice 1.dcm").unwrap();
        let message = "Generic S3 error: Error performing GET http://127.0.0.1:8333/b/SMITH%5EJOHN/1.2.840.99/slice%201.dcm in 3ms - Server returned non-2XX status code: 503 Service Unavailable: <?xml version=\"1.0\"?><Error><Key>SMITH^JOHN/1.2.840.99/slice 1.dcm</Key></Error>";
        let s = scrubbed(message, Some(&key));
        assert!(
            !s.contains("SMITH") && !s.contains("1.2.840.99") && !s.contains("127.0.0.1"),
            "{s}"
        );
        assert!(s.contains("503 Service Unavailable"), "{s}");
        let listed = scrubbed(
            "listing SMITH^JOHN/1.2.840.99/slice 1.dcm failed",
            Some(&key),
        );
        assert!(!listed.contains("SMITH"), "{listed}");
    }
}
