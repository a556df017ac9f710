//! The access audit log: one JSON line when a file is opened through the view and one when
//! it is closed. It names files by their view path, never by source path.
//!
//! What it sees, exactly: every open (who: uid, pid and the process's name, read at the
//! open, so a reader that exits before its file is released is still named), and at close
//! the bytes the daemon served for that open. Reads the kernel answers from its page cache
//! (a second read of a file read before) reach no daemon and count nothing, unless the
//! mount drops the cache at every open (`uncached`, `--audit-uncached`): then each open's
//! reads are served, and counted, rounded up to the kernel's readahead.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct AuditLog {
    file: Mutex<std::fs::File>,
    /// The kernel's cached pages of a file are dropped at every open.
    pub uncached: bool,
}

/// Who opened a file (from the kernel's request).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub uid: u32,
    pub pid: u32,
    /// The process's name at the open (`/proc/PID/comm`), when it was read.
    pub process: String,
}

impl Caller {
    /// The caller `uid`/`pid`, its name read now.
    pub fn now(uid: u32, pid: u32) -> Caller {
        let process = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Caller { uid, pid, process }
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    event: &'a str,
    uid: u32,
    pid: u32,
    process: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
}

impl AuditLog {
    /// Opens `path` for appending only, creating it with mode 0600.
    pub fn open(path: &Path, uncached: bool) -> std::io::Result<Self> {
        let file = crate::io::create_private(path, crate::io::Private::Append)?;
        Ok(Self {
            file: Mutex::new(file),
            uncached,
        })
    }

    /// Records an open of `view_path` by `caller`.
    pub fn opened(&self, caller: &Caller, view_path: &str) {
        self.write("open", caller, view_path, None);
    }

    /// Records the close of an open: the bytes the daemon served for it.
    pub fn closed(&self, caller: &Caller, view_path: &str, bytes: u64) {
        self.write("close", caller, view_path, Some(bytes));
    }

    fn write(&self, event: &str, caller: &Caller, path: &str, bytes: Option<u64>) {
        let time = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = Line {
            time,
            event,
            uid: caller.uid,
            pid: caller.pid,
            process: &caller.process,
            path,
            bytes,
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        let mut f = crate::lock(&self.file);
        if let Err(e) = f.write_all(text.as_bytes()) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }
}
