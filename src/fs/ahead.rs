//! Reading ahead of a walker (`ls -lR`, `find`, `du`, the key holder's tools). Planning a
//! folder's files reads each file's header, and a walker lists one folder at a time, so on a
//! cold cache the disk would see only as many reads at once as there are planners. When a
//! folder is listed, this asks the source for the first bytes of the files a depth-first
//! walk lists next (the folder's subfolders, then the folders after it, in view-name order,
//! as `ls -R` and `find` go), without waiting: the next listings find their headers read.
//!
//! Only hints: nothing is planned, shown, decided or kept in the inode table here; it lists
//! source folders and names their subfolders to know the order. It stays a number of files
//! ahead of the last folder listed (`Config::read_ahead`, by default [`READ_AHEAD_FILES`]:
//! 16 MiB of page cache at most); a walker that follows it moves it on, one that goes
//! elsewhere starts it again from there. One thread. A source that ignores hints gets none.

use super::DeidFs;
use super::inode::Node;
use super::names::NAME_CHARS;
use crate::deid::read::WINDOW_FIRST;
use crate::source::Kind;
use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How many files ahead of the last folder listed the source is asked to read, by default:
/// enough that the disk is kept busy while the walker lists a few folders of the usual size.
pub const READ_AHEAD_FILES: usize = 2048;

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

fn run(fs: &Weak<DeidFs>, rx: &Receiver<Arc<Node>>, files: usize) {
    let mut hinted: HashMap<u64, (usize, Instant)> = HashMap::new();
    let mut cursor = Vec::new();
    let mut ahead_by = 0usize;
    let mut next = rx.recv().ok();
    while let Some(listed) = next.take() {
        let Some(fs) = fs.upgrade() else { return };
        let trail = trail(&listed);
        drop(listed);
        if hinted.len() > HINTED_MAX {
            hinted.clear();
        }
        let source: PathBuf = trail.iter().map(|(s, _)| s).collect();
        let mut walk = Walk {
            fs: &fs,
            hinted: &mut hinted,
            cursor: &mut cursor,
        };
        match walk.hinted.get(&key(&source)) {
            // The walker follows: it has caught up by this folder.
            Some(&(n, _)) if !walk.cursor.is_empty() => ahead_by = ahead_by.saturating_sub(n),
            // It went its own way (or lists in another order, as `ls` does in some locales):
            // start again from where it is, skipping what was hinted lately.
            _ => {
                walk.hinted.insert(key(&source), (1, Instant::now()));
                *walk.cursor = walk.levels_to(&trail);
                ahead_by = 0;
            }
        }
        while ahead_by < files {
            match rx.try_recv() {
                Ok(newer) => {
                    next = Some(newer);
                    break;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            match walk.step() {
                Some(n) => ahead_by += n,
                None => break,
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
    /// folders count too), or `None` at the end of the walk.
    fn step(&mut self) -> Option<usize> {
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
                return Some(n);
            }
            let n = files.len().max(1);
            self.hinted.insert(k, (n, Instant::now()));
            // A folder the listing index has a record of is listed without reading a header.
            let indexed = self.fs.index.as_ref().is_some_and(|i| i.has(&level_source));
            if !files.is_empty() && !indexed {
                self.fs.source.prefetch(&files, WINDOW_FIRST as u64);
            }
            return Some(n);
        }
    }
}
