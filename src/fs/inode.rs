//! The inode table: every entry the kernel holds, by inode number, each kept in a few dozen
//! bytes so that a mount listing millions of files stays within its memory budget.
//!
//! Invariants:
//! - `nodes` maps inode number -> node. A node is removed only when the kernel forgets it
//!   (its lookup count, `Node::lookups`, back to zero), so an inode number the kernel holds
//!   always resolves. The root is inode [`ROOT`] and never removed.
//! - A node's names are not copied into it: it points at its directory's node and at its
//!   entry in that directory's [`Names`], where the source name and the view name are kept
//!   once. Its paths are made from that chain when needed (to open a file, to log).
//! - Each entry of a [`Names`] remembers the inode of the node made for it, and names made
//!   again (the directory changed) take the inodes of the entries that remain, so listing a
//!   directory again keeps their numbers. A path that now holds another kind of entry gets a
//!   new node.
//! - A node's source path is PHI: it never leaves the `fs` module except through
//!   [`super::KeyHolderView`], and is never logged; logs use [`Node::view_path`].
//!
//! `nodes` is a `DashMap` (sharded locks held only inside one call); `Node::state` and a
//! directory's `listing` and `names` are leaf mutexes; `Inodes::life` is held only inside
//! `intern`, `remember` and `forget`, which take no other lock. Lock order: a directory's
//! `listing`, then its `names`, then (while listing) the cache's internal locks, then the
//! child nodes' `state`; nothing else is taken while a `state` or `names` is held.

use crate::source::{Kind, Stamp};
use dashmap::DashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const ROOT: u64 = 1;

/// A served file's version: the source stamp it was planned from and the view size.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileState {
    pub stamp: Stamp,
    pub size: u64,
}

/// A directory's source entries and their view names, as last read (made by `names`,
/// without planning a file). The names' bytes are kept in one buffer.
pub(super) struct Names {
    /// Directory stamp when read (read again when it changes).
    pub stamp: Option<Stamp>,
    /// In source-name order.
    pub entries: Vec<Named>,
    /// Indices of `entries` in view-name order (names are unique).
    by_name: Vec<u32>,
    text: Vec<u8>,
    /// Where its bytes are counted (the memory budget) while it lives: a node keeps the names
    /// it was made from, so names a folder has replaced may live on.
    held: Option<Arc<AtomicU64>>,
}

impl Drop for Names {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.fetch_sub(self.bytes(), Ordering::Relaxed);
        }
    }
}

/// One source entry: where its source name is in `Names::text` (its view name follows it),
/// and the inode of the node made for it (0: none yet). 16 bytes.
pub(super) struct Named {
    at: u32,
    source_len: u16,
    name_len: u8,
    pub kind: Kind,
    pub ino: AtomicU64,
}

/// Makes a [`Names`], entry by entry in source-name order.
pub(super) struct NamesBuilder {
    names: Names,
}

impl NamesBuilder {
    pub fn new(stamp: Option<Stamp>, capacity: usize) -> Self {
        Self {
            names: Names {
                stamp,
                entries: Vec::with_capacity(capacity),
                by_name: Vec::new(),
                text: Vec::with_capacity(capacity * 32),
                held: None,
            },
        }
    }

    /// Adds an entry (source names are at most 255 bytes on every Unix filesystem, view
    /// names 24; a longer one, or a folder past 4 GiB of names, is left out, with `false`).
    pub fn push(&mut self, source: &OsStr, name: &str, kind: Kind, ino: u64) -> bool {
        let text = &mut self.names.text;
        let (Ok(at), Ok(source_len), Ok(name_len)) = (
            u32::try_from(text.len()),
            u16::try_from(source.len()),
            u8::try_from(name.len()),
        ) else {
            return false;
        };
        text.extend_from_slice(source.as_encoded_bytes());
        text.extend_from_slice(name.as_bytes());
        self.names.entries.push(Named {
            at,
            source_len,
            name_len,
            kind,
            ino: AtomicU64::new(ino),
        });
        true
    }

