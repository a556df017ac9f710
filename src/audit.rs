//! The access audit log: one JSON line per file opened through the view, written when it is
//! closed. It names files by their view path, never by source path.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    uid: u32,
    pid: u32,
    process: String,
    path: &'a str,
    bytes: u64,
}

impl AuditLog {
    /// Opens `path` for appending only, creating it with mode 0600.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = crate::io::create_private(path, crate::io::Private::Append)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Records one closed file: who read it, which view path, how many bytes were served.
    pub fn record(&self, uid: u32, pid: u32, view_path: &str, bytes: u64) {
        let process = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let time = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = Line {
            time,
            uid,
            pid,
            process,
            path: view_path,
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
