//! The key holder's and batch tools: resolve a view path to its source, write the crosswalk
//! tables, export the view as files, and scan what the view would show and hide. All of them
//! walk the same `DeidFs` the mount serves, so names, visibility and bytes are the mount's.

use crate::deid::{Change, Engine};
use crate::fs::{DeidFs, ROOT};
use crate::lock;
use crate::policy::Policy;
use crate::pseudonym::Pseudonyms;
use crate::source::Kind;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A visible file: its view path (relative, '/'-separated) and inode.
pub struct ViewFile {
    pub view_path: String,
    pub ino: u64,
    pub size: u64,
}

/// A hidden source file (relative path: PHI) and the reason.
pub type HiddenFile = (PathBuf, &'static str);

/// Every visible file, in listing order, and every hidden one with its reason.
pub fn walk(fs: &DeidFs) -> Result<(Vec<ViewFile>, Vec<HiddenFile>), String> {
    let files = Mutex::new(Vec::new());
    let hidden = visit(fs, 1, |f| lock(&files).push(f))?;
    Ok((
        files.into_inner().unwrap_or_else(|e| e.into_inner()),
        hidden,
    ))
}

/// Lists the view with `jobs` threads and hands each visible file to `each` as soon as its
/// directory is listed, on the thread that listed it: with more than one job, listing one
/// directory overlaps with work on the files of another. With one job, files come in listing
/// order (a directory's files, then its subdirectories, depth first). Returns the hidden files.
pub fn visit(
    fs: &DeidFs,
    jobs: usize,
    each: impl Fn(ViewFile) + Sync,
) -> Result<Vec<HiddenFile>, String> {
    struct Queue {
        dirs: Vec<(u64, String)>,
        busy: usize,
        error: Option<String>,
    }
    let queue = Mutex::new(Queue {
        dirs: vec![(ROOT, String::new())],
        busy: 0,
        error: None,
    });
    let wake = std::sync::Condvar::new();
    let hidden = Mutex::new(Vec::new());
    // A directory's subdirectories (inode, view path) and visible files.
    type Listed = (Vec<(u64, String)>, Vec<ViewFile>);
    let list = |dir: u64, prefix: &str| -> Result<Listed, String> {
        let entries = fs
            .readdir(dir)
            .map_err(|e| format!("{}: {e}", if prefix.is_empty() { "/" } else { prefix }))?;
        lock(&hidden).extend(fs.hidden(dir).map_err(|e| e.to_string())?);
        let (mut subdirs, mut files) = (Vec::new(), Vec::new());
        for e in entries {
            let path = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            match e.attr.kind {
                Kind::Dir => subdirs.push((e.attr.ino, path)),
                Kind::File => files.push(ViewFile {
                    view_path: path,
                    ino: e.attr.ino,
                    size: e.attr.size,
                }),
            }
        }
        Ok((subdirs, files))
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let (dir, prefix) = {
                        let mut q = lock(&queue);
                        loop {
                            if q.error.is_some() {
                                return;
                            }
                            if let Some(d) = q.dirs.pop() {
                                q.busy += 1;
                                break d;
                            }
                            if q.busy == 0 {
                                return;
                            }
                            q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let listed = list(dir, &prefix);
                    let files = {
                        let mut q = lock(&queue);
                        q.busy -= 1;
                        let files = match listed {
                            Ok((subdirs, files)) => {
                                q.dirs.extend(subdirs.into_iter().rev());
                                files
                            }
                            Err(e) => {
                                q.error.get_or_insert(e);
                                Vec::new()
                            }
                        };
                        wake.notify_all();
                        files
                    };
                    files.into_iter().for_each(&each);
                }
            });
        }
    });
    if let Some(e) = queue.into_inner().unwrap_or_else(|e| e.into_inner()).error {
        return Err(e);
    }
    Ok(hidden.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// The view-relative form of a path: relative as given, or absolute under a live deidfs mount.
pub fn relative_view_path(path: &Path) -> Result<PathBuf, String> {
    if path.is_relative() {
        return Ok(path.to_path_buf());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mount = info
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("fuse.deidfs "))
        })
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .ok_or_else(|| {
            format!(
                "{}: not under a live deidfs mount; give the path relative to the mount root",
                path.display()
            )
        })?;
    Ok(path.strip_prefix(&mount).unwrap_or(path).to_path_buf())
}

