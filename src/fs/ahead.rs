//! Reading ahead of a walker (`ls -lR`, `find`, `du`, the key holder's tools). Planning a
//! folder's files reads each file's header, and a walker lists one folder at a time, so on a
//! cold cache the disk would see only as many reads at once as there are planners. When a
//! folder is listed, this asks the source for the first bytes of the files a depth-first
//! walk lists next (the folder's subfolders, then the folders after it, in view-name order,
//! as `ls -R` and `find` go), without waiting: the next listings find their headers read.
//!
//! It also plans the first [`PLAN_AHEAD_FILES`] of the files it hinted, in walk order, into
//! the plan cache: a walker spends time of its own on each folder it lists (`ls` sorts and
//! prints it), and without this the planners would wait for it while it waits for them. The
//! listing finds those plans cached (or being made: it waits for them rather than planning
//! twice). Nothing is shown, decided or kept in the inode table here; it lists source
//! folders and names their subfolders to know the order. It stays a number of files ahead of
//! the last folder listed (`Config::read_ahead`, by default [`READ_AHEAD_FILES`]: 16 MiB of
//! page cache at most); a walker that follows it moves it on, one that goes elsewhere starts
//! it again from there, so a walk that stops costs at most that many hints and
//! [`PLAN_AHEAD_FILES`] plans. One thread. A source that ignores hints gets none.

use super::DeidFs;
use super::inode::Node;
use super::names::NAME_CHARS;
use crate::deid::read::WINDOW_FIRST;
use crate::source::Kind;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How many files ahead of the last folder listed the source is asked to read, by default:
/// enough that the disk is kept busy while the walker lists a few folders of the usual size.
pub const READ_AHEAD_FILES: usize = 2048;

/// How many of the files hinted are planned ahead of the walker, at most: a few folders of
/// the usual size, enough to keep the planners busy while the walker reads a folder.
pub const PLAN_AHEAD_FILES: usize = 256;

/// Folders remembered as hinted, at most (then forgotten: a hint given twice costs an open).
const HINTED_MAX: usize = 1 << 16;
/// A folder hinted this long ago is hinted again when a walk comes by (its pages may be gone).
const FRESH: Duration = Duration::from_secs(60);

/// The reader ahead: told of every folder listed.
pub(super) struct Ahead {
    tx: SyncSender<Arc<Node>>,
}

impl Ahead {
    /// Starts the thread, to stay `files` ahead; `None` if that is 0 or the source ignores
    /// hints. It ends with the view.
    pub fn start(fs: &Arc<DeidFs>, files: usize) -> Option<Self> {
        if files == 0 || !fs.source.prefetch(&[], 0) {
            return None;
        }
        let (tx, rx) = sync_channel(16);
        let weak = Arc::downgrade(fs);
        std::thread::Builder::new()
            .name("deidfs-ahead".into())
            .spawn(move || run(&weak, &rx, files))
            .map_err(|e| tracing::warn!(error = %e, "no reading ahead"))
            .ok()?;
        Some(Self { tx })
    }

    /// `dir` was just listed: read ahead of it (dropped if the thread is behind).
    pub fn listed(&self, dir: &Arc<Node>) {
        let _ = self.tx.try_send(dir.clone());
    }
}

/// The files of a folder hinted, in walk order, and how many of them are planned.
struct Hinted {
    key: u64,
    files: Vec<PathBuf>,
    planned: usize,
}

