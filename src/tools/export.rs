//! The view written out as files: the same names and bytes as the mount, each file written
//! under a temporary name and renamed when complete, and a keyed manifest so that a second
//! run writes only what changed.

use super::walk::visit_until;
use crate::fs::KeyHolderView;
use crate::io::write_atomically;
use crate::lock;
use crate::pseudonym::Pseudonyms;
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct ExportSummary {
    pub written: usize,
    pub skipped: usize,
    /// Files of an earlier export that the view no longer shows (now refused, or gone from
    /// the source), removed from the destination.
    pub removed: usize,
    pub failed: usize,
    pub bytes: u64,
    pub hidden: BTreeMap<&'static str, usize>,
    /// Temporary files of an interrupted run, removed.
    pub cleaned: usize,
    /// Stopped by SIGINT or SIGTERM: what was written is kept and recorded, so the next run
    /// resumes; nothing was removed.
    pub interrupted: bool,
}

const MANIFEST: &str = ".deidfs-export";
/// The files written so far by a run, a line each as they complete: what an interrupted run
/// did, for the next one.
const PARTIAL: &str = ".deidfs-export.partial";

/// Removes the temporary files (`.NAME.deidfs-tmp-PID`) that an interrupted export left
/// under `dir`: those of a process no longer running (another export writing there now
/// keeps its own); returns how many.
fn clean_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            n += clean_temporaries(&path);
        } else if let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".deidfs-tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::remove_file(&path).is_ok()
        {
            n += 1;
        }
    }
    n
}

fn manifest_lines(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.lines().filter_map(|l| {
        l.split_once('\t')
            .map(|(a, b)| (a.to_string(), b.to_string()))
    })
}

/// Writes the view's files under `dest` with `jobs` threads. A file whose source version and
/// policy are unchanged since the last export (per the keyed manifest) is skipped; every file
/// is written under a temporary name and renamed when complete.
/// One part of a sharded export: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the file of patient `token` (the keyed patient pseudonym, so shards say nothing
    /// of who is where) is this shard's: every file of a patient, hence of a study, goes to
    /// one shard, the same on every machine.
    pub fn takes(&self, token: &str) -> bool {
        let h = blake3::hash(token.as_bytes());
        let n = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]));
        n % u64::from(self.count) == u64::from(self.index)
    }

    /// `I/N`, or `auto/N` and `auto` with the index (and count) from a cluster scheduler:
    /// a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, a Slurm array's SLURM_ARRAY_TASK_ID
    /// (less SLURM_ARRAY_TASK_MIN; its count SLURM_ARRAY_TASK_COUNT).
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |v: &str, what: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("--shard {text}: {what} {v:?} is not a number"))
        };
        let (index, count) = match text.split_once('/') {
            Some((i, n)) => (i, Some(n)),
            None => (text, None),
        };
        let count = match count {
            Some(n) => number(n, "the count")?,
            None if index == "auto" => match env("SLURM_ARRAY_TASK_COUNT") {
                Some(n) => number(&n, "SLURM_ARRAY_TASK_COUNT")?,
                None => {
                    return Err(format!(
                        "--shard {text}: no SLURM_ARRAY_TASK_COUNT; give the count, e.g. --shard auto/8"
                    ));
                }
            },
            None => {
                return Err(format!(
                    "--shard {text}: give INDEX/COUNT, e.g. --shard 0/8"
                ));
            }
        };
        let index = if index == "auto" {
            if let Some(i) = env("JOB_COMPLETION_INDEX") {
                number(&i, "JOB_COMPLETION_INDEX")?
            } else if let Some(i) = env("SLURM_ARRAY_TASK_ID") {
                let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
                number(&i, "SLURM_ARRAY_TASK_ID")?
                    .checked_sub(number(&min, "SLURM_ARRAY_TASK_MIN")?)
                    .ok_or(format!(
                        "--shard {text}: SLURM_ARRAY_TASK_ID below SLURM_ARRAY_TASK_MIN"
                    ))?
            } else {
                return Err(format!(
                    "--shard {text}: neither JOB_COMPLETION_INDEX (Kubernetes) nor SLURM_ARRAY_TASK_ID (Slurm) is set; give the index, e.g. --shard 0/8"
                ));
            }
        } else {
            number(index, "the index")?
        };
        if count == 0 || index >= count {
            return Err(format!(
                "--shard {text}: the index must be below the count (0 to {})",
                count.saturating_sub(1)
            ));
        }
        Ok(Shard { index, count })
    }

    /// The suffix of this shard's manifest and journal.
    fn suffix(&self) -> String {
        format!(".shard-{}-of-{}", self.index, self.count)
    }
}

