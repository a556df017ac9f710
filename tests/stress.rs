//! Load: 16 readers at random offsets and sizes over a mounted archive while some source files
//! are replaced underneath. Ignored in the normal run; `scripts/stress.sh` runs it (bounded by
//! DEIDFS_STRESS_SECS, default 60).
//!
//! Checks: every read of an unchanged file equals a single sequential reader's bytes; a read
//! of a changed file is either version's bytes or fails (EIO), never a mix; no deadlock (the
//! run ends in time); the daemon's RSS stays within the cache budget plus a constant.

mod common;

use rand::{Rng, SeedableRng};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CACHE: u64 = 16 << 20;
const RSS_CONSTANT: u64 = 96 << 20;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "long: run with scripts/stress.sh"]
fn sixteen_readers_with_the_source_changing() {
    let secs: u64 = std::env::var("DEIDFS_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let (src, view, key) = (
        dir.path().join("src"),
        dir.path().join("view"),
        dir.path().join("k.key"),
    );
    std::fs::create_dir_all(&view).unwrap();
    // 200 files in 20 series; every 10th file will be replaced during the run.
    let mut rels = Vec::new();
    for i in 0..200u32 {
        let rel = PathBuf::from(format!("P{}/S{}/IM{i:04}.dcm", i % 4, i % 20));
        std::fs::create_dir_all(src.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(
            src.join(&rel),
            deidfs::synth::ct_slice(i as usize, 1, i % 20, i, 256, 256).unwrap(),
        )
        .unwrap();
        rels.push(rel);
    }
    Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .arg("keygen")
        .arg(&key)
        .output()
        .unwrap();
    let keys =
        deidfs::pseudonym::Pseudonyms::new(&deidfs::pseudonym::SecretKey::load(&key).unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_deidfs"))
        .args([
            "mount",
            src.to_str().unwrap(),
            view.to_str().unwrap(),
            "--foreground",
            "--ttl",
            "1",
            // "Never a mix" is the open-handle guarantee (see src/fs/handles.rs).
            "--open-handles",
        ])
        .args([
            "--cache-size",
            &CACHE.to_string(),
            "--threads",
            "4",
            "--key-file",
            key.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_mounted(&view);
    let views: Vec<PathBuf> = rels
        .iter()
        .map(|r| view.join(deidfs::fs::view_path(&keys, r, true).trim_start_matches('/')))
        .collect();
    // The single sequential reader's bytes, and the replacement versions' expected bytes.
    let reference: Vec<Vec<u8>> = views.iter().map(|v| std::fs::read(v).unwrap()).collect();
    let changed: Vec<usize> = (0..rels.len()).step_by(10).collect();
    let replacement = |i: usize| deidfs::synth::ct_slice(i, 2, 99, i as u32, 128, 128).unwrap();
    let expected_new: Arc<Mutex<Vec<Option<Vec<u8>>>>> =
        Arc::new(Mutex::new(vec![None; rels.len()]));
    {
        let p = deidfs::policy::load_builtin("basic").unwrap();
        let mut e = expected_new.lock().unwrap();
        for &i in &changed {
            let bytes = replacement(i);
            let plan = deidfs::deid::Engine::new(&p, &keys)
                .plan(&bytes)
                .unwrap()
                .plan;
            e[i] = Some(plan.to_vec(&bytes).unwrap());
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, eio, mismatches) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let reference = Arc::new(reference);
    let views = Arc::new(views);
    let mut handles = Vec::new();
    for t in 0..16u64 {
        let (stop, reads, eio, mismatches, reference, views, expected_new, changed) = (
            stop.clone(),
            reads.clone(),
            eio.clone(),
            mismatches.clone(),
            reference.clone(),
            views.clone(),
            expected_new.clone(),
            changed.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(t);
            while !stop.load(Ordering::Relaxed) {
                let i = rng.random_range(0..views.len());
                let Ok(f) = std::fs::File::open(&views[i]) else {
                    continue;
                };
                let len = reference[i].len().max(1);
                let off = rng.random_range(0..len);
                let size = rng.random_range(1..=256 * 1024);
                let mut buf = vec![0u8; size];
                match f.read_at(&mut buf, off as u64) {
                    Ok(n) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        let got = &buf[..n];
                        let matches = |r: &[u8]| r.get(off..(off + n).min(r.len())) == Some(got);
                        let ok = matches(&reference[i])
                            || (changed.contains(&i)
                                && expected_new.lock().unwrap()[i]
                                    .as_deref()
                                    .is_some_and(|r| off <= r.len() && matches(r)));
                        if !ok {
                            mismatches.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                        eio.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
            }
        }));
    }
    // The source changes underneath, once per changed file, spread over the run.
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut peak_rss = 0;
    for &i in &changed {
        std::thread::sleep(Duration::from_secs(secs) / (changed.len() as u32 + 1));
        let tmp = src.join(".tmp");
        std::fs::write(&tmp, replacement(i)).unwrap();
        std::fs::rename(&tmp, src.join(&rels[i])).unwrap();
        peak_rss = peak_rss.max(rss_kib(child.id()));
    }
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        peak_rss = peak_rss.max(rss_kib(child.id()));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    // SAFETY: kill with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let (r, e, m) = (
        reads.load(Ordering::Relaxed),
        eio.load(Ordering::Relaxed),
        mismatches.load(Ordering::Relaxed),
    );
    println!(
        "stress: {secs}s, {r} reads, {e} EIO on changed files, {m} mismatches, peak RSS {} MiB",
        peak_rss / 1024
    );
    assert!(r > 1000, "too few reads: {r}");
    assert_eq!(m, 0, "reads that were neither version");
    assert!(
        peak_rss * 1024 <= CACHE + RSS_CONSTANT,
        "RSS {peak_rss} KiB over budget"
    );
}