fn run(fs: &Weak<DeidFs>, rx: &Receiver<Arc<Node>>, files: usize) {
    let mut hinted: HashMap<u64, (usize, Instant)> = HashMap::new();
    let mut cursor = Vec::new();
    let mut ahead_by = 0usize;
    // Folders hinted that the walker has not reached, and the files of them planned.
    let mut to_plan: VecDeque<Hinted> = VecDeque::new();
    let mut planned_ahead = 0usize;
    let plan_ahead = files.min(PLAN_AHEAD_FILES);
    let mut next = rx.recv().ok();
    while let Some(listed) = next.take() {
        let Some(fs) = fs.upgrade() else { return };
        let trail = trail(&listed);
        drop(listed);
        if hinted.len() > HINTED_MAX {
            hinted.clear();
        }
        let source: PathBuf = trail.iter().map(|(s, _)| s).collect();
        let here = key(&source);
        let mut walk = Walk {
            fs: &fs,
            hinted: &mut hinted,
            cursor: &mut cursor,
        };
        match walk.hinted.get(&here) {
            // The walker follows: it has caught up by this folder, and plans what is left of
            // it and of the folders before it.
            Some(&(n, _)) if !walk.cursor.is_empty() => {
                ahead_by = ahead_by.saturating_sub(n);
                if let Some(at) = to_plan.iter().position(|h| h.key == here) {
                    for reached in to_plan.drain(..=at) {
                        planned_ahead -= reached.planned;
                    }
                }
            }
            // It went its own way (or lists in another order, as `ls` does in some locales):
            // start again from where it is, skipping what was hinted lately.
            _ => {
                walk.hinted.insert(here, (1, Instant::now()));
                *walk.cursor = walk.levels_to(&trail);
                ahead_by = 0;
                to_plan.clear();
                planned_ahead = 0;
            }
        }
        loop {
            match rx.try_recv() {
                Ok(newer) => {
                    next = Some(newer);
                    break;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            // Hints first (they only start reads), then one plan at a time.
            if ahead_by < files
                && let Some((n, hinted)) = walk.step()
            {
                ahead_by += n;
                to_plan.extend(hinted);
                continue;
            }
            let unplanned = to_plan.iter_mut().find(|h| h.planned < h.files.len());
            match unplanned {
                Some(h) if planned_ahead < plan_ahead => {
                    let file = &h.files[h.planned];
                    h.planned += 1;
                    planned_ahead += 1;
                    // Into the plan cache; what fails is the listing's to report.
                    let _ = fs.plan_source(file);
                }
                _ => break,
            }
        }
        drop(fs);
        if next.is_none() {
            next = rx.recv().ok();
        }
    }
}

/// A folder's place from the root down: each step's source name and view name.
fn trail(node: &Node) -> Vec<(OsString, String)> {
    node.path()
        .into_iter()
        .map(|(names, i)| (names.source(i).to_owned(), names.name(i).to_owned()))
        .collect()
}

fn key(source: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

/// A folder on the walk: its subfolders in view-name order and the next one to go into.
struct Level {
    source: PathBuf,
    subfolders: Vec<(String, OsString)>,
    next: usize,
}

struct Walk<'a> {
    fs: &'a DeidFs,
    /// Folders hinted, with how far each took the walk ahead, and when.
    hinted: &'a mut HashMap<u64, (usize, Instant)>,
    /// The depth-first walk ahead, from the root down to the folder it is in.
    cursor: &'a mut Vec<Level>,
}

impl Walk<'_> {
    /// The walk from the root down to the folder at `trail`, each level past the step taken.
    fn levels_to(&self, trail: &[(OsString, String)]) -> Vec<Level> {
        let mut levels = vec![self.level(PathBuf::new(), String::new()).0];
        for (source, name) in trail {
            let Some(up) = levels.last_mut() else { break };
            up.next = up
                .subfolders
                .iter()
                .position(|(n, _)| n == name)
                .map_or(up.subfolders.len(), |i| i + 1);
            let path = up.source.join(source);
            levels.push(self.level(path, name.clone()).0);
        }
        levels
    }

    /// A folder's level and its files (an unreadable folder has none: its listing will say);
    /// `token` is its view name, which names its subfolders.
    fn level(&self, source: PathBuf, token: String) -> (Level, Vec<PathBuf>) {
        let entries = self.fs.source.list(&source).unwrap_or_default();
        let planner = &self.fs.cfg.planner;
        let mut subfolders = Vec::new();
        let mut files = Vec::new();
        for e in entries {
            match e.kind {
                Kind::Dir => {
                    let (_, name) = planner.name(&token, &e.name, Kind::Dir, NAME_CHARS);
                    subfolders.push((name, e.name));
                }
                Kind::File => files.push(source.join(&e.name)),
            }
        }
        subfolders.sort();
        let level = Level {
            source,
            subfolders,
            next: 0,
        };
        (level, files)
    }

    /// Goes into the next folder of the walk and hints its files (unless hinted lately): how
    /// far that takes the walk ahead (its files, or 1 for a folder of none, so that folders of
    /// folders count too) and the files hinted, or `None` at the end of the walk.
    fn step(&mut self) -> Option<(usize, Option<Hinted>)> {
        loop {
            let up = self.cursor.last_mut()?;
            let Some((name, source)) = up.subfolders.get(up.next).cloned() else {
                self.cursor.pop();
                continue;
            };
            up.next += 1;
            let path = up.source.join(source);
            let (level, files) = self.level(path, name);
            let k = key(&level.source);
            let level_source = level.source.clone();
            self.cursor.push(level);
            // Hinted lately: its pages are likely still cached (later, they may not be).
            if let Some(&(n, at)) = self.hinted.get(&k)
                && at.elapsed() < FRESH
            {
                return Some((n, None));
            }
            let n = files.len().max(1);
            self.hinted.insert(k, (n, Instant::now()));
            // A folder the listing index has a record of is listed without reading a header.
            let indexed = self.fs.index.as_ref().is_some_and(|i| i.has(&level_source));
            if files.is_empty() || indexed {
                return Some((n, None));
            }
            self.fs.source.prefetch(&files, WINDOW_FIRST as u64);
            let hinted = Hinted {
                key: k,
                files,
                planned: 0,
            };
            return Some((n, Some(hinted)));
        }
    }
}
