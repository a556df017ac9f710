//! What a mount has done, for Prometheus: FUSE operations (count, errors, time spent), plans
//! made against plan lookups, bytes served, files hidden by reason, the plan cache's size.
//! Served read-only over HTTP on a loopback address (`--metrics 127.0.0.1:PORT`).
//!
//! The guarantee: every label is an operation name or a refusal reason, both fixed strings
//! of the code; no path, pseudonym or value from a file is ever in the text.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The FUSE operations counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuse {
    Lookup,
    Forget,
    Getattr,
    Open,
    Read,
    Release,
    Flush,
    Opendir,
    Releasedir,
    Readdir,
    Readdirplus,
    Statfs,
    Getxattr,
    Listxattr,
}

impl Fuse {
    pub const ALL: [Fuse; 14] = [
        Fuse::Lookup,
        Fuse::Forget,
        Fuse::Getattr,
        Fuse::Open,
        Fuse::Read,
        Fuse::Release,
        Fuse::Flush,
        Fuse::Opendir,
        Fuse::Releasedir,
        Fuse::Readdir,
        Fuse::Readdirplus,
        Fuse::Statfs,
        Fuse::Getxattr,
        Fuse::Listxattr,
    ];

    /// The operation's name, as FUSE calls it (the `op` label, and the logs' `op` field).
    pub fn name(self) -> &'static str {
        match self {
            Fuse::Lookup => "lookup",
            Fuse::Forget => "forget",
            Fuse::Getattr => "getattr",
            Fuse::Open => "open",
            Fuse::Read => "read",
            Fuse::Release => "release",
            Fuse::Flush => "flush",
            Fuse::Opendir => "opendir",
            Fuse::Releasedir => "releasedir",
            Fuse::Readdir => "readdir",
            Fuse::Readdirplus => "readdirplus",
            Fuse::Statfs => "statfs",
            Fuse::Getxattr => "getxattr",
            Fuse::Listxattr => "listxattr",
        }
    }
}

#[derive(Default)]
struct Op {
    count: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    ops: [Op; Fuse::ALL.len()],
    plan_lookups: AtomicU64,
    plans: AtomicU64,
    indexed: AtomicU64,
    bytes_read: AtomicU64,
    hidden: Mutex<BTreeMap<&'static str, u64>>,
}