    /// The names, their bytes counted in `held` while they live.
    pub fn finish(mut self, held: &Arc<AtomicU64>) -> Names {
        self.names.text.shrink_to_fit();
        self.names.entries.shrink_to_fit();
        let n = &self.names;
        let mut by_name: Vec<u32> = (0..n.entries.len() as u32).collect();
        by_name.sort_by(|a, b| n.name(*a as usize).cmp(n.name(*b as usize)));
        self.names.by_name = by_name;
        held.fetch_add(self.names.bytes(), Ordering::Relaxed);
        self.names.held = Some(held.clone());
        self.names
    }
}

impl Names {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// What it holds in memory.
    fn bytes(&self) -> u64 {
        (size_of::<Self>()
            + self.entries.capacity() * size_of::<Named>()
            + self.by_name.capacity() * 4
            + self.text.capacity()) as u64
    }

    /// The source name of entry `i`: PHI, never logged.
    pub fn source(&self, i: usize) -> &OsStr {
        self.source_of(&self.entries[i])
    }

    fn source_of(&self, e: &Named) -> &OsStr {
        let at = e.at as usize;
        // SAFETY: these bytes were copied from an `OsStr` by `NamesBuilder::push`, whole.
        unsafe { OsStr::from_encoded_bytes_unchecked(&self.text[at..at + e.source_len as usize]) }
    }

    /// The view name of entry `i`.
    pub fn name(&self, i: usize) -> &str {
        let e = &self.entries[i];
        let at = e.at as usize + e.source_len as usize;
        // SAFETY: these bytes were copied from a `str` by `NamesBuilder::push`, whole, and
        // `text` is not changed after (names are compared often: sorting, lookups).
        unsafe { std::str::from_utf8_unchecked(&self.text[at..at + e.name_len as usize]) }
    }

    /// The entry with view name `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name
            .binary_search_by(|&i| self.name(i as usize).cmp(name))
            .ok()
            .map(|k| self.by_name[k] as usize)
    }

    /// Indices of the entries in view-name order.
    pub fn in_name_order(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_name.iter().map(|&i| i as usize)
    }

    /// The entry with source name `source` and kind `kind`, if any (entries are in
    /// source-name order).
    pub fn find_source(&self, source: &OsStr, kind: Kind) -> Option<usize> {
        let k = self.entries.partition_point(|e| self.source_of(e) < source);
        let e = self.entries.get(k)?;
        (self.source_of(e) == source && e.kind == kind).then_some(k)
    }
}

/// A directory's visible entries (made by `listing`: every file planned).
pub(super) struct Listing {
    /// Unique among the view's listings (never 0), so an open can tell whether the kernel
    /// was last given this one.
    pub generation: u64,
    /// The names it was made from (made again when they are).
    pub names: Arc<Names>,
    /// Indices in `names.entries` of the entries shown, in view-name order. By index, not
    /// inode: a node the kernel forgot is made again when the listing is read.
    pub entries: Vec<u32>,
    /// Files not shown (indices in `names.entries`), with the reason.
    pub hidden: Vec<(u32, &'static str)>,
}

/// What only a directory's node holds.
#[derive(Default)]
pub(super) struct DirState {
    /// The last names read; `None` until first looked into.
    pub names: Mutex<Option<Arc<Names>>>,
    /// The last listing; `None` until first listed.
    pub listing: Mutex<Option<Arc<Listing>>>,
    /// The generation of the listing the last `opendir` served (0: none, or an entry hidden
    /// since).
    pub shown_listing: AtomicU64,
}

pub(super) struct Node {
    pub ino: u64,
    /// The directory it is in and its entry there (the names it was made from); `None` for
    /// the root.
    place: Option<(Arc<Node>, Arc<Names>, u32)>,
    pub kind: Kind,
    /// Files: the version shown; `None` while hidden (refused since it was listed).
    pub state: Mutex<Option<FileState>>,
    /// Directories: names and listing (see `dir()`).
    dir: Option<Box<DirState>>,
    /// How many times the kernel was handed this inode (lookups, readdirplus entries) less
    /// what it forgot.
    pub lookups: AtomicU64,
}

impl Node {
    /// The inode of the directory it is in (the root's is the root).
    pub fn parent(&self) -> u64 {
        self.place.as_ref().map_or(ROOT, |(p, _, _)| p.ino)
    }

    /// The directory's part; `None` for a file.
    pub fn dir(&self) -> Option<&DirState> {
        self.dir.as_deref()
    }

