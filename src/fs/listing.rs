//! Listing a directory, in two stages. Its **names** (`names`): the source entries, sorted,
//! each with its pseudonym (the longer form for a collision), made without reading a file, so
//! a lookup of one name plans only that file. Its **listing** (`listing`): every file planned
//! (in parallel, by the planners and the lister), so visibility and exact sizes are known from
//! the first `ls -l`; the visible entries ordered by view name. Both are made again when the
//! directory's stamp changes.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::index::Shown;
use super::inode::{FileState, Listing, Names, NamesBuilder, Node};
use super::names::{NAME_CHARS, NAME_CHARS_ON_COLLISION, child_path};
use crate::cache::Verdict;
use crate::lock;
use crate::source::{Kind, Stamp};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file's version and what the listing shows of it.
type Planned = Result<(Stamp, Shown), FsError>;

/// The next listing's generation (unique in the process, never 0).
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl DeidFs {
    /// A directory's names, made (or made again, when the directory changed) on demand.
    fn names(&self, node: &Node) -> Result<Arc<Names>, FsError> {
        let dir = node.dir().ok_or_else(|| FsError::new(ErrorKind::NotDir))?;
        let mut guard = lock(&dir.names);
        let source = node.source();
        let now = self.source.stamp(&source).ok();
        if let Some(n) = guard.as_ref()
            && (n.stamp == now || now.is_none())
        {
            return Ok(n.clone());
        }
        let names = Arc::new(
            self.make_names(node, &source, now, guard.as_deref())
                .map_err(|e| e.at(&node.view_path()))?,
        );
        *guard = Some(names.clone());
        Ok(names)
    }

    /// The directory's listing, made (or made again, when the directory changed) on demand.
    pub(super) fn listing(&self, ino: u64) -> Result<Arc<Listing>, FsError> {
        let node = self.dir_node(ino)?;
        let dir = node.dir().ok_or_else(|| FsError::new(ErrorKind::NotDir))?;
        let mut guard = lock(&dir.listing);
        let names = self.names(&node)?;
        if let Some(l) = guard.as_ref()
            && Arc::ptr_eq(&l.names, &names)
        {
            return Ok(l.clone());
        }
        let listing = Arc::new(
            self.make_listing(&node, names)
                .map_err(|e| e.at(&node.view_path()))?,
        );
        *guard = Some(listing.clone());
        if let Some(ahead) = self.ahead.get() {
            ahead.listed(&node);
        }
        Ok(listing)
    }

    /// The node of a directory entry by its view name, created on first sight; a file is not
    /// planned here.
    pub(super) fn child(&self, parent: u64, name: &str) -> Result<Arc<Node>, FsError> {
        let dir = self.dir_node(parent)?;
        let names = self.names(&dir)?;
        let i = names.find(name).ok_or(FsError::new(ErrorKind::NotFound))?;
        Ok(self.inodes.intern(&dir, &names, i))
    }

    fn dir_node(&self, ino: u64) -> Result<Arc<Node>, FsError> {
        let node = self.node(ino)?;
        if node.kind != Kind::Dir {
            return Err(FsError::new(ErrorKind::NotDir).at(&node.view_path()));
        }
        Ok(node)
    }

    /// The node of the listing's entry `i` (made again if the kernel forgot it), or `None`
    /// for a file hidden since the listing (a file without a version is planned again).
    pub(super) fn listed(
        &self,
        dir: &Arc<Node>,
        listing: &Listing,
        i: usize,
    ) -> Result<Option<Arc<Node>>, FsError> {
        let node = self.inodes.intern(dir, &listing.names, i);
        if node.kind == Kind::File && lock(&node.state).is_none() && !self.refresh(&node)? {
            return Ok(None);
        }
        Ok(Some(node))
    }

    /// Names for the source entries in source-name order, so a collision resolves the same
    /// way on every machine whatever order the source lists them in. Entries that were in
    /// the `before` names keep their inode.
    fn make_names(
        &self,
        dir: &Node,
        source: &Path,
        stamp: Option<Stamp>,
        before: Option<&Names>,
    ) -> Result<Names, FsError> {
        let mut entries = self.source.list(source).map_err(FsError::io)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let planner = &self.cfg.planner;
        let mut taken: HashSet<String> = HashSet::with_capacity(entries.len());
        let mut names = NamesBuilder::new(stamp, entries.len());
        let token = dir.token();
        for entry in entries {
            let (mut child_token, mut name) =
                planner.name(token, &entry.name, entry.kind, NAME_CHARS);
            if taken.contains(&name) {
                (child_token, name) =
                    planner.name(token, &entry.name, entry.kind, NAME_CHARS_ON_COLLISION);
            }
            // A folder's token is kept as its name (`Node::token`).
            debug_assert!(entry.kind == Kind::File || child_token == name);
            if taken.contains(&name) {
                tracing::error!(file = %child_path(&dir.view_path(), &name), "hidden: pseudonym collision even at the longer length");
                continue;
            }
            let ino = before
                .and_then(|b| {
                    let i = b.find_source(&entry.name, entry.kind)?;
                    (b.name(i) == name).then(|| b.entries[i].ino.load(Ordering::Acquire))
                })
                .unwrap_or(0);
            if names.push(&entry.name, &name, entry.kind, ino) {
                taken.insert(name);
            }
        }
        Ok(names.finish(self.inodes.held()))
    }

    fn make_listing(&self, dir: &Arc<Node>, names: Arc<Names>) -> Result<Listing, FsError> {
        let files: Vec<usize> = (0..names.len())
            .filter(|i| names.entries[*i].kind == Kind::File)
            .collect();
        let source = dir.source();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|&e| source.join(names.source(e)))
            .collect();
        let dir_view = dir.view_path();
        let view_path = |i: usize| child_path(&dir_view, names.name(i));
        let index = self.index.as_ref();
        // What an earlier mount's listing of this version showed, if it was kept (checked
        // against the files' stamps, taken without opening them).
        let record = index.and_then(|index| Some((index, index.read(&source)?)));
        let kept = record.and_then(|(index, record)| {
            let stamps = self
                .planners
                .map(self, paths.clone(), |fs, path| fs.source.stamp(&path).ok());
            let stamps: Vec<Stamp> = stamps.into_iter().collect::<Option<_>>()?;
            let digest = index.digest(files.iter().map(|&e| names.source(e)).zip(&stamps));
            let shown = index.shown(&record, &digest, files.len())?;
            Some(
                stamps
                    .into_iter()
                    .zip(shown)
                    .map(Ok)
                    .collect::<Vec<Planned>>(),
            )
        });
        let planned: Vec<Planned> = if let Some(kept) = kept {
            self.metrics.indexed(kept.len());
            kept
        } else {
            // Plan the directory's files in parallel: visibility and exact sizes come from
            // it.
            let jobs: Vec<(usize, PathBuf)> = files.iter().copied().zip(paths).collect();
            let (of, dir_view) = (names.clone(), dir_view.clone());
            let planned = self
                .planners
                .map(self, jobs, move |fs, (e, path)| -> Planned {
                    let (stamp, verdict, _) = fs.plan_source(&path)?;
                    Ok((
                        stamp,
                        fs.shown(verdict, || child_path(&dir_view, of.name(e))),
                    ))
                });
            // Kept for the next mount if every file could be planned.
            if let Some(index) = index
                && let Some(planned) = planned
                    .iter()
                    .map(|p| p.as_ref().ok())
                    .collect::<Option<Vec<_>>>()
            {
                let digest = index.digest(
                    files
                        .iter()
                        .map(|&e| names.source(e))
                        .zip(planned.iter().map(|p| &p.0)),
                );
                let shown: Vec<Shown> = planned.iter().map(|p| p.1).collect();
                index.store(&source, &digest, &shown);
            }
            planned
        };
        let mut verdicts: HashMap<usize, Planned> = files.into_iter().zip(planned).collect();

        let mut shown: Vec<u32> = Vec::new();
        let mut hidden: Vec<(u32, &'static str)> = Vec::new();
        for i in names.in_name_order() {
            let state = match names.entries[i].kind {
                Kind::Dir => None,
                Kind::File => match verdicts.remove(&i) {
                    Some(Ok((stamp, Shown::Served(size)))) => Some(FileState { stamp, size }),
                    Some(Ok((_, Shown::Hidden(reason)))) => {
                        tracing::debug!(file = %view_path(i), reason, "hidden");
                        hidden.push((i as u32, reason));
                        continue;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(file = %view_path(i), error = %e.kind, "hidden: cannot be read");
                        hidden.push((i as u32, "unreadable"));
                        continue;
                    }
                    None => continue,
                },
            };
            let node = self.inodes.intern(dir, &names, i);
            if let Some(state) = state {
                let before = lock(&node.state).replace(state);
                // Listed again with another version (a folder changes when a file in it is
                // replaced): the kernel's pages of the old one must go.
                if before.is_some_and(|b| b.stamp != state.stamp) {
                    self.changed(node.ino);
                }
            }
            shown.push(i as u32);
        }
        hidden.sort_by_key(|h| h.0);
        shown.shrink_to_fit();
        Ok(Listing {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            names,
            entries: shown,
            hidden,
        })
    }

    /// What a listing shows of a file planned to `verdict`.
    fn shown(&self, verdict: Verdict, view_path: impl Fn() -> String) -> Shown {
        match verdict {
            Verdict::Served(plan, info) => {
                if !info.blobs_removed.is_empty() {
                    tracing::warn!(file = %view_path(), removed = ?info.blobs_removed, "vendor data that does not parse removed");
                }
                Shown::Served(plan.len())
            }
            Verdict::Hidden(reason) => Shown::Hidden(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeidFs, ROOT, test_config};
    use crate::fs::index::Shown;
    use crate::source::{Kind, MemorySource, Source};
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    fn view(src: &Arc<MemorySource>, index: &Path) -> DeidFs {
        DeidFs::new(src.clone(), test_config(2, Some(index.to_path_buf())))
    }

    /// Never made by deidfs itself (a record is of one build, policy and key): a record
    /// whose size is not the plan's is corrected at the first read, and the kernel told.
    #[test]
    fn a_listed_size_the_plan_disagrees_with_is_corrected_at_the_first_read() {
        let index = tempfile::tempdir().unwrap();
        let src = Arc::new(MemorySource::new());
        src.put("s/1.dcm", crate::synth::ct_slice(0, 1, 1, 1, 8, 8).unwrap());
        let first = view(&src, index.path());
        let dir = first.readdir(ROOT).unwrap()[0].attr.ino;
        let true_size = first.readdir(dir).unwrap()[0].attr.size;
        // The record rewritten with a wrong size, under its own key.
        let ix = first.index.as_ref().unwrap();
        let stamp = src.stamp(Path::new("s/1.dcm")).unwrap();
        let digest = ix.digest([(std::ffi::OsStr::new("1.dcm"), &stamp)]);
        ix.store(Path::new("s"), &digest, &[Shown::Served(true_size + 10)]);

        let later = view(&src, index.path());
        let told = Arc::new(Mutex::new(Vec::new()));
        let t = told.clone();
        later.on_change(move |ino| t.lock().unwrap().push(ino));
        let dir = later.readdir(ROOT).unwrap()[0].attr.ino;
        let entry = later.readdir(dir).unwrap().remove(0);
        assert_eq!(entry.attr.kind, Kind::File);
        assert_eq!(entry.attr.size, true_size + 10, "listed from the record");
        let bytes = later.read_inode(entry.attr.ino, 0, u32::MAX).unwrap();
        assert_eq!(bytes.len() as u64, true_size, "the plan is served");
        assert_eq!(later.getattr(entry.attr.ino).unwrap().size, true_size);
        assert_eq!(*told.lock().unwrap(), vec![entry.attr.ino]);
    }
}
