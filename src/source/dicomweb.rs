//! A DICOMweb server (a PACS, Orthanc, dcm4chee, a cloud DICOM store) as the archive.
//!
//! Guarantees:
//! - **The tree is the server's, all of it.** QIDO-RS lists studies, a study's series and a
//!   series' instances, paged with `limit`/`offset` until a page brings nothing new: a server
//!   that caps its answers (Orthanc's `LimitFindResults`, the 5,000-study cap Google's
//!   DICOMFuse lost studies to) is paged through. The tree is `STUDY/SERIES/INSTANCE.dcm`,
//!   named by the UIDs (a name that is not a UID is left out).
//! - **Files as stored.** An instance is fetched whole with WADO-RS, `transfer-syntax=*`
//!   (no transcoding), into the disk cache, and planned and read from there as a local file.
//! - **A version per instance.** On Orthanc (detected by its `/system`), the version is the
//!   stored attachment's size and UUID from its REST API, known before fetching: a replaced
//!   instance is fetched again once its series is listed again (after the ttl). Elsewhere
//!   an instance is taken as immutable under its SOP Instance UID (as DICOM says it is) and
//!   its version is a digest of its bytes.
//! - **The disk cache holds source files (PHI) and nothing names them**: a folder of its own
//!   (mode 0700) under the cache directory, files named by a digest, bounded by its size
//!   (least recently used removed first), removed when the source closes, and any left by a
//!   process that died removed at the next start.
//! - **No UID or address in any message.**

use super::{Entry, Kind, Source, SourceFile, Stamp};
use crate::io::{FileAt, ReadAt};
use crate::lock;
use lru::LruCache;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Results asked for per QIDO request, by default.
pub const PAGE: usize = 1000;
/// Folder listings kept.
const FOLDERS_KEPT: usize = 4096;

#[derive(Debug, Default)]
struct Requests {
    qido: AtomicU64,
    wado: AtomicU64,
    rest: AtomicU64,
    bytes: AtomicU64,
}

/// What an instance is now, where the server says so before it is fetched.
#[derive(Debug, Clone, Default)]
struct Version {
    /// Orthanc's attachment size and UUID; empty elsewhere.
    tag: String,
}

struct Folder {
    at: Instant,
    entries: Vec<Entry>,
    versions: HashMap<OsString, Version>,
    stamp: Stamp,
}

pub struct DicomWebSource {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// The DICOMweb root (`.../dicom-web`), no trailing `/`.
    base: String,
    /// Orthanc's REST root, when the server is Orthanc.
    orthanc: Option<String>,
    id: [u8; 32],
    ttl: Duration,
    /// Results asked for per QIDO request.
    page: usize,
    folders: Mutex<LruCache<PathBuf, Arc<Folder>>>,
    cache: DiskCache,
    requests: Requests,
}

