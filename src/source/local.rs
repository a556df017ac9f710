//! A local directory tree, confined to its root: every path is resolved with `openat2` and
//! `RESOLVE_BENEATH`, so neither `..` nor a symbolic link can reach outside the root, even if
//! the tree changes while we look at it. Where the kernel has no `openat2` (before Linux
//! 5.6, e.g. RHEL 8), each component is opened in turn with `O_NOFOLLOW` and `..` is refused:
//! as confined, but symbolic links are not followed at all (they are not shown).

use super::{Entry, Kind, Source, SourceFile, Stamp};
use crate::io::FileAt;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct LocalSource {
    root: OwnedFd,
    /// Whether O_NOATIME is permitted (we own the files, or are privileged).
    noatime: std::sync::atomic::AtomicBool,
    /// Whether the kernel has `openat2` (cleared at its first ENOSYS).
    openat2: std::sync::atomic::AtomicBool,
}

impl LocalSource {
    pub fn new(root: &Path) -> io::Result<Self> {
        let dir = File::open(root)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Self {
            root: dir.into(),
            noatime: std::sync::atomic::AtomicBool::new(true),
            openat2: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// As the kernel without `openat2` sees it (for tests of that path).
    pub fn without_openat2(root: &Path) -> io::Result<Self> {
        let s = Self::new(root)?;
        s.openat2.store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(s)
    }

    /// Opens `rel` beneath the root with `flags` (O_CLOEXEC added).
    fn open_beneath(&self, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
        use std::sync::atomic::Ordering;
        if self.openat2.load(Ordering::Relaxed) {
            match self.openat2(self.root.as_raw_fd(), rel, flags) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    tracing::info!(
                        "no openat2 in this kernel: paths resolved one component at a time, symbolic links not followed"
                    );
                    self.openat2.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.open_walking(rel, flags)
    }

    /// [`Self::open_beneath`] without `openat2`: each component opened from the last with
    /// `O_NOFOLLOW` (a symbolic link anywhere fails: ELOOP or ENOTDIR), `..` refused (EXDEV,
    /// as `RESOLVE_BENEATH` does).
    fn open_walking(&self, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
        use std::path::Component;
        let mut names = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => names.push(n),
                Component::CurDir => {}
                _ => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
            }
        }
        let open_at = |dir: i32, name: &std::ffi::OsStr, flags: i32| -> io::Result<OwnedFd> {
            let c = CString::new(name.as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: `c` is a valid NUL-terminated name; the returned descriptor (if any) is
            // owned by nobody else.
            let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: openat returned a new descriptor that we now own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let Some((last, dirs)) = names.split_last() else {
            return open_at(self.root.as_raw_fd(), std::ffi::OsStr::new("."), flags);
        };
        let mut dir: Option<OwnedFd> = None;
        for name in dirs {
            let at = dir
                .as_ref()
                .map_or(self.root.as_raw_fd(), |d| d.as_raw_fd());
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            dir = Some(open_at(at, name, flags)?);
        }
        let at = dir
            .as_ref()
            .map_or(self.root.as_raw_fd(), |d| d.as_raw_fd());
        let fd = open_at(at, last, flags | libc::O_NOFOLLOW)?;
        // O_PATH with O_NOFOLLOW opens a link itself: not something beneath to read.
        if File::from(fd.try_clone()?)
            .metadata()?
            .file_type()
            .is_symlink()
        {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        Ok(fd)
    }

    /// `openat2` with `RESOLVE_BENEATH`, from the directory `at` (the root, or one opened
    /// beneath it).
    fn openat2(&self, at: i32, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
        let rel: PathBuf = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel.to_path_buf()
        };
        let c = CString::new(rel.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: open_how is plain data; all-zero is its valid default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: `c` is a valid NUL-terminated path, `how` a valid open_how of the size
        // passed; the returned descriptor (if any) is owned by nobody else.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                at,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openat2 returned a new descriptor that we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn open_file(&self, rel: &Path) -> io::Result<File> {
        use std::sync::atomic::Ordering;
        if self.noatime.load(Ordering::Relaxed) {
            match self.open_beneath(rel, libc::O_RDONLY | libc::O_NOATIME) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    self.noatime.store(false, Ordering::Relaxed)
                }
                other => return other.map(File::from),
            }
        }
        self.open_beneath(rel, libc::O_RDONLY).map(File::from)
    }
}

/// Files longer than this are opened with readahead off (see `open_stamped`): about what the
/// kernel reads ahead of a first read of a few KiB.
const RANDOM_ABOVE: u64 = 32 << 10;

fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    Stamp::local(
        m.dev(),
        m.ino(),
        m.size(),
        nanos(m.mtime(), m.mtime_nsec()),
        nanos(m.ctime(), m.ctime_nsec()),
    )
}

impl SourceFile for FileAt {
    fn stamp(&self) -> io::Result<Stamp> {
        Ok(stamp_of(&self.file().metadata()?))
    }
    fn reading_through(&self) {
        advise(self.file(), libc::POSIX_FADV_SEQUENTIAL);
    }
}

fn advise(f: &File, advice: i32) {
    // SAFETY: posix_fadvise on a descriptor we own; it only changes caching hints.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, advice) };
}

impl Source for LocalSource {
    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let fd = self.open_beneath(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
        // Read the directory through its descriptor, not its path, so the listing is of the
        // directory we confined.
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let mut out = Vec::new();
        for entry in std::fs::read_dir(proc_path)? {
            let entry = entry?;
            let name = entry.file_name();
            let rel = dir.join(&name);
            let kind = match entry.file_type()? {
                t if t.is_dir() => Kind::Dir,
                t if t.is_file() => Kind::File,
                // A link counts only if it resolves beneath the root, to a file or directory.
                t if t.is_symlink() => match self.open_beneath(&rel, libc::O_PATH) {
                    Ok(target) => {
                        let m = File::from(target).metadata()?;
                        if m.is_dir() {
                            Kind::Dir
                        } else if m.is_file() {
                            Kind::File
                        } else {
                            continue;
                        }
                    }
                    Err(_) => continue,
                },
                _ => continue,
            };
            out.push(Entry { name, kind });
        }
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(out)
    }

