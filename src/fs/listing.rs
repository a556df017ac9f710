//! Listing a directory, in two stages. Its **names** (`names`): the source entries, sorted,
//! each with its pseudonym (the longer form for a collision), made without reading a file, so
//! a lookup of one name plans only that file. Its **listing** (`listing`): every file planned
//! (in parallel, on the planner pool), so visibility and exact sizes are known from the first
//! `ls -l`; the visible entries ordered by view name. Both are made again when the
//! directory's stamp changes.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::{FileState, Listing, Names, NamesBuilder, Node};
use super::names::{NAME_CHARS, NAME_CHARS_ON_COLLISION, child_path};
use crate::cache::Verdict;
use crate::lock;
use crate::source::{Kind, Stamp};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file's version and what the engine made of it.
type Planned = Result<(Stamp, Verdict), FsError>;

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
        // Plan the directory's files in parallel: visibility and exact sizes come from it.
        let files: Vec<usize> = (0..names.len())
            .filter(|i| names.entries[*i].kind == Kind::File)
            .collect();
        let source = dir.source();
        let plan = |&e: &usize| -> Planned {
            let (stamp, verdict, _) = self.plan_source(&source.join(names.source(e)))?;
            Ok((stamp, verdict))
        };
        let planned: Vec<Planned> = match &self.planners {
            Some(pool) if files.len() > 1 => {
                use rayon::prelude::*;
                pool.install(|| files.par_iter().map(plan).collect())
            }
            _ => files.iter().map(plan).collect(),
        };
        let mut verdicts: HashMap<usize, Planned> = files.into_iter().zip(planned).collect();

        let mut shown: Vec<u32> = Vec::new();
        let mut hidden: Vec<(u32, &'static str)> = Vec::new();
        let view_path = |i: usize| child_path(&dir.view_path(), names.name(i));
        for i in names.in_name_order() {
            let state = match names.entries[i].kind {
                Kind::Dir => None,
                Kind::File => match verdicts.remove(&i) {
                    Some(Ok((stamp, Verdict::Served(plan, info)))) => {
                        if !info.blobs_removed.is_empty() {
                            tracing::warn!(file = %view_path(i), removed = ?info.blobs_removed, "vendor data that does not parse removed");
                        }
                        Some(FileState {
                            stamp,
                            size: plan.len(),
                        })
                    }
                    Some(Ok((_, Verdict::Hidden(reason)))) => {
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
}