pub fn export(
    fs: &KeyHolderView,
    keys: &Pseudonyms,
    dest: &Path,
    jobs: usize,
    progress: Option<&Path>,
    shard: Option<Shard>,
) -> anyhow::Result<ExportSummary> {
    std::fs::create_dir_all(dest).with_context(|| dest.display().to_string())?;
    let mut summary = ExportSummary {
        cleaned: clean_temporaries(dest),
        ..ExportSummary::default()
    };
    // Each shard keeps its own manifest and journal: shards write one destination at once,
    // and each removes only what it wrote.
    let suffix = shard.map(|s| s.suffix()).unwrap_or_default();
    let manifest_path = dest.join(format!("{MANIFEST}{suffix}"));
    let partial_path = dest.join(format!("{PARTIAL}{suffix}"));
    // The last complete run's manifest, and what an interrupted run wrote since.
    let mut old: BTreeMap<String, String> =
        manifest_lines(&std::fs::read_to_string(&manifest_path).unwrap_or_default()).collect();
    old.extend(manifest_lines(
        &std::fs::read_to_string(&partial_path).unwrap_or_default(),
    ));
    let partial = Mutex::new(
        crate::io::create_private(&partial_path, crate::io::Private::Append)
            .with_context(|| partial_path.display().to_string())?,
    );
    // Ctrl-C or a TERM stops listing and writing; what is written stays recorded. A second
    // one ends the process at once (exit 130), whatever it is waiting for. The handlers stay
    // for the rest of the run: the manifest and the prune are stopped by the second signal.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone());
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    // The total grows as directories are listed (listing and writing overlap).
    let bar = super::progress::Progress::new(progress);
    let (written, skipped, failed, bytes) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicU64::new(0),
    );
    let manifest = Mutex::new(BTreeMap::new());
    let hidden = visit_until(fs, jobs, &stop, |f| {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Some(s) = shard {
            let token = fs.file_info(f.ino).map(|i| i.patient_token.clone());
            if !s.takes(token.as_deref().unwrap_or(&f.view_path)) {
                return;
            }
        }
        let target = dest.join(&f.view_path);
        // Keyed: the manifest says nothing about the source to whoever reads the outbox.
        let digest = fs.plan_key(f.ino).map(|(key, size)| {
            let mut v = key.canonical();
            v.extend(size.to_le_bytes());
            keys.manifest_digest(&v)
        });
        let same = digest
            .as_ref()
            .is_some_and(|d| old.get(&f.view_path) == Some(d))
            && std::fs::metadata(&target).is_ok_and(|m| m.len() == f.size);
        let result = if same {
            skipped.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            write_one(fs, f.ino, &target).map(|n| {
                written.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(n, Ordering::Relaxed);
            })
        };
        match (result, digest) {
            (Ok(()), Some(d)) => {
                let _ = writeln!(lock(&partial), "{}\t{d}", f.view_path);
                lock(&manifest).insert(f.view_path.clone(), d);
            }
            (Ok(()), None) => {}
            (Err(e), _) => {
                failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(file = %f.view_path, error = %crate::error_text(&e), "export failed");
            }
        }
        bar.file_done(f.size);
    })?;
    summary.written = written.into_inner();
    summary.skipped = skipped.into_inner();
    summary.failed = failed.into_inner();
    summary.bytes = bytes.into_inner();
    if stop.load(Ordering::Relaxed) {
        summary.interrupted = true;
        bar.finish(false);
        return Ok(summary);
    }
    for (_, reason) in &hidden {
        *summary.hidden.entry(reason).or_default() += 1;
    }
    bar.finish(true);
    let manifest = manifest.into_inner().unwrap_or_else(|e| e.into_inner());
    let text: String = manifest
        .iter()
        .map(|(k, v)| format!("{k}\t{v}\n"))
        .collect();
    // The files were written without a flush each: flush the whole destination once, then
    // record them in the manifest.
    if let Ok(d) = std::fs::File::open(dest) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs on a descriptor we own.
        unsafe { libc::syncfs(d.as_raw_fd()) };
    }
    write_atomically(&manifest_path, true, |w| w.write_all(text.as_bytes()))
        .with_context(|| manifest_path.display().to_string())?;
    let _ = std::fs::remove_file(&partial_path);
    // What an earlier export wrote and the view no longer shows must not stay behind: it may
    // be a file now refused (a policy or deidfs that finds more burned-in text).
    for stale in old.keys().filter(|k| !manifest.contains_key(*k)) {
        let path = dest.join(stale);
        if std::path::Path::new(stale)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            && std::fs::remove_file(&path).is_ok()
        {
            summary.removed += 1;
        }
    }
    Ok(summary)
}

/// Writes one file; errors name it by its view path.
fn write_one(fs: &KeyHolderView, ino: u64, target: &Path) -> anyhow::Result<u64> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let (plan, file) = fs.plan_of(ino)?;
    write_atomically(target, false, |w| plan.write_to_file(file.as_ref(), w))?;
    Ok(plan.len())
}

#[cfg(test)]
mod tests {
    use super::Shard;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn shards_come_from_the_command_line_or_the_cluster_scheduler() {
        let none = env(&[]);
        assert_eq!(Shard::parse("2/8", &none), Ok(Shard { index: 2, count: 8 }));
        assert!(
            Shard::parse("8/8", &none)
                .unwrap_err()
                .contains("below the count")
        );
        assert!(
            Shard::parse("auto/8", &none)
                .unwrap_err()
                .contains("JOB_COMPLETION_INDEX")
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "5")]);
        assert_eq!(
            Shard::parse("auto/8", &k8s),
            Ok(Shard { index: 5, count: 8 })
        );
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "6"),
        ]);
        assert_eq!(
            Shard::parse("auto", &slurm),
            Ok(Shard { index: 3, count: 6 })
        );
    }

    #[test]
    fn every_patient_goes_to_exactly_one_shard() {
        for token in ["A1B2C3", "ZZZZ", ""] {
            let takers = (0..5)
                .filter(|&i| Shard { index: i, count: 5 }.takes(token))
                .count();
            assert_eq!(takers, 1, "{token}");
        }
    }
}
