//! The mount table of this process (`/proc/self/mountinfo`): where things are mounted, and
//! which are deidfs views. One parser for the mount's checks and the key holder's tools.

use std::path::{Path, PathBuf};

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    /// e.g. `ext4`, `fuse.deidfs`.
    pub fs_type: String,
}

impl Mount {
    pub fn is_deidfs(&self) -> bool {
        self.fs_type == "fuse.deidfs"
    }
}

/// Every mount of this process's namespace (none if the table cannot be read).
pub fn mounts() -> Vec<Mount> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Parses mountinfo text: field 5 is the mount point, and after the ` - ` separator comes
/// the filesystem type. Paths are octal-escaped (`\040` for a space).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mount_point = unescape(left.split(' ').nth(4)?);
            let fs_type = right.split(' ').next()?.to_string();
            Some(Mount {
                mount_point,
                fs_type,
            })
        })
        .collect()
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
    }

    #[test]
    fn a_malformed_line_is_skipped() {
        assert!(parse("garbage without separator\n").is_empty());
    }
}
