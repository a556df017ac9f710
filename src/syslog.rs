//! The system log, for a daemon that runs detached without a log file: each event one
//! datagram to `/dev/log` (where journald, rsyslog or syslog-ng listen), in the classic
//! syslog form `<PRIORITY>deidfs[PID]: MESSAGE`, facility daemon, severity from the level.
//! The same lines as a log file: files named by pseudonym only.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Where the system log listens.
pub const SOCKET: &str = "/dev/log";

pub struct Syslog {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl Syslog {
    /// The system log at `path`, if something listens there now. Each line is sent to the
    /// path afresh, so a log daemon restarted later still gets them.
    pub fn connect(path: &Path) -> Option<Syslog> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(path).ok()?;
        let socket = UnixDatagram::unbound().ok()?;
        Some(Syslog {
            socket,
            path: path.to_path_buf(),
        })
    }
}

/// One event, sent when dropped.
pub struct Line<'a> {
    syslog: &'a Syslog,
    severity: u8,
    buf: Vec<u8>,
}

impl io::Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        const DAEMON: u8 = 3;
        let line = format!(
            "<{}>deidfs[{}]: {text}",
            DAEMON * 8 + self.severity,
            std::process::id()
        );
        // A full or gone log loses the line, never blocks or fails the daemon.
        let _ = self
            .syslog
            .socket
            .send_to(line.as_bytes(), &self.syslog.path);
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            syslog: self,
            severity: 6,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line<'a> {
        let severity = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        Line {
            syslog: self,
            severity,
            buf: Vec::new(),
        }
    }
}