impl DicomWebSource {
    /// A source of the server at `base` (http:// or https://, its DICOMweb root), caching
    /// instances in a new folder of `cache_dir` up to `cache_bytes`; listings kept `ttl`;
    /// `page` results asked for per QIDO request.
    pub fn new(
        base: &str,
        cache_dir: &Path,
        cache_bytes: u64,
        ttl: Duration,
        page: usize,
    ) -> io::Result<Self> {
        let runtime = super::runtime("deidfs-dicomweb")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|_| io::Error::other("cannot make an HTTP client"))?;
        let base = base.trim_end_matches('/').to_string();
        let mut source = Self {
            http,
            runtime,
            id: *blake3::hash(base.as_bytes()).as_bytes(),
            base,
            orthanc: None,
            ttl,
            page: page.max(1),
            folders: Mutex::new(LruCache::new(
                NonZeroUsize::new(FOLDERS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            cache: DiskCache::new(cache_dir, cache_bytes)?,
            requests: Requests::default(),
        };
        source.orthanc = source.orthanc_root();
        Ok(source)
    }

    /// Orthanc's REST root, if the server is Orthanc: its DICOMweb root is `REST/dicom-web`
    /// and `REST/system` names it.
    fn orthanc_root(&self) -> Option<String> {
        let rest = self.base.strip_suffix("/dicom-web")?.to_string();
        let system: serde_json::Value = self.get_json(&format!("{rest}/system")).ok()?;
        system.get("ApiVersion")?;
        tracing::info!("the DICOMweb server is Orthanc: versions from its REST API");
        Some(rest)
    }

    /// One request: the answer's content type and body, or why it failed (naming no URL).
    fn send(&self, request: reqwest::RequestBuilder) -> io::Result<(String, bytes::Bytes)> {
        self.runtime.block_on(async {
            let r = checked(request.send().await.map_err(http_error)?)?;
            let content_type = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            Ok((content_type, r.bytes().await.map_err(http_error)?))
        })
    }

    /// A REST answer as JSON (`what` names the answer in the error).
    fn rest_json(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> io::Result<serde_json::Value> {
        self.requests.rest.fetch_add(1, Ordering::Relaxed);
        let (_, body) = self.send(request)?;
        serde_json::from_slice(&body).map_err(|_| io::Error::other(format!("{what} with no JSON")))
    }

    fn get_json(&self, url: &str) -> io::Result<serde_json::Value> {
        self.rest_json(self.http.get(url), "the server answered")
    }

    /// Every value of `tag` (`GGGGEEEE`) of a QIDO-RS query, paged until nothing new comes.
    fn qido(&self, path: &str, tag: &str) -> io::Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        loop {
            let url = format!(
                "{}/{path}?limit={}&offset={}&includefield={tag}",
                self.base,
                self.page,
                out.len()
            );
            self.requests.qido.fetch_add(1, Ordering::Relaxed);
            let (_, body) = self.send(
                self.http
                    .get(&url)
                    .header("Accept", "application/dicom+json"),
            )?;
            // No match: 204 No Content, or an empty body.
            let page: Vec<serde_json::Value> = if body.is_empty() {
                Vec::new()
            } else {
                serde_json::from_slice(&body)
                    .map_err(|_| io::Error::other("a QIDO-RS answer that is not a JSON array"))?
            };
            let before = out.len();
            for v in page {
                let uid = v[tag]["Value"][0].as_str().map(str::to_string);
                if let Some(uid) = uid.filter(|u| is_uid(u))
                    && seen.insert(uid.clone())
                {
                    out.push(uid);
                }
            }
            // An empty page ends it; so does one with nothing new (a server ignoring offset).
            if out.len() == before {
                return Ok(out);
            }
        }
    }

    fn folder(&self, rel: &Path) -> io::Result<Arc<Folder>> {
        if let Some(f) = lock(&self.folders).get(rel)
            && f.at.elapsed() < self.ttl
        {
            return Ok(f.clone());
        }
        let folder = Arc::new(self.list_folder(rel)?);
        lock(&self.folders).put(rel.to_path_buf(), folder.clone());
        Ok(folder)
    }

    fn list_folder(&self, rel: &Path) -> io::Result<Folder> {
        let parts = uids(rel)?;
        let mut versions = HashMap::new();
        let entries: Vec<Entry> = match parts.as_slice() {
            [] => dirs(self.qido("studies", "0020000D")?),
            [study] => dirs(self.qido(&format!("studies/{study}/series"), "0020000E")?),
            [study, series] => {
                let sops = self.qido(
                    &format!("studies/{study}/series/{series}/instances"),
                    "00080018",
                )?;
                let known = match &self.orthanc {
                    Some(rest) => self.orthanc_versions(rest, series)?,
                    None => HashMap::new(),
                };
                let mut files = Vec::with_capacity(sops.len());
                for sop in sops {
                    let name = OsString::from(format!("{sop}.dcm"));
                    versions.insert(name.clone(), known.get(&sop).cloned().unwrap_or_default());
                    files.push(Entry {
                        name,
                        kind: Kind::File,
                    });
                }
                files
            }
            _ => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        if !parts.is_empty() && entries.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let mut entries = entries;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut h = blake3::Hasher::new_derive_key("deidfs dicomweb folder v1");
        for e in &entries {
            h.update(e.name.as_encoded_bytes());
            h.update(b"\0");
            if let Some(v) = versions.get(&e.name) {
                h.update(v.tag.as_bytes());
            }
            h.update(b"\0");
        }
        Ok(Folder {
            at: Instant::now(),
            entries,
            versions,
            stamp: Stamp::digest(0, h.finalize().as_bytes()),
        })
    }

    /// Orthanc's size and attachment UUID of each instance of a series, by SOP Instance UID.
    fn orthanc_versions(&self, rest: &str, series: &str) -> io::Result<HashMap<String, Version>> {
        let lookup = self
            .http
            .post(format!("{rest}/tools/lookup"))
            .body(series.to_string());
        let found = self.rest_json(lookup, "Orthanc's lookup answered")?;
        let mut out = HashMap::new();
        let ids = found.as_array().into_iter().flatten();
        for id in ids
            .filter(|f| f["Type"] == "Series")
            .filter_map(|f| f["ID"].as_str())
        {
            let instances = self.get_json(&format!("{rest}/series/{id}/instances"))?;
            for i in instances.as_array().into_iter().flatten() {
                let sop = i["MainDicomTags"]["SOPInstanceUID"].as_str();
                if let (Some(sop), Some(size), Some(uuid)) =
                    (sop, i["FileSize"].as_u64(), i["FileUuid"].as_str())
                {
                    out.insert(
                        sop.to_string(),
                        Version {
                            tag: format!("{size}:{uuid}"),
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// The cached file of an instance, fetched first if it is not in the cache.
    fn cached(&self, rel: &Path) -> io::Result<Cached> {
        let parts = uids(rel)?;
        let [study, series, file] = parts.as_slice() else {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        };
        let sop = file
            .strip_suffix(".dcm")
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let parent = self.folder(rel.parent().unwrap_or(Path::new("")))?;
        let name = rel.file_name().unwrap_or_default();
        let version = parent
            .versions
            .get(name)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let mut key = blake3::Hasher::new_derive_key("deidfs dicomweb cache v1");
        key.update(&self.id);
        key.update(rel.as_os_str().as_encoded_bytes());
        key.update(b"\0");
        key.update(version.tag.as_bytes());
        let key = *key.finalize().as_bytes();
        if let Some(c) = self.cache.get(&key) {
            return Ok(c);
        }
        let url = format!(
            "{}/studies/{study}/series/{series}/instances/{sop}",
            self.base
        );
        self.requests.wado.fetch_add(1, Ordering::Relaxed);
        let (content_type, body) = self.send(self.http.get(&url).header(
            "Accept",
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        ))?;
        let bytes = single_part(&content_type, &body)?;
        self.requests
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let mut h = blake3::Hasher::new_derive_key("deidfs dicomweb stamp v1");
        h.update(&key);
        if version.tag.is_empty() {
            h.update(blake3::hash(bytes).as_bytes());
        }
        let stamp = Stamp::digest(bytes.len() as u64, h.finalize().as_bytes());
        self.cache.put(key, bytes, stamp)
    }
}

impl Source for DicomWebSource {
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        Ok(self.folder(dir)?.entries.clone())
    }

    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>> {
        Ok(Box::new(self.cached(file)?.open()?))
    }

    fn stamp(&self, path: &Path) -> io::Result<Stamp> {
        if uids(path)?.len() < 3 {
            return Ok(self.folder(path)?.stamp);
        }
        Ok(self.cached(path)?.stamp)
    }

    fn requests(&self) -> Option<String> {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let r = &self.requests;
        Some(format!(
            "{} QIDO-RS, {} WADO-RS, {} REST, {:.1} MB received",
            n(&r.qido),
            n(&r.wado),
            n(&r.rest),
            n(&r.bytes) as f64 / 1e6
        ))
    }

    fn close(&self) {
        self.cache.wipe();
    }
}

fn dirs(uids: Vec<String>) -> Vec<Entry> {
    uids.into_iter()
        .map(|u| Entry {
            name: u.into(),
            kind: Kind::Dir,
        })
        .collect()
}

/// The components of a path of the tree (each a UID, the last maybe `UID.dcm`).
fn uids(rel: &Path) -> io::Result<Vec<&str>> {
    rel.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| match c {
            std::path::Component::Normal(n) => n
                .to_str()
                .filter(|s| is_uid(s.strip_suffix(".dcm").unwrap_or(s)))
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound)),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        })
        .collect()
}

/// A DICOM UID: digits and dots, at most 64 characters (so it is safe in a URL and a name).
fn is_uid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// The one body part of a `multipart/related` answer (WADO-RS sends an instance as one).
fn single_part<'a>(content_type: &str, body: &'a [u8]) -> io::Result<&'a [u8]> {
    let bad = || io::Error::other("a WADO-RS answer that is not one multipart/related part");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/related")
    {
        // A server that sends the instance itself.
        return if content_type.starts_with("application/dicom") {
            Ok(body)
        } else {
            Err(bad())
        };
    }
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"'))
        .ok_or_else(bad)?;
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let start = find(body, delimiter.as_bytes(), 0).ok_or_else(bad)? + delimiter.len();
    let headers_end = find(body, b"\r\n\r\n", start).ok_or_else(bad)? + 4;
    let end_marker = format!("\r\n{delimiter}");
    let end = find(body, end_marker.as_bytes(), headers_end).ok_or_else(bad)?;
    // One part only: what follows its end is the closing delimiter.
    if body.get(end + end_marker.len()..end + end_marker.len() + 2) != Some(b"--") {
        return Err(bad());
    }
    Ok(&body[headers_end..end])
}

fn checked(r: reqwest::Response) -> io::Result<reqwest::Response> {
    let status = r.status();
    if status.is_success() {
        return Ok(r);
    }
    Err(match status.as_u16() {
        404 => io::Error::from(io::ErrorKind::NotFound),
        401 | 403 => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the DICOMweb server refused the request (check the credentials)",
        ),
        _ => io::Error::other(format!("the DICOMweb server answered {status}")),
    })
}

/// An HTTP failure, without the URL (it holds UIDs).
fn http_error(e: reqwest::Error) -> io::Error {
    let what = if e.is_connect() {
        "cannot connect to the DICOMweb server"
    } else if e.is_timeout() {
        "the DICOMweb server did not answer in time"
    } else {
        "a request to the DICOMweb server failed"
    };
    io::Error::other(what)
}

/// An instance in the disk cache.
#[derive(Clone)]
struct Cached {
    path: PathBuf,
    stamp: Stamp,
}

impl Cached {
    fn open(&self) -> io::Result<CachedFile> {
        Ok(CachedFile {
            file: FileAt::open(&self.path)?,
            stamp: self.stamp,
        })
    }
}

/// A cached instance opened: read as a local file, stamped with the instance's version.
struct CachedFile {
    file: FileAt,
    stamp: Stamp,
}

impl ReadAt for CachedFile {
    fn len(&self) -> u64 {
        self.file.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn copy_to(&self, offset: u64, len: u64, out: &mut std::fs::File) -> io::Result<()> {
        self.file.copy_to(offset, len, out)
    }
}

impl SourceFile for CachedFile {
    fn stamp(&self) -> io::Result<Stamp> {
        Ok(self.stamp)
    }
}

/// Fetched instances by cache key, each with its size, and the bytes they hold in all.
type Held = (LruCache<[u8; 32], (Cached, u64)>, u64);

/// Fetched instances on disk: a folder of this process's own, bounded by bytes.
struct DiskCache {
    dir: PathBuf,
    budget: u64,
    files: Mutex<Held>,
}

impl DiskCache {
    fn new(parent: &Path, budget: u64) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
        remove_dead(parent);
        let dir = parent.join(format!("deidfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self {
            dir,
            budget,
            files: Mutex::new((LruCache::unbounded(), 0)),
        })
    }

    fn get(&self, key: &[u8; 32]) -> Option<Cached> {
        lock(&self.files).0.get(key).map(|(c, _)| c.clone())
    }

    /// Writes an instance (then renamed into place) and removes the least recently used
    /// ones beyond the budget (open ones stay readable until closed).
    fn put(&self, key: [u8; 32], bytes: &[u8], stamp: Stamp) -> io::Result<Cached> {
        let name: String = key.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.part"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        let cached = Cached { path, stamp };
        let mut files = lock(&self.files);
        let size = bytes.len() as u64;
        if let Some((_, old)) = files.0.put(key, (cached.clone(), size)) {
            files.1 -= old;
        }
        files.1 += size;
        while files.1 > self.budget && files.0.len() > 1 {
            let Some((_, (gone, n))) = files.0.pop_lru() else {
                break;
            };
            let _ = std::fs::remove_file(&gone.path);
            files.1 -= n;
        }
        Ok(cached)
    }

    fn wipe(&self) {
        lock(&self.files).0.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for DiskCache {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Removes the cache folders of processes that are gone (a daemon that was killed).
fn remove_dead(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("deidfs-"))
            .and_then(|p| p.parse::<i32>().ok());
        // SAFETY: kill with signal 0 only asks whether the process exists.
        if let Some(pid) = pid
            && unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_multipart_related_part_is_the_instance() {
        let body = b"--abc\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--x\r\n--abc--\r\n";
        let ct = "multipart/related; type=\"application/dicom\"; boundary=abc";
        assert_eq!(single_part(ct, body).unwrap(), b"DICM\r\n--x");
        let two = b"--abc\r\n\r\nA\r\n--abc\r\n\r\nB\r\n--abc--";
        assert!(
            single_part(ct, two).is_err(),
            "two instances where one was asked"
        );
        assert!(single_part("text/html", b"<html>").is_err());
    }

    #[test]
    fn only_uids_name_the_tree() {
        assert!(uids(Path::new("1.2.3/4.5/6.7.dcm")).is_ok());
        assert!(uids(Path::new("../etc")).is_err());
        assert!(uids(Path::new("1.2.3/x y")).is_err());
        assert!(!is_uid(&"1".repeat(65)));
    }

    #[test]
    fn the_cache_is_bounded_private_and_gone_when_wiped() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(parent.path(), 10).unwrap();
        let mode = std::fs::metadata(&cache.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let s = Stamp::digest(6, &[1; 32]);
        let a = cache.put([1; 32], b"aaaaaa", s).unwrap();
        let b = cache.put([2; 32], b"bbbbbb", s).unwrap();
        assert!(
            !a.path.exists(),
            "the least recently used is removed past the budget"
        );
        assert!(b.path.exists());
        assert!(cache.get(&[1; 32]).is_none());
        cache.wipe();
        assert!(!cache.dir.exists());
    }
}
