//! The view's errors. Each names the file by its view path (a pseudonym, safe to log), maps to
//! one errno and carries its log level: an expected "no such entry" is not a warning. The
//! errno and the level are each decided in one exhaustive `match`.

use std::fmt;
use std::io;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum ErrorKind {
    NotFound,
    NotDir,
    IsDir,
    /// The source changed during a read: failed rather than mixing versions.
    Stale,
    BadHandle,
    /// The source denied access.
    Access,
    /// Any other source I/O error (shared: a plan's error reaches every waiting reader).
    Io(Arc<io::Error>),
}

#[derive(Debug, Clone)]
pub struct FsError {
    pub kind: ErrorKind,
    /// The view path of the entry, when known.
    pub file: Option<Arc<str>>,
}

impl FsError {
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind, file: None }
    }

    /// A source I/O error: not found and access denied keep their meaning.
    pub fn io(e: io::Error) -> Self {
        Self::new(match e.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Access,
            _ => ErrorKind::Io(Arc::new(e)),
        })
    }

    /// Names the entry the error is about (kept if already named).
    pub fn at(mut self, view_path: &str) -> Self {
        if self.file.is_none() {
            self.file = Some(view_path.into());
        }
        self
    }

    /// The errno the kernel gets.
    pub fn errno(&self) -> i32 {
        match self.kind {
            ErrorKind::NotFound => libc::ENOENT,
            ErrorKind::NotDir => libc::ENOTDIR,
            ErrorKind::IsDir => libc::EISDIR,
            ErrorKind::Stale => libc::EIO,
            ErrorKind::BadHandle => libc::EBADF,
            ErrorKind::Access => libc::EACCES,
            ErrorKind::Io(_) => libc::EIO,
        }
    }

    /// Why a head slice's series cannot be defaced, when that is what failed the read (its
    /// series' plane, searched for at the first read, was not found).
    pub fn undefaceable(&self) -> Option<&crate::deface::Undefaceable> {
        match &self.kind {
            ErrorKind::Io(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }

    /// How loudly it is logged: lookups of names that do not exist are routine.
    pub fn level(&self) -> tracing::Level {
        match self.kind {
            ErrorKind::NotFound | ErrorKind::NotDir | ErrorKind::IsDir => tracing::Level::DEBUG,
            ErrorKind::Stale | ErrorKind::BadHandle | ErrorKind::Access | ErrorKind::Io(_) => {
                tracing::Level::WARN
            }
        }
    }
}

impl From<ErrorKind> for FsError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound => write!(f, "no such entry"),
            ErrorKind::NotDir => write!(f, "not a directory"),
            ErrorKind::IsDir => write!(f, "is a directory"),
            ErrorKind::Stale => write!(f, "the source changed during the read"),
            ErrorKind::BadHandle => write!(f, "unknown file handle"),
            ErrorKind::Access => write!(f, "permission denied by the source"),
            ErrorKind::Io(e) => write!(f, "source I/O error: {e}"),
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{p}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_errors_keep_their_meaning_and_name_the_view_path() {
        let e = FsError::io(io::Error::from(io::ErrorKind::PermissionDenied)).at("/ABC/DEF.dcm");
        assert_eq!(e.errno(), libc::EACCES);
        assert_eq!(
            e.to_string(),
            "/ABC/DEF.dcm: permission denied by the source"
        );
        let e = FsError::io(io::Error::from_raw_os_error(libc::EIO));
        assert_eq!((e.errno(), e.level()), (libc::EIO, tracing::Level::WARN));
        let e = FsError::io(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(
            (e.errno(), e.level()),
            (libc::ENOENT, tracing::Level::DEBUG)
        );
    }
}