    fn open(&self, file: &Path) -> io::Result<Box<dyn SourceFile>> {
        self.open_stamped(file).map(|(f, _)| f)
    }

    fn open_stamped(&self, file: &Path) -> io::Result<(Box<dyn SourceFile>, Stamp)> {
        let f = self.open_file(file)?;
        let m = f.metadata()?;
        if !m.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        // Planning reads only the header: without this hint the kernel reads ahead megabytes
        // of pixels per file (a cold `ls -lR` read most of the archive). A small file is read
        // whole by the first read's readahead either way: it is not worth the call.
        if m.len() > RANDOM_ABOVE {
            advise(&f, libc::POSIX_FADV_RANDOM);
        }
        Ok((Box::new(FileAt::with_len(f, m.len())), stamp_of(&m)))
    }

    /// Asks the kernel to start reading each file's first bytes (a file that cannot be
    /// opened is left to the read that follows, which reports it).
    fn prefetch(&self, files: &[PathBuf], len: u64) -> bool {
        use std::sync::atomic::Ordering;
        // Each folder is opened once and each file by its name in it: a lookup of one
        // component instead of the whole path (the opens were most of a hint's cost). What
        // cannot be opened so is opened by its path.
        let mut folder: Option<(&Path, Option<OwnedFd>)> = None;
        for f in files {
            let (Some(parent), Some(name)) = (f.parent(), f.file_name()) else {
                continue;
            };
            if folder.as_ref().is_none_or(|(p, _)| *p != parent) {
                let fd = (self.openat2.load(Ordering::Relaxed))
                    .then(|| {
                        self.open_beneath(parent, libc::O_PATH | libc::O_DIRECTORY)
                            .ok()
                    })
                    .flatten();
                folder = Some((parent, fd));
            }
            let noatime = if self.noatime.load(Ordering::Relaxed) {
                libc::O_NOATIME
            } else {
                0
            };
            let in_folder = folder
                .as_ref()
                .and_then(|(_, fd)| fd.as_ref())
                .and_then(|fd| {
                    self.openat2(fd.as_raw_fd(), Path::new(name), libc::O_RDONLY | noatime)
                        .ok()
                });
            let opened = match in_folder {
                Some(fd) => File::from(fd),
                None => match self.open_file(f) {
                    Ok(f) => f,
                    Err(_) => continue,
                },
            };
            // SAFETY: posix_fadvise on a descriptor we own; it only starts reads into the
            // page cache.
            unsafe {
                libc::posix_fadvise(opened.as_raw_fd(), 0, len as i64, libc::POSIX_FADV_WILLNEED)
            };
        }
        true
    }

