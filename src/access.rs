//! Who may read the view: the owner, group and permission bits every entry shows, which the
//! kernel enforces for other users (`--allow-other` mounts with `default_permissions`).
//!
//! The guarantee: the bits shown are read (and, for folders, search) bits only, since the
//! view is read-only; `--group NAME` gives that group 0440 files and 0550 folders and nobody
//! else anything; and the mount warns when the users the view admits can read the archive
//! itself (the view would protect nothing from them).

use anyhow::{anyhow, bail};
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Owner, group and permissions of every file and folder of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
}

/// What the command line says about access.
#[derive(Debug, Clone, Default)]
pub struct AccessArgs {
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub group: Option<String>,
    pub file_mode: Option<u16>,
    pub dir_mode: Option<u16>,
    pub allow_other: bool,
}

impl Access {
    /// Everything owned by the mounting user, readable by all (who may reach it: without
    /// `--allow-other` only the mounting user).
    pub fn mounting_user() -> Access {
        Access {
            // SAFETY: getuid/getgid have no preconditions and cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            file_mode: 0o444,
            dir_mode: 0o555,
        }
    }

    pub fn from_args(a: &AccessArgs) -> anyhow::Result<Access> {
        let mut access = Access::mounting_user();
        if let Some(u) = &a.uid {
            access.uid = user_id(u)?;
        }
        if let Some(g) = &a.gid {
            access.gid = group_id(g)?;
        }
        if let Some(g) = &a.group {
            if a.gid.is_some() {
                bail!("--group sets the group: give --group or --gid, not both");
            }
            if !a.allow_other {
                bail!(
                    "--group {g} admits a group, which needs --allow-other (without it only you can read the view)"
                );
            }
            access.gid = group_id(g)?;
            access.file_mode = 0o440;
            access.dir_mode = 0o550;
        }
        if let Some(m) = a.file_mode {
            access.file_mode = m;
        }
        if let Some(m) = a.dir_mode {
            access.dir_mode = m;
        }
        Ok(access)
    }

    /// Why users the view admits can read the archive at `source` directly, if they can: a
    /// warning for the mount to print (nothing when only the mounting user is admitted).
    pub fn exposure(&self, source: &Path, allow_other: bool) -> Option<String> {
        if !allow_other {
            return None;
        }
        let meta = std::fs::metadata(source).ok()?;
        let mode = meta.mode();
        let others_view = self.file_mode & 0o004 != 0;
        let group_view = self.file_mode & 0o040 != 0;
        let readable = |bits: u32| mode & bits == bits;
        // Whoever the view admits, if every user can read the archive, so can they.
        let who = if (others_view || group_view) && readable(0o005) {
            "every user"
        } else if group_view && meta.gid() == self.gid && readable(0o050) {
            "the view's group"
        } else {
            return None;
        };
        Some(format!(
            "warning: the source {} can be read by {who} (mode {:04o}), whom the view admits: they can read the original files; restrict it (e.g. `chmod o-rwx {}`, or a group only the mount's user is in)",
            source.display(),
            mode & 0o7777,
            source.display()
        ))
    }
}

/// A mode for the view's entries: octal, read and search bits only (the view is read-only).
pub fn parse_mode(s: &str) -> Result<u16, String> {
    let m = u16::from_str_radix(s.trim().trim_start_matches("0o"), 8)
        .map_err(|_| format!("{s:?} is not an octal mode (e.g. 0440)"))?;
    if m & !0o555 != 0 {
        return Err(format!(
            "{s}: the view is read-only; give read and search bits only (e.g. 0440 for files, 0550 for folders)"
        ));
    }
    Ok(m)
}

/// A user by name or number.
pub fn user_id(name: &str) -> anyhow::Result<u32> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = CString::new(name).map_err(|_| anyhow!("{name:?}: not a user name"))?;
    // SAFETY: getpwnam with a valid C string; the result is read at once, before any other
    // call that could overwrite it.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        bail!("user {name:?}: no such user; give a user name or number (see `getent passwd`)");
    }
    // SAFETY: pw is non-null and points to a passwd record.
    Ok(unsafe { (*pw).pw_uid })
}

/// A group by name or number.
pub fn group_id(name: &str) -> anyhow::Result<u32> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = CString::new(name).map_err(|_| anyhow!("{name:?}: not a group name"))?;
    // SAFETY: as in user_id, for getgrnam.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        bail!("group {name:?}: no such group; give a group name or number (see `getent group`)");
    }
    // SAFETY: gr is non-null and points to a group record.
    Ok(unsafe { (*gr).gr_gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_read_and_search_bits_only() {
        assert_eq!(parse_mode("0440"), Ok(0o440));
        assert_eq!(parse_mode("550"), Ok(0o550));
        assert!(parse_mode("0644").unwrap_err().contains("read-only"));
        assert!(parse_mode("rw").unwrap_err().contains("octal"));
    }

    #[test]
    fn a_group_gets_0440_and_0550_and_needs_allow_other() {
        let mut a = AccessArgs {
            group: Some("0".into()),
            ..AccessArgs::default()
        };
        assert!(Access::from_args(&a).is_err());
        a.allow_other = true;
        let access = Access::from_args(&a).unwrap();
        assert_eq!(
            (access.gid, access.file_mode, access.dir_mode),
            (0, 0o440, 0o550)
        );
        assert!(user_id("no-such-user-deidfs").is_err());
    }
}
