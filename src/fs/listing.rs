//! Listing a directory: its files are planned (in parallel, on the planner pool) when it is
//! first listed, so visibility and exact sizes are known from the first `ls -l`; entries get
//! their pseudonyms (the longer form for a collision) and are ordered by view name. A
//! directory whose stamp changed is listed again.

use super::DeidFs;
use super::error::{ErrorKind, FsError};
use super::inode::{FileState, Listing, Node};
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
    /// The directory's listing, made (or made again, when the directory changed) on demand.
    pub(super) fn listing(&self, ino: u64) -> Result<Arc<Listing>, FsError> {
        let node = self.node(ino)?;
        if node.kind != Kind::Dir {
            return Err(FsError::new(ErrorKind::NotDir).at(&node.view_path));
        }
        let mut guard = lock(&node.listing);
        let now = self.source.stamp(&node.source).ok();
        if let Some(l) = guard.as_ref()
            && (l.stamp == now || now.is_none())
        {
            return Ok(l.clone());
        }
        let listing = Arc::new(
            self.make_listing(ino, &node, now)
                .map_err(|e| e.at(&node.view_path))?,
        );
        *guard = Some(listing.clone());
        Ok(listing)
    }

    fn make_listing(&self, ino: u64, dir: &Node, stamp: Option<Stamp>) -> Result<Listing, FsError> {
        let entries = self.source.list(&dir.source).map_err(FsError::io)?;
        // Plan the directory's files in parallel: visibility and exact sizes come from it.
        let files: Vec<usize> = (0..entries.len())
            .filter(|i| entries[*i].kind == Kind::File)
            .collect();
        let plan = |&e: &usize| -> Planned {
            let (stamp, verdict, _) = self.plan_source(&dir.source.join(&entries[e].name))?;
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

        let mut named: Vec<(String, u64)> = Vec::new();
        let mut hidden: Vec<(PathBuf, &'static str)> = Vec::new();
        let mut by_name: HashMap<String, u64> = HashMap::new();
        let planner = &self.cfg.planner;
        for (i, entry) in entries.iter().enumerate() {
            let (mut token, mut name) =
                planner.name(&dir.token, &entry.name, entry.kind, NAME_CHARS);
            if by_name.contains_key(&name) {
                (token, name) =
                    planner.name(&dir.token, &entry.name, entry.kind, NAME_CHARS_ON_COLLISION);
            }
            let view_path = child_path(&dir.view_path, &name);
            let rel = dir.source.join(&entry.name);
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
                        hidden.push((rel, reason));
                        continue;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(file = %view_path, error = %e.kind, "hidden: cannot be read");
                        hidden.push((rel, "unreadable"));
                        continue;
                    }
                    None => continue,
                },
            };
            if by_name.contains_key(&name) {
                tracing::error!(file = %view_path, "hidden: pseudonym collision even at the longer length");
                continue;
            }
            let (child, node) = self.inodes.intern(ino, &rel, entry.kind, view_path, token);
            if let Some(state) = state {
                *lock(&node.state) = Some(state);
            }
            by_name.insert(name.clone(), child);
            named.push((name, child));
        }
        named.sort();
        Ok(Listing {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            stamp,
            entries: named,
            hidden,
            by_name,
        })
    }
}