/// The source path (under `source_root`) that a view path comes from.
pub fn resolve(fs: &DeidFs, source_root: &Path, view_path: &Path) -> Result<PathBuf, String> {
    let rel = relative_view_path(view_path)?;
    let mut ino = ROOT;
    for comp in rel.components() {
        match comp {
            std::path::Component::Normal(name) => {
                ino = fs
                    .lookup(ino, name)
                    .map_err(|_| format!("{}: no such path in the view (check the key and the policy it was mounted with)", rel.display()))?
                    .ino;
            }
            std::path::Component::CurDir | std::path::Component::RootDir => {}
            _ => {
                return Err(format!(
                    "{}: give a plain path inside the view",
                    rel.display()
                ));
            }
        }
    }
    Ok(source_root.join(fs.source_path(ino).map_err(|e| e.to_string())?))
}

const CROSSWALK_UIDS: [(u16, u16); 4] = [
    (0x0020, 0x000D),
    (0x0020, 0x000E),
    (0x0008, 0x0018),
    (0x0020, 0x0052),
];
const PATIENT_ID: (u16, u16) = (0x0010, 0x0020);

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_private(
    path: &Path,
    header: &str,
    rows: &BTreeSet<(String, String)>,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = crate::io::create_private(path, crate::io::Private::New)?;
    writeln!(f, "{header}")?;
    for (a, b) in rows {
        writeln!(f, "{},{}", csv_field(a), csv_field(b))?;
    }
    f.sync_all()
}

pub struct CrosswalkCounts {
    pub uids: usize,
    pub patients: usize,
    pub paths: usize,
}

/// Writes `uid_mapping.csv`, `patid_mapping.csv` and `path_mapping.csv` (mode 0600) for every
/// visible file: the values as they are in the source and in the view.
pub fn crosswalk(
    fs: &DeidFs,
    policy: &Policy,
    keys: &Pseudonyms,
    out: &Path,
) -> Result<CrosswalkCounts, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let (files, _) = walk(fs)?;
    let (mut uids, mut pids, mut paths) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for f in &files {
        let rel = fs.source_path(f.ino).map_err(|e| e.to_string())?;
        paths.insert((rel.display().to_string(), f.view_path.clone()));
        // Through the source, confined to its root like every other open of the view.
        let src = fs
            .open_source(f.ino)
            .map_err(|e| format!("{}: {e}", f.view_path))?;
        let mut engine = Engine::new(policy, keys);
        engine.trace = true;
        let Ok(outcome) = engine.plan(src.as_ref()) else {
            continue;
        };
        for c in outcome.trace.iter().filter(|c| c.depth == 0) {
            let (Some(before), Some(after)) =
                (Change::text_of(&c.before), Change::text_of(&c.after))
            else {
                continue; // removed, or not a value that was read
            };
            if before.is_empty() {
                continue;
            }
            if CROSSWALK_UIDS.contains(&(c.tag.0, c.tag.1)) {
                uids.insert((before, after));
            } else if (c.tag.0, c.tag.1) == PATIENT_ID {
                pids.insert((before, after));
            }
        }
    }
    let w = |name: &str, header: &str, rows: &BTreeSet<(String, String)>| {
        write_private(&out.join(name), header, rows)
            .map_err(|e| format!("{}: {e}", out.join(name).display()))
    };
    w("uid_mapping.csv", "id_old,id_new", &uids)?;
    w("patid_mapping.csv", "id_old,id_new", &pids)?;
    w("path_mapping.csv", "path_old,path_new", &paths)?;
    Ok(CrosswalkCounts {
        uids: uids.len(),
        patients: pids.len(),
        paths: paths.len(),
    })
}

#[derive(Debug, Default)]
pub struct ExportSummary {
    pub written: usize,
    pub skipped: usize,
    pub failed: usize,
    pub bytes: u64,
    pub hidden: BTreeMap<&'static str, usize>,
}

const MANIFEST: &str = ".deidfs-export";

