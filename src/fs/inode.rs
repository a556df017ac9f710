//! The inode table: every entry the view has shown, by inode number and by source path.
//!
//! Invariants:
//! - `nodes` maps inode number -> node. A node is removed only when the kernel forgets it
//!   (its lookup count, `Node::lookups`, back to zero), so an inode number the kernel holds
//!   always resolves. The root is inode [`ROOT`] and never removed.
//! - `by_source` maps a source-relative path -> its inode, so listing a directory again keeps
//!   the inode numbers of the entries that remain. Every value of `by_source` is a key of
//!   `nodes`.
//! - A node's `source` path is PHI: it never leaves the `fs` module except through
//!   [`super::KeyHolderView`], and is never logged; logs use `view_path`.
//!
//! Both maps are `DashMap`s (sharded locks held only inside one call); `Node::state` and
//! `Node::listing` and `Node::names` are leaf mutexes; `Inodes::life` is held only inside
//! `intern`, `remember` and `forget`, which take no other lock. Lock order: a node's `listing`, then its
//! `names`, then (while listing) the cache's internal locks, then the child nodes' `state`;
//! nothing else is taken while a `state` or `names` is held.

use crate::deid::FileInfo;
use crate::source::{Kind, Stamp};
use dashmap::DashMap;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const ROOT: u64 = 1;

/// A served file's version: the source stamp it was planned from and the view size.
#[derive(Debug, Clone)]
pub(super) struct FileState {
    pub stamp: Stamp,
    pub size: u64,
    pub info: Arc<FileInfo>,
}

/// A directory's source entries and their view names, as last read (made by `names`,
/// without planning a file).
pub(super) struct Names {
    /// Directory stamp when read (read again when it changes).
    pub stamp: Option<Stamp>,
    /// In source-name order.
    pub entries: Vec<Named>,
    /// View name -> index in `entries`.
    pub by_name: HashMap<String, usize>,
}

/// One source entry and its view name.
pub(super) struct Named {
    /// The source name: PHI, never logged.
    pub source: OsString,
    pub kind: Kind,
    pub token: String,
    pub name: String,
}

/// A directory's visible entries (made by `listing`: every file planned).
pub(super) struct Listing {
    /// Unique among the view's listings (never 0), so an open can tell whether the kernel
    /// was last given this one.
    pub generation: u64,
    /// The names it was made from (made again when they are).
    pub names: Arc<Names>,
    /// (view name, index in `names.entries`) of the entries shown, ordered by name. By index,
    /// not inode: a node the kernel forgot is made again when the listing is read.
    pub entries: Vec<(String, usize)>,
    /// Files not shown, with the reason (source names: PHI, for the key holder's tools).
    pub hidden: Vec<(PathBuf, &'static str)>,
}

pub(super) struct Node {
    /// The parent's inode (updated when the parent was forgotten and made again).
    pub parent: AtomicU64,
    pub kind: Kind,
    /// Source path relative to the root: PHI, never logged.
    pub source: PathBuf,
    /// Pseudonymous path from the mount root, for logs and errors.
    pub view_path: String,
    /// Path token that names this node's children.
    pub token: String,
    /// Files: the version shown; `None` while hidden (refused since it was listed).
    pub state: Mutex<Option<FileState>>,
    /// Directories: the last names read; `None` until first looked into.
    pub names: Mutex<Option<Arc<Names>>>,
    /// Directories: the last listing; `None` until first listed.
    pub listing: Mutex<Option<Arc<Listing>>>,
    /// Directories: the generation of the listing the last `opendir` served (0: none, or an
    /// entry hidden since).
    pub shown_listing: AtomicU64,
    /// How many times the kernel was handed this inode (lookups, readdirplus entries) less
    /// what it forgot.
    pub lookups: AtomicU64,
}

pub(super) struct Inodes {
    nodes: DashMap<u64, Arc<Node>>,
    by_source: DashMap<PathBuf, u64>,
    next_ino: AtomicU64,
    /// Held while a node is made, remembered or forgotten, so the two maps change together
    /// (a source path never gets two nodes, a remembered node is never removed).
    life: Mutex<()>,
}

impl Inodes {
    /// A table holding the root.
    pub fn new() -> Self {
        let nodes = DashMap::new();
        nodes.insert(
            ROOT,
            Arc::new(new_node(
                ROOT,
                Kind::Dir,
                PathBuf::new(),
                "/".into(),
                String::new(),
            )),
        );
        let by_source = DashMap::new();
        by_source.insert(PathBuf::new(), ROOT);
        Self {
            nodes,
            by_source,
            next_ino: AtomicU64::new(ROOT + 1),
            life: Mutex::new(()),
        }
    }

    pub fn get(&self, ino: u64) -> Option<Arc<Node>> {
        self.nodes.get(&ino).map(|n| n.clone())
    }

    pub fn len(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// The kernel was handed `ino` once more (a lookup reply or a readdirplus entry). A node
    /// forgotten meanwhile by another thread is put back, so the number stays valid.
    pub fn remember(&self, ino: u64, node: &Arc<Node>) {
        let _life = crate::lock(&self.life);
        node.lookups.fetch_add(1, Ordering::AcqRel);
        self.nodes.entry(ino).or_insert_with(|| node.clone());
        self.by_source.insert(node.source.clone(), ino);
    }

    /// The kernel forgot `n` references to `ino`: at zero the node goes (never the root). It
    /// is made again, with a new number, if the entry is looked up or listed again.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let _life = crate::lock(&self.life);
        let Some(node) = self.get(ino) else { return };
        let left = node.lookups.load(Ordering::Acquire).saturating_sub(n);
        node.lookups.store(left, Ordering::Release);
        if left == 0 {
            self.nodes.remove(&ino);
            self.by_source.remove_if(&node.source, |_, i| *i == ino);
        }
    }

    /// The inode of a source path, creating the node on first sight (or when the path now
    /// holds another kind of entry).
    pub fn intern(
        &self,
        parent: u64,
        rel: &Path,
        kind: Kind,
        view_path: String,
        token: String,
    ) -> (u64, Arc<Node>) {
        let _life = crate::lock(&self.life);
        if let Some(ino) = self.by_source.get(rel).map(|i| *i)
            && let Some(node) = self.get(ino)
            && node.kind == kind
        {
            node.parent.store(parent, Ordering::Release);
            return (ino, node);
        }
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        let node = Arc::new(new_node(parent, kind, rel.to_path_buf(), view_path, token));
        self.nodes.insert(ino, node.clone());
        self.by_source.insert(rel.to_path_buf(), ino);
        (ino, node)
    }
}

fn new_node(parent: u64, kind: Kind, source: PathBuf, view_path: String, token: String) -> Node {
    Node {
        parent: AtomicU64::new(parent),
        kind,
        source,
        view_path,
        token,
        state: Mutex::new(None),
        names: Mutex::new(None),
        listing: Mutex::new(None),
        shown_listing: AtomicU64::new(0),
        lookups: AtomicU64::new(0),
    }
}