    fn stamp(&self, file: &Path) -> io::Result<Stamp> {
        let fd = self.open_beneath(file, libc::O_PATH)?;
        Ok(stamp_of(&File::from(fd).metadata()?))
    }
}

/// Seconds and nanoseconds as nanoseconds since the epoch, saturating.
fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_opened_and_stamped_in_one_step_has_its_stamp_and_a_live_one_after() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.dcm"), b"first version").unwrap();
        let src = LocalSource::new(root.path()).unwrap();
        let (file, opened) = src.open_stamped(Path::new("a.dcm")).unwrap();
        assert_eq!(opened, file.stamp().unwrap());
        assert_eq!(opened, src.stamp(Path::new("a.dcm")).unwrap());
        // The open file's own stamp stays live: a change after the open is seen (reads check
        // it after serving), while the stamp taken at the open names the planned version.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(root.path().join("a.dcm"))
            .unwrap();
        f.write_all(b", then longer").unwrap();
        assert_ne!(file.stamp().unwrap(), opened);
    }

    #[test]
    fn links_cannot_leave_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.dcm"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.dcm"), b"inside").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.dcm"),
            root.path().join("link.dcm"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("linkdir")).unwrap();
        std::os::unix::fs::symlink("a.dcm", root.path().join("inner-link.dcm")).unwrap();
        let src = LocalSource::new(root.path()).unwrap();
        let names: Vec<_> = src
            .list(Path::new(""))
            .unwrap()
            .into_iter()
            .map(|e| e.name.into_string().unwrap())
            .collect();
        assert_eq!(names, ["a.dcm", "inner-link.dcm"]);
        assert!(src.open(Path::new("link.dcm")).is_err());
        assert!(src.open(Path::new("../secret.dcm")).is_err());
        assert!(src.list(Path::new("linkdir")).is_err());
        let f = src.open(Path::new("inner-link.dcm")).unwrap();
        let mut b = [0u8; 6];
        f.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"inside");
    }

    #[test]
    fn without_openat2_paths_stay_beneath_the_root_and_links_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.dcm"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("d/e")).unwrap();
        std::fs::write(root.path().join("d/e/a.dcm"), b"inside").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("d/linkdir")).unwrap();
        std::os::unix::fs::symlink("e/a.dcm", root.path().join("d/inner-link.dcm")).unwrap();
        let src = LocalSource::without_openat2(root.path()).unwrap();
        let names: Vec<_> = src
            .list(Path::new("d"))
            .unwrap()
            .into_iter()
            .map(|e| e.name.into_string().unwrap())
            .collect();
        assert_eq!(names, ["e"], "links are not shown");
        let f = src.open(Path::new("d/e/a.dcm")).unwrap();
        let mut b = [0u8; 6];
        f.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"inside");
        assert!(src.open(Path::new("d/inner-link.dcm")).is_err());
        assert!(src.open(Path::new("d/linkdir/../../a")).is_err());
        assert!(src.list(Path::new("d/linkdir")).is_err());
        assert!(src.open(Path::new("d/../../secret.dcm")).is_err());
        assert!(src.stamp(Path::new("d/e/a.dcm")).is_ok());
        assert!(src.list(Path::new("")).is_ok());
    }

    #[test]
    fn stamps_change_with_content() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("f");
        std::fs::write(&p, b"one").unwrap();
        let src = LocalSource::new(root.path()).unwrap();
        let a = src.stamp(Path::new("f")).unwrap();
        std::fs::write(&p, b"three").unwrap();
        assert_ne!(a, src.stamp(Path::new("f")).unwrap());
    }
}