    /// Its path token, which names its children ("" for the root): a folder's token is its
    /// view name (`Planner::name` gives both the same for folders).
    pub fn token(&self) -> &str {
        self.place
            .as_ref()
            .map_or("", |(_, names, i)| names.name(*i as usize))
    }

    /// Its entry and those of the folders above it, from the root down.
    pub fn path(&self) -> Vec<(&Names, usize)> {
        let mut parts = Vec::new();
        let mut at = self;
        while let Some((parent, names, i)) = &at.place {
            parts.push((&**names, *i as usize));
            at = parent;
        }
        parts.reverse();
        parts
    }

    /// Source path relative to the root: PHI, never logged.
    pub fn source(&self) -> PathBuf {
        self.path().into_iter().map(|(n, i)| n.source(i)).collect()
    }

    /// Pseudonymous path from the mount root, for logs and errors.
    pub fn view_path(&self) -> String {
        let path = self.path();
        if path.is_empty() {
            return "/".into();
        }
        path.into_iter().fold(String::new(), |mut s, (n, i)| {
            s.push('/');
            s.push_str(n.name(i));
            s
        })
    }

    /// Its view name ("/" for the root).
    pub fn name(&self) -> &str {
        self.place
            .as_ref()
            .map_or("/", |(_, names, i)| names.name(*i as usize))
    }
}

/// What one node costs with its slot in the table and the allocator's share (measured:
/// docs/performance.md, "Scale"), counted against the memory budget; names count their own.
pub const NODE_BYTES: u64 = 256;

pub(super) struct Inodes {
    nodes: DashMap<u64, Arc<Node>>,
    /// Where the table adds [`NODE_BYTES`] per node it holds (the plan cache's reservations).
    held: Arc<AtomicU64>,
    next_ino: AtomicU64,
    /// Held while a node is made, remembered or forgotten, so a table entry and the entry's
    /// remembered inode change together (a name never gets two live nodes, a remembered node
    /// is never removed).
    life: Mutex<()>,
}

impl Inodes {
    /// A table holding the root, counting the bytes it holds in `held`.
    pub fn new(held: Arc<AtomicU64>) -> Self {
        let nodes = DashMap::new();
        nodes.insert(ROOT, Arc::new(new_node(ROOT, None, Kind::Dir)));
        Self {
            nodes,
            held,
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

    /// The counter of bytes the table and its folders' names hold.
    pub fn held(&self) -> &Arc<AtomicU64> {
        &self.held
    }

    /// The kernel was handed `node` once more (a lookup reply or a readdirplus entry). A node
    /// forgotten meanwhile by another thread is put back, so the number stays valid.
    pub fn remember(&self, node: &Arc<Node>) {
        let _life = crate::lock(&self.life);
        node.lookups.fetch_add(1, Ordering::AcqRel);
        self.nodes.entry(node.ino).or_insert_with(|| {
            self.held.fetch_add(NODE_BYTES, Ordering::Relaxed);
            node.clone()
        });
        if let Some((_, names, i)) = &node.place {
            names.entries[*i as usize]
                .ino
                .store(node.ino, Ordering::Release);
        }
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
        if left == 0 && self.nodes.remove(&ino).is_some() {
            self.held.fetch_sub(NODE_BYTES, Ordering::Relaxed);
        }
    }

    /// The node of entry `i` of `names` (the current names of directory `dir`), made on
    /// first sight or when the kernel forgot it.
    pub fn intern(&self, dir: &Arc<Node>, names: &Arc<Names>, i: usize) -> Arc<Node> {
        let _life = crate::lock(&self.life);
        let entry = &names.entries[i];
        let known = entry.ino.load(Ordering::Acquire);
        if known != 0
            && let Some(node) = self.get(known)
        {
            return node;
        }
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        let node = Arc::new(new_node(
            ino,
            Some((dir.clone(), names.clone(), i as u32)),
            entry.kind,
        ));
        self.nodes.insert(ino, node.clone());
        self.held.fetch_add(NODE_BYTES, Ordering::Relaxed);
        entry.ino.store(ino, Ordering::Release);
        node
    }
}

fn new_node(ino: u64, place: Option<(Arc<Node>, Arc<Names>, u32)>, kind: Kind) -> Node {
    Node {
        ino,
        place,
        kind,
        state: Mutex::new(None),
        dir: (kind == Kind::Dir).then(Box::default),
        lookups: AtomicU64::new(0),
    }
}
