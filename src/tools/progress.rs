//! Progress on a terminal for the tools that walk the whole view (export, scan): files done
//! of the files in the source (counted alongside, from folder listings only, so the work
//! starts at once), bytes and rate, and the time left. Nothing is shown off a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Progress {
    bar: Option<ProgressBar>,
    bytes: AtomicU64,
    start: std::time::Instant,
}

/// The regular files under `root`, counted from directory entries (no file is opened).
pub fn count_files(root: &Path) -> u64 {
    let mut n = 0;
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t) if t.is_file() => n += 1,
                _ => {}
            }
        }
    }
    n
}

impl Progress {
    /// A bar for walking the view of `source` (`None`: no bar).
    pub fn new(source: Option<&Path>) -> Progress {
        let bar = source.map(|source| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos} files {msg} (counting the source)")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let counting = bar.clone();
            let source = source.to_path_buf();
            std::thread::spawn(move || {
                let total = count_files(&source);
                counting.set_length(total);
                counting.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} files ({percent}%) {msg}, {elapsed} so far, about {eta} left",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            });
            bar
        });
        Progress {
            bar,
            bytes: AtomicU64::new(0),
            start: std::time::Instant::now(),
        }
    }

    /// One file done, of `bytes`.
    pub fn file_done(&self, bytes: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        bar.inc(1);
        bar.set_message(format!(
            "{:.1} MB at {:.1} MB/s",
            total as f64 / 1e6,
            total as f64 / 1e6 / secs
        ));
    }

    /// The walk ended: the bar is cleared (`done`) or left as it stopped.
    pub fn finish(&self, done: bool) {
        if let Some(bar) = &self.bar {
            if done {
                bar.finish_and_clear();
            } else {
                bar.abandon();
            }
        }
    }
}
