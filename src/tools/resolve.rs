//! Back from a view path to its source file: the key holder's `resolve`.

use crate::fs::{KeyHolderView, ROOT};
use anyhow::{anyhow, bail};
use std::path::{Component, Path, PathBuf};

/// The view-relative form of a path: relative as given, or absolute under a live deidfs mount.
pub fn relative_view_path(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_relative() {
        return Ok(path.to_path_buf());
    }
    let mount = crate::mountinfo::deidfs_mount_of(path).ok_or_else(|| {
        anyhow!(
            "{}: not under a live deidfs mount; give the path relative to the mount root",
            path.display()
        )
    })?;
    Ok(path.strip_prefix(&mount).unwrap_or(path).to_path_buf())
}

/// The source path (relative to the archive's root) that a view path comes from.
pub fn resolve(fs: &KeyHolderView, view_path: &Path) -> anyhow::Result<PathBuf> {
    let rel = relative_view_path(view_path)?;
    let mut ino = ROOT;
    for comp in rel.components() {
        match comp {
            Component::Normal(name) => {
                ino = fs
                    .lookup(ino, name)
                    .map_err(|_| {
                        anyhow!(
                            "{}: no such path in the view (check the key and the policy it was mounted with)",
                            rel.display()
                        )
                    })?
                    .ino;
            }
            Component::CurDir | Component::RootDir => {}
            _ => bail!("{}: give a plain path inside the view", rel.display()),
        }
    }
    Ok(fs.source_path(ino)?)
}
