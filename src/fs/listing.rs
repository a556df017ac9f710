//! Listing a directory, in two stages. Its **names** (`names`): the source entries, sorted,
//! each with its pseudonym (the longer form for a collision), made without reading a file, so
//! a lookup of one name plans only that file. Its **listing** (`listing`): every file planned
//! (in parallel, on the planner pool), so visibility and exact sizes are known from the first
//! `ls -l`; the visible entries ordered by view name. Both are made again when the
//! directory's stamp changes.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::{FileState, Listing, Named, Names, Node};
use super::names::{NAME_CHARS, NAME_CHARS_ON_COLLISION, child_path};
use crate::cache::Verdict;
use crate::lock;
use crate::source::{Kind, Stamp};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file's version and what the engine made of it.
type Planned = Result<(Stamp, Verdict), FsError>;

/// The next listing's generation (unique in the process, never 0).
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl DeidFs {
    /// A directory's names, made (or made again, when the directory changed) on demand.
    fn names(&self, node: &Node) -> Result<Arc<Names>, FsError> {
        let mut guard = lock(&node.names);
        let now = self.source.stamp(&node.source).ok();
        if let Some(n) = guard.as_ref()
            && (n.stamp == now || now.is_none())
        {
            return Ok(n.clone());
        }
        let names = Arc::new(
            self.make_names(node, now)
                .map_err(|e| e.at(&node.view_path))?,
        );
        *guard = Some(names.clone());
        Ok(names)
    }

    /// The directory's listing, made (or made again, when the directory changed) on demand.
    pub(super) fn listing(&self, ino: u64) -> Result<Arc<Listing>, FsError> {
        let node = self.dir_node(ino)?;
        let mut guard = lock(&node.listing);
        let names = self.names(&node)?;
        if let Some(l) = guard.as_ref()
            && Arc::ptr_eq(&l.names, &names)
        {
            return Ok(l.clone());
        }
        let listing = Arc::new(
            self.make_listing(ino, &node, names)
                .map_err(|e| e.at(&node.view_path))?,
        );
        *guard = Some(listing.clone());
        Ok(listing)
    }

    /// The node of a directory entry by its view name, created on first sight; a file is not
    /// planned here.
    pub(super) fn child(&self, parent: u64, name: &str) -> Result<(u64, Arc<Node>), FsError> {
        let dir = self.dir_node(parent)?;
        let names = self.names(&dir)?;
        let &i = names
            .by_name
            .get(name)
            .ok_or(FsError::new(ErrorKind::NotFound))?;
        Ok(self.intern(parent, &dir, &names.entries[i]))
    }

    fn dir_node(&self, ino: u64) -> Result<Arc<Node>, FsError> {
        let node = self.node(ino)?;
        if node.kind != Kind::Dir {
            return Err(FsError::new(ErrorKind::NotDir).at(&node.view_path));
        }
        Ok(node)
    }

    /// The node of the listing's entry `idx` (made again if the kernel forgot it), or `None`
    /// for a file hidden since the listing (a file without a version is planned again).
    pub(super) fn listed(
        &self,
        dir_ino: u64,
        dir: &Node,
        listing: &Listing,
        idx: usize,
    ) -> Result<Option<(u64, Arc<Node>)>, FsError> {
        let (ino, node) = self.intern(dir_ino, dir, &listing.names.entries[idx]);
        if node.kind == Kind::File && lock(&node.state).is_none() && !self.refresh(ino, &node)? {
            return Ok(None);
        }
        Ok(Some((ino, node)))
    }

    pub(super) fn intern(&self, parent: u64, dir: &Node, e: &Named) -> (u64, Arc<Node>) {
        self.inodes.intern(
            parent,
            &dir.source.join(&e.source),
            e.kind,
            child_path(&dir.view_path, &e.name),
            e.token.clone(),
        )
    }

    /// Names for the source entries in source-name order, so a collision resolves the same
    /// way on every machine whatever order the source lists them in.
    fn make_names(&self, dir: &Node, stamp: Option<Stamp>) -> Result<Names, FsError> {
        let mut entries = self.source.list(&dir.source).map_err(FsError::io)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let planner = &self.cfg.planner;
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(entries.len());
        let mut named = Vec::with_capacity(entries.len());
        for entry in entries {
            let (mut token, mut name) =
                planner.name(&dir.token, &entry.name, entry.kind, NAME_CHARS);
            if by_name.contains_key(&name) {
                (token, name) =
                    planner.name(&dir.token, &entry.name, entry.kind, NAME_CHARS_ON_COLLISION);
            }
            if by_name.contains_key(&name) {
                tracing::error!(file = %child_path(&dir.view_path, &name), "hidden: pseudonym collision even at the longer length");
                continue;
            }
            by_name.insert(name.clone(), named.len());
            named.push(Named {
                source: entry.name,
                kind: entry.kind,
                token,
                name,
            });
        }
        Ok(Names {
            stamp,
            entries: named,
            by_name,
        })
    }

    fn make_listing(&self, ino: u64, dir: &Node, names: Arc<Names>) -> Result<Listing, FsError> {
        let entries = &names.entries;
        // Plan the directory's files in parallel: visibility and exact sizes come from it.
        let files: Vec<usize> = (0..entries.len())
            .filter(|i| entries[*i].kind == Kind::File)
            .collect();
        let plan = |&e: &usize| -> Planned {
            let (stamp, verdict, _) = self.plan_source(&dir.source.join(&entries[e].source))?;
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

        let mut shown: Vec<(String, usize)> = Vec::new();
        let mut hidden: Vec<(PathBuf, &'static str)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let view_path = child_path(&dir.view_path, &entry.name);
            let state = match entry.kind {
                Kind::Dir => None,
                Kind::File => match verdicts.remove(&i) {
                    Some(Ok((stamp, Verdict::Served(plan, info)))) => {
                        if !info.blobs_removed.is_empty() {
                            tracing::warn!(file = %view_path, removed = ?info.blobs_removed, "vendor data that does not parse removed");
                        }
                        Some(FileState {
                            info,
                            stamp,
                            size: plan.len(),
                        })
                    }
                    Some(Ok((_, Verdict::Hidden(reason)))) => {
                        tracing::debug!(file = %view_path, reason, "hidden");
                        hidden.push((dir.source.join(&entry.source), reason));
                        continue;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(file = %view_path, error = %e.kind, "hidden: cannot be read");
                        hidden.push((dir.source.join(&entry.source), "unreadable"));
                        continue;
                    }
                    None => continue,
                },
            };
            let (_, node) = self.intern(ino, dir, entry);
            if let Some(state) = state {
                *lock(&node.state) = Some(state);
            }
            shown.push((entry.name.clone(), i));
        }
        shown.sort();
        Ok(Listing {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            names,
            entries: shown,
            hidden,
        })
    }
}
