//! Walking the whole view: every visible file as soon as its directory is listed, with
//! several threads listing at once, and every hidden file with its reason, in memory bounded
//! by the directories in flight.

use crate::fs::{FsError, KeyHolderView, ROOT};
use crate::lock;
use crate::source::Kind;
use std::path::PathBuf;
use std::sync::Mutex;

/// Directories the key holder's tools (scan, crosswalk) list at once: each listing plans its
/// files on the view's planners, and the next listing overlaps with the last one's disk reads.
pub const JOBS: usize = 4;

/// A visible file: its view path (relative, '/'-separated) and inode.
pub struct ViewFile {
    pub view_path: String,
    pub ino: u64,
    pub size: u64,
}

/// A hidden source file (relative path: PHI) and the reason.
pub type HiddenFile = (PathBuf, &'static str);

/// Lists the view with `jobs` threads and hands each visible file to `each` as soon as its
/// directory is listed, on the thread that listed it: with more than one job, listing one
/// directory overlaps with work on the files of another. With one job, files come in listing
/// order (a directory's files, then its subdirectories, depth first). Once a directory's
/// files have been handed over, the view lets go of them (`KeyHolderView::done_with`): a
/// file's inode is valid only inside `each`, and the walk holds the directories in flight,
/// not the tree. Returns the hidden files.
pub fn visit(
    fs: &KeyHolderView,
    jobs: usize,
    each: impl Fn(ViewFile) + Sync,
) -> anyhow::Result<Vec<HiddenFile>> {
    visit_until(fs, jobs, &std::sync::atomic::AtomicBool::new(false), each)
}

/// [`visit`], which lists no more folders once `stop` is set (what was listed is still
/// visited: `each` says what it does with it).
pub fn visit_until(
    fs: &KeyHolderView,
    jobs: usize,
    stop: &std::sync::atomic::AtomicBool,
    each: impl Fn(ViewFile) + Sync,
) -> anyhow::Result<Vec<HiddenFile>> {
    struct Queue {
        dirs: Vec<(u64, String)>,
        busy: usize,
        error: Option<FsError>,
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
    let list = |dir: u64, prefix: &str| -> Result<Listed, FsError> {
        let entries = fs.readdir(dir)?;
        lock(&hidden).extend(fs.hidden(dir)?);
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
                            if q.error.is_some() || stop.load(std::sync::atomic::Ordering::Relaxed)
                            {
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
                    fs.done_with(dir);
                }
            });
        }
    });
    if let Some(e) = queue.into_inner().unwrap_or_else(|e| e.into_inner()).error {
        return Err(e.into());
    }
    Ok(hidden.into_inner().unwrap_or_else(|e| e.into_inner()))
}