/// Writes the view's files under `dest` with `jobs` threads. A file whose source version and
/// policy are unchanged since the last export (per the keyed manifest) is skipped; every file
/// is written under a temporary name and renamed when complete.
pub fn export(
    fs: &DeidFs,
    keys: &Pseudonyms,
    planner_id: &str,
    dest: &Path,
    jobs: usize,
    progress: bool,
) -> Result<ExportSummary, String> {
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut summary = ExportSummary::default();
    let manifest_path = dest.join(MANIFEST);
    let old: BTreeMap<String, String> = std::fs::read_to_string(&manifest_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    // The total grows as directories are listed (listing and writing overlap).
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let (written, skipped, failed, bytes) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicU64::new(0),
    );
    let manifest = Mutex::new(BTreeMap::new());
    let hidden = visit(fs, jobs, |f| {
        if let Some(b) = &bar {
            b.inc_length(f.size);
        }
        let target = dest.join(&f.view_path);
        let digest = fs.version(f.ino).map(|(stamp, size)| {
            keys.manifest_digest(format!("{planner_id}|{stamp:?}|{size}").as_bytes())
        });
        let same = digest
            .as_ref()
            .is_some_and(|d| old.get(&f.view_path) == Some(d))
            && std::fs::metadata(&target).is_ok_and(|m| m.len() == f.size);
        let result = if same {
            skipped.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            write_one(fs, f.ino, &target).map(|n| {
                written.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(n, Ordering::Relaxed);
            })
        };
        match (result, digest) {
            (Ok(()), Some(d)) => {
                lock(&manifest).insert(f.view_path.clone(), d);
            }
            (Ok(()), None) => {}
            (Err(e), _) => {
                failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(file = %f.view_path, error = %e, "export failed");
            }
        }
        if let Some(b) = &bar {
            b.inc(f.size);
            let done = written.load(Ordering::Relaxed) + skipped.load(Ordering::Relaxed);
            b.set_message(format!("{done} files"));
        }
    })?;
    for (_, reason) in &hidden {
        *summary.hidden.entry(reason).or_default() += 1;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let manifest = manifest.into_inner().unwrap_or_else(|e| e.into_inner());
    let text: String = manifest
        .iter()
        .map(|(k, v)| format!("{k}\t{v}\n"))
        .collect();
    // The files were written without a flush each: flush the whole destination once, then
    // record them in the manifest.
    if let Ok(d) = std::fs::File::open(dest) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs on a descriptor we own.
        unsafe { libc::syncfs(d.as_raw_fd()) };
    }
    crate::io::write_atomically(&manifest_path, true, |w| w.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    summary.written = written.into_inner();
    summary.skipped = skipped.into_inner();
    summary.failed = failed.into_inner();
    summary.bytes = bytes.into_inner();
    Ok(summary)
}

fn write_one(fs: &DeidFs, ino: u64, target: &Path) -> Result<u64, String> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let (plan, file) = fs.plan_of(ino).map_err(|e| e.to_string())?;
    crate::io::write_atomically(target, false, |w| plan.write_to_file(file.as_ref(), w))
        .map_err(|e| e.to_string())?;
    Ok(plan.len())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ScanReport {
    pub visible: usize,
    pub hidden: BTreeMap<String, usize>,
    pub by_modality: BTreeMap<String, usize>,
    pub by_transfer_syntax: BTreeMap<String, usize>,
    /// Source paths of hidden files with the reason: only with --show-paths (PHI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden_paths: Vec<(String, String)>,
}

/// What the view would show and hide, counted by reason, modality and transfer syntax.
pub fn scan(fs: &DeidFs, show_paths: bool) -> Result<ScanReport, String> {
    let (files, hidden) = walk(fs)?;
    let mut r = ScanReport {
        visible: files.len(),
        ..Default::default()
    };
    for f in &files {
        if let Some(info) = fs.file_info(f.ino) {
            let modality = if info.modality.is_empty() {
                "(none)".to_string()
            } else {
                info.modality.clone()
            };
            *r.by_modality.entry(modality).or_default() += 1;
            *r.by_transfer_syntax
                .entry(info.transfer_syntax.clone())
                .or_default() += 1;
        }
    }
    for (path, reason) in hidden {
        *r.hidden.entry(reason.to_string()).or_default() += 1;
        if show_paths {
            r.hidden_paths
                .push((path.display().to_string(), reason.to_string()));
        }
    }
    Ok(r)
}
