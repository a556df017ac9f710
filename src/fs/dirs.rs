//! Open directories: `opendir` takes the directory's listing (made, or made again when the
//! source directory changed) and keeps it for the handle's life, so each `readdir` request
//! serves its slice by offset without building the folder again: the cost of a listing is
//! linear in its size, whatever the size of the requests. Offsets are positions in that
//! listing (after `.` and `..`), stable for the handle.
//!
//! The kernel may keep a directory's entries between opens (keep-cache) only while they are
//! the ones it was last given: `opendir` says so when the listing is the one the previous
//! open served, and not when it was made again or an entry was hidden since.

use super::error::{ErrorKind, FsError};
use super::inode::{Listing, Node};
use super::{Attr, DeidFs};
use crate::lock;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// An open directory: the listing it serves, and the directory (to name its entries).
pub(super) struct OpenDir {
    node: Arc<Node>,
    listing: Arc<Listing>,
}

/// The result of `opendir`: a handle, and whether the kernel may keep its cached entries.
pub struct OpenedDir {
    pub fh: u64,
    pub keep_cache: bool,
}

impl DeidFs {
    pub fn opendir(&self, ino: u64) -> Result<OpenedDir, FsError> {
        let listing = self.listing(ino)?;
        let node = self.node(ino)?;
        let shown = node
            .dir()
            .ok_or(FsError::new(ErrorKind::NotDir))?
            .shown_listing
            .swap(listing.generation, Ordering::AcqRel);
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let keep_cache = shown == listing.generation;
        self.dirs.insert(fh, Arc::new(OpenDir { node, listing }));
        Ok(OpenedDir { fh, keep_cache })
    }

    /// Entries of an open directory from `offset` (0 is the first after `.` and `..`): calls
    /// `add(next_offset, name, attr)` until it returns true (the reply is full). Entries
    /// hidden since the listing are skipped; a file whose node the kernel forgot is looked at
    /// again (its plan is usually cached). With `plus` (readdirplus) every entry added counts
    /// as a lookup the kernel will forget.
    pub fn readdir_from(
        &self,
        fh: u64,
        offset: u64,
        plus: bool,
        mut add: impl FnMut(u64, &str, &Attr) -> bool,
    ) -> Result<(), FsError> {
        let open: Arc<OpenDir> = self
            .dirs
            .get(&fh)
            .map(|d| d.clone())
            .ok_or(FsError::new(ErrorKind::BadHandle))?;
        let listing = &open.listing;
        // Read from the start, this handle refills the kernel's cache of the folder: if its
        // listing is no longer the folder's, the next open must not keep that cache.
        let dir = open.node.dir().ok_or(FsError::new(ErrorKind::NotDir))?;
        if offset == 0
            && !lock(&dir.listing)
                .as_ref()
                .is_some_and(|l| Arc::ptr_eq(l, listing))
        {
            dir.shown_listing.store(0, Ordering::Release);
        }
        for (k, &i) in listing.entries.iter().enumerate().skip(offset as usize) {
            // Hidden since listed, or unreadable now: left out of this reply.
            let Ok(Some(node)) = self.listed(&open.node, listing, i as usize) else {
                continue;
            };
            if add(
                k as u64 + 1,
                listing.names.name(i as usize),
                &self.attr_of(&node),
            ) {
                break;
            }
            if plus {
                self.inodes.remember(&node);
            }
        }
        Ok(())
    }

    pub fn releasedir(&self, fh: u64) {
        self.dirs.remove(&fh);
    }

    /// A file of `parent` was hidden after its listing: the kernel's cached entries of the
    /// directory must not be kept at its next open.
    pub(super) fn entries_changed(&self, parent: u64) {
        if let Some(node) = self.inodes.get(parent)
            && let Some(dir) = node.dir()
        {
            dir.shown_listing.store(0, Ordering::Release);
        }
    }
}