/// Times one operation until dropped.
pub struct Timed<'a> {
    op: &'a Op,
    start: Instant,
}

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        self.op.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.op.nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Times operation `op` until the guard is dropped.
    pub fn time(&self, op: Fuse) -> Timed<'_> {
        Timed {
            op: &self.ops[op as usize],
            start: Instant::now(),
        }
    }

    pub fn error(&self, op: Fuse) {
        self.ops[op as usize].errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A plan asked for (served from the cache, or made).
    pub fn plan_lookup(&self) {
        self.plan_lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// A plan made; `hidden`: the file was refused, for this reason.
    pub fn planned(&self, hidden: Option<&'static str>) {
        self.plans.fetch_add(1, Ordering::Relaxed);
        if let Some(reason) = hidden {
            *crate::lock(&self.hidden).entry(reason).or_default() += 1;
        }
    }

    /// Plans made, and files listed from the listing index instead.
    pub fn plans_and_indexed(&self) -> (u64, u64) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (load(&self.plans), load(&self.indexed))
    }

    /// Files listed from the listing index, not planned.
    pub fn indexed(&self, files: usize) {
        self.indexed.fetch_add(files as u64, Ordering::Relaxed);
    }

    pub fn served(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything counted; `cache_bytes`: what the plan
    /// cache holds now.
    pub fn render(&self, cache_bytes: u64) -> String {
        let mut t = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            t,
            "# HELP deidfs_fuse_requests_total FUSE requests answered, by operation."
        );
        let _ = writeln!(t, "# TYPE deidfs_fuse_requests_total counter");
        for (name, op) in Fuse::ALL.iter().map(|o| o.name()).zip(&self.ops) {
            let _ = writeln!(
                t,
                "deidfs_fuse_requests_total{{op=\"{name}\"}} {}",
                load(&op.count)
            );
        }
        let _ = writeln!(
            t,
            "# HELP deidfs_fuse_errors_total FUSE requests answered with an error, by operation."
        );
        let _ = writeln!(t, "# TYPE deidfs_fuse_errors_total counter");
        for (name, op) in Fuse::ALL.iter().map(|o| o.name()).zip(&self.ops) {
            let _ = writeln!(
                t,
                "deidfs_fuse_errors_total{{op=\"{name}\"}} {}",
                load(&op.errors)
            );
        }
        let _ = writeln!(
            t,
            "# HELP deidfs_fuse_request_seconds Time spent answering FUSE requests, by operation."
        );
        let _ = writeln!(t, "# TYPE deidfs_fuse_request_seconds summary");
        for (name, op) in Fuse::ALL.iter().map(|o| o.name()).zip(&self.ops) {
            let secs = load(&op.nanos) as f64 / 1e9;
            let _ = writeln!(t, "deidfs_fuse_request_seconds_sum{{op=\"{name}\"}} {secs}");
            let _ = writeln!(
                t,
                "deidfs_fuse_request_seconds_count{{op=\"{name}\"}} {}",
                load(&op.count)
            );
        }
        let plans = load(&self.plans);
        for (name, help, value) in [
            (
                "deidfs_plan_lookups_total",
                "Plans asked for (from the cache or made).",
                load(&self.plan_lookups),
            ),
            (
                "deidfs_plans_total",
                "Plans made (files planned from their headers).",
                plans,
            ),
            (
                "deidfs_indexed_files_total",
                "Files listed from the listing index (what an earlier mount found), not planned.",
                load(&self.indexed),
            ),
            (
                "deidfs_read_bytes_total",
                "Bytes served to readers.",
                load(&self.bytes_read),
            ),
        ] {
            let _ = writeln!(
                t,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            t,
            "# HELP deidfs_plan_cache_bytes Memory held by cached plans."
        );
        let _ = writeln!(
            t,
            "# TYPE deidfs_plan_cache_bytes gauge\ndeidfs_plan_cache_bytes {cache_bytes}"
        );
        let _ = writeln!(
            t,
            "# HELP deidfs_hidden_files_total Files planned and hidden, by reason."
        );
        let _ = writeln!(t, "# TYPE deidfs_hidden_files_total counter");
        for (reason, n) in crate::lock(&self.hidden).iter() {
            let _ = writeln!(t, "deidfs_hidden_files_total{{reason=\"{reason}\"}} {n}");
        }
        t
    }
}

/// The address `--metrics` may take: loopback only (the counts say how an archive is used).
pub fn loopback(text: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = text.parse().with_context(|| {
        format!("--metrics {text}: give an address and port, e.g. 127.0.0.1:9464")
    })?;
    if !addr.ip().is_loopback() {
        bail!(
            "--metrics {text}: only a loopback address is served (127.0.0.1:PORT or [::1]:PORT); put a proxy in front to share it"
        );
    }
    Ok(addr)
}

/// Serves `GET /metrics` on `addr` from a thread of its own; `render` gives the text.
pub fn serve(addr: SocketAddr, render: impl Fn() -> String + Send + 'static) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("--metrics {addr}: cannot listen there; choose a free port"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &render);
            }
        })
        .context("cannot start the metrics thread")?;
    Ok(())
}

fn answer(mut stream: TcpStream, render: &dyn Fn() -> String) -> std::io::Result<()> {
    // One scrape at a time, each bounded: a client that stalls is dropped, not waited for.
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&request);
    let (status, body) = match line.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] | ["GET", "/"] => ("200 OK", render()),
        ["GET", _] => ("404 Not Found", "only /metrics is served\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "read-only: GET /metrics\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(loopback("127.0.0.1:9464").is_ok());
        assert!(loopback("[::1]:9464").is_ok());
        assert!(
            loopback("0.0.0.0:9464")
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        assert!(loopback("9464").is_err());
    }

    #[test]
    fn labels_are_operation_names_and_reasons_only() {
        let m = Metrics::default();
        drop(m.time(Fuse::Read));
        m.planned(Some("not-dicom"));
        let text = m.render(42);
        assert!(text.contains("deidfs_fuse_requests_total{op=\"read\"} 1"));
        assert!(text.contains("deidfs_hidden_files_total{reason=\"not-dicom\"} 1"));
        assert!(text.contains("deidfs_plan_cache_bytes 42"));
    }
}
