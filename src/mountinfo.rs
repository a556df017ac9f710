//! The mount table of this process (`/proc/self/mountinfo`): where things are mounted, and
//! which are deidfs views. One parser for the mount's checks and the key holder's tools.

use std::path::{Path, PathBuf};

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    /// e.g. `ext4`, `fuse.deidfs`.
    pub fs_type: String,
    /// The mount source (a device, a server path, or what a FUSE daemon calls itself).
    pub source: String,
}

impl Mount {
    /// A deidfs view: `fuse.deidfs` when mounted through fusermount3 (as a user) or a helper,
    /// plain `fuse` with the source `deidfs` when root mounts it directly.
    pub fn is_deidfs(&self) -> bool {
        self.fs_type == "fuse.deidfs" || (self.fs_type == "fuse" && self.source == "deidfs")
    }
}

/// Every mount of this process's namespace (none if the table cannot be read).
pub fn mounts() -> Vec<Mount> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Parses mountinfo text: field 5 is the mount point, and after the ` - ` separator come
/// the filesystem type and the source. Paths are octal-escaped (`\040` for a space).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mount_point = unescape(left.split(' ').nth(4)?);
            let mut right = right.split(' ');
            let fs_type = right.next()?.to_string();
            let source = unescape(right.next().unwrap_or_default())
                .to_string_lossy()
                .into_owned();
            Some(Mount {
                mount_point,
                fs_type,
                source,
            })
        })
        .collect()
}

/// What is mounted at `path` (the topmost of the mounts there), found without touching the
/// path itself: a dead FUSE mount cannot even be resolved ("Transport endpoint is not
/// connected"), so the path is made absolute by its parent.
pub fn mount_at(path: &Path) -> Option<Mount> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = std::fs::canonicalize(parent.unwrap_or(Path::new(".")))
        .ok()
        .or_else(|| std::path::absolute(parent.unwrap_or(Path::new("."))).ok())?;
    // A live path is resolved whole (a link to a mount point finds the mount); a dead
    // mount point cannot be, and is named by its parent.
    let at = match (std::fs::canonicalize(path), path.file_name()) {
        (Ok(resolved), _) => resolved,
        (Err(_), Some(name)) => parent.join(name),
        (Err(_), None) => return None,
    };
    mounts().into_iter().rev().find(|m| m.mount_point == at)
}

/// The innermost live deidfs mount that holds `path`.
pub fn deidfs_mount_of(path: &Path) -> Option<PathBuf> {
    mounts()
        .into_iter()
        .filter(|m| m.is_deidfs() && path.starts_with(&m.mount_point))
        .map(|m| m.mount_point)
        .max_by_key(|m| m.as_os_str().len())
}

fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
98 22 0:52 / /mnt/my\\040view rw,nosuid,nodev,noexec,noatime shared:60 - fuse.deidfs deidfs ro,user_id=0
99 22 0:53 / /mnt/other rw shared:61 - fuse.sshfs host: rw
";

    #[test]
    fn mount_points_are_unescaped_and_types_read_after_the_separator() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/my view"));
        assert!(m[1].is_deidfs() && !m[0].is_deidfs() && !m[2].is_deidfs());
        assert_eq!(m[2].fs_type, "fuse.sshfs");
        assert_eq!(m[2].source, "host:");
    }

    #[test]
    fn a_view_root_mounted_shows_as_fuse_with_the_source_deidfs() {
        let m = parse(
            "42 27 0:39 / /tmp/view ro,nosuid - fuse deidfs ro,user_id=0\n\
             43 27 0:40 / /tmp/other rw - fuse sshfs rw\n\
             44 27 0:41 / /tmp/t rw - tmpfs deidfs rw\n",
        );
        assert!(m[0].is_deidfs());
        assert!(!m[1].is_deidfs(), "another FUSE filesystem");
        assert!(!m[2].is_deidfs(), "a tmpfs named deidfs");
    }

    #[test]
    fn a_malformed_line_is_skipped() {
        assert!(parse("garbage without separator\n").is_empty());
    }
}
