//! The view as the key holder's tools see it: the same names, visibility and bytes as the
//! mount, plus the source paths behind them. Source paths are PHI, so this is the only type
//! that hands them out, and the FUSE adapter is never given one: it serves a [`DeidFs`].

use super::error::{ErrorKind, FsError};
use super::{Config, DeidFs};
use crate::cache::Verdict;
use crate::deid::{FileInfo, Plan};
use crate::lock;
use crate::source::{Kind, Source, SourceFile, Stamp};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

pub struct KeyHolderView {
    fs: Arc<DeidFs>,
}

impl KeyHolderView {
    pub fn new(source: Arc<dyn Source>, cfg: Config) -> Self {
        let fs = Arc::new(DeidFs::new(source, cfg));
        fs.start();
        Self { fs }
    }

    /// The source path (relative to the root) of a view entry.
    pub fn source_path(&self, ino: u64) -> Result<PathBuf, FsError> {
        Ok(self.fs.node(ino)?.source())
    }

    /// Files of a directory that the view hides, with the reason.
    pub fn hidden(&self, ino: u64) -> Result<Vec<(PathBuf, &'static str)>, FsError> {
        let listing = self.fs.listing(ino)?;
        let dir = self.fs.node(ino)?.source();
        Ok(listing
            .hidden
            .iter()
            .map(|&(i, reason)| (dir.join(listing.names.source(i as usize)), reason))
            .collect())
    }

    /// Opens the source file of a view entry (through the source, confined to its root).
    pub fn open_source(&self, ino: u64) -> Result<Box<dyn SourceFile>, FsError> {
        let node = self.fs.node(ino)?;
        self.fs
            .source
            .open(&node.source())
            .map_err(|e| FsError::io(e).at(&node.view_path()))
    }

    /// The plan of a file's current version and its open source, to write it out whole.
    pub fn plan_of(&self, ino: u64) -> Result<(Arc<Plan>, Box<dyn SourceFile>), FsError> {
        let node = self.fs.node(ino)?;
        match self
            .fs
            .plan_source(&node.source())
            .map_err(|e| e.at(&node.view_path()))?
        {
            (_, Verdict::Served(plan, _), file) => {
                file.reading_through();
                Ok((plan, file))
            }
            (_, Verdict::Hidden(_), _) => {
                Err(FsError::new(ErrorKind::NotFound).at(&node.view_path()))
            }
        }
    }

    /// Why a file listed as served is hidden after all: its head series has no plane to
    /// remove its face by (searched here, by reading its first defaced byte: once per
    /// series), or it was hidden since listed. `None` while it is served.
    pub fn hidden_since(&self, ino: u64) -> Result<Option<&'static str>, FsError> {
        let node = self.fs.node(ino)?;
        let at = |e: FsError| e.at(&node.view_path());
        let (_, verdict, file) = self.fs.plan_source(&node.source()).map_err(at)?;
        let plan = match verdict {
            Verdict::Hidden(reason) => return Ok(Some(reason)),
            Verdict::Served(plan, _) => plan,
        };
        let Some(start) = plan.defaced_at() else {
            return Ok(None);
        };
        match plan.read_at(file.as_ref(), start, &mut [0u8]) {
            Ok(_) => Ok(None),
            Err(e) => {
                let e = FsError::io(e);
                match e.undefaceable() {
                    Some(why) => Ok(Some(why.code())),
                    None => Err(at(e)),
                }
            }
        }
    }

    /// Facts about a served file (modality, transfer syntax...; no PHI): from its cached
    /// plan, or planned again (the view keeps only versions and sizes per file).
    pub fn file_info(&self, ino: u64) -> Option<Arc<FileInfo>> {
        let (stamp, _) = self.version(ino)?;
        if let Some(Verdict::Served(_, info)) = self.fs.cache.get(&self.fs.plan_key(stamp)) {
            return Some(info);
        }
        let node = self.fs.node(ino).ok()?;
        match self.fs.plan_source(&node.source()).ok()? {
            (s, Verdict::Served(_, info), _) if s == stamp => Some(info),
            _ => None,
        }
    }

    /// The source version and view size of a visible file.
    pub fn version(&self, ino: u64) -> Option<(Stamp, u64)> {
        let node = self.fs.node(ino).ok()?;
        lock(&node.state).as_ref().map(|s| (s.stamp, s.size))
    }

    /// The offline walk is done with a directory: the nodes of its files and its listing go
    /// (its subdirectories stay until they are walked), so walking a tree holds only the
    /// directories in flight, not the tree. Its inode numbers are not valid afterwards.
    pub fn done_with(&self, ino: u64) {
        let Ok(node) = self.fs.node(ino) else { return };
        if let Some(dir) = node.dir() {
            // Lock order: listing, then names.
            lock(&dir.listing).take();
            let names = lock(&dir.names).take();
            for e in names.iter().flat_map(|n| n.entries.iter()) {
                let child = e.ino.load(std::sync::atomic::Ordering::Acquire);
                if e.kind == Kind::File && child != 0 {
                    self.fs.inodes.forget(child, 0);
                }
            }
        }
        self.fs.inodes.forget(ino, 0);
    }

    /// The plan cache key of a visible file's current version (for digests that outlive the
    /// process, such as the export manifest).
    pub fn plan_key(&self, ino: u64) -> Option<(crate::cache::PlanKey, u64)> {
        let (stamp, size) = self.version(ino)?;
        Some((self.fs.plan_key(stamp), size))
    }
}

/// The tools walk the view through its filesystem API (lookup, readdir).
impl Deref for KeyHolderView {
    type Target = DeidFs;
    fn deref(&self) -> &DeidFs {
        &self.fs
    }
}
