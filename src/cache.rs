//! Plans by source version: an LRU bounded by the bytes plans hold, with single flight
//! (concurrent first readers of one file wait for one computation).

use crate::deid::{FileInfo, Plan};
use crate::source::Stamp;
use lru::LruCache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What the engine decided for one version of a file.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The plan, and facts about the file (no PHI).
    Served(Arc<Plan>, Arc<FileInfo>),
    /// Refused; the reason is a short code without PHI (see `Refusal::reason`).
    Hidden(&'static str),
}

impl Verdict {
    fn weight(&self) -> u64 {
        // Inline bytes plus the segment list and bookkeeping.
        const OVERHEAD: u64 = 256;
        match self {
            Verdict::Served(p, _) => p.inline_bytes() + 40 * p.segments().len() as u64 + OVERHEAD,
            Verdict::Hidden(_) => OVERHEAD,
        }
    }
}

/// The identity of a plan: the source version and the planner's id (policy and key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanKey {
    pub stamp: Stamp,
    pub planner: Arc<str>,
}

type Cell = Arc<OnceLock<Verdict>>;

pub struct PlanCache {
    budget: u64,
    // Lock order: `inflight` is never held while taking `lru`, and the reverse.
    lru: Mutex<(LruCache<PlanKey, Verdict>, u64)>,
    inflight: Mutex<HashMap<PlanKey, Cell>>,
}

impl PlanCache {
    pub fn new(budget_bytes: u64) -> Self {
        Self {
            budget: budget_bytes,
            lru: Mutex::new((LruCache::unbounded(), 0)),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &PlanKey) -> Option<Verdict> {
        let mut g = crate::lock(&self.lru);
        g.0.get(key).cloned()
    }

    /// The cached verdict, or `compute`'s, computed once however many ask at the same time.
    /// Errors are not cached (they may be transient).
    pub fn get_or_compute<E>(
        &self,
        key: &PlanKey,
        compute: impl FnOnce() -> Result<Verdict, E>,
    ) -> Result<Verdict, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let cell = {
            let mut inflight = crate::lock(&self.inflight);
            inflight.entry(key.clone()).or_default().clone()
        };
        let mut error = None;
        let verdict = cell.get_or_init(|| match compute() {
            Ok(v) => v,
            Err(e) => {
                error = Some(e);
                Verdict::Hidden("error")
            }
        });
        let verdict = verdict.clone();
        crate::lock(&self.inflight).remove(key);
        if let Some(e) = error {
            return Err(e);
        }
        if !matches!(verdict, Verdict::Hidden("error")) {
            self.insert(key.clone(), verdict.clone());
        }
        Ok(verdict)
    }

    fn insert(&self, key: PlanKey, v: Verdict) {
        let mut g = crate::lock(&self.lru);
        let (lru, bytes) = &mut *g;
        let w = v.weight();
        if let Some(old) = lru.put(key, v) {
            *bytes -= old.weight();
        }
        *bytes += w;
        while *bytes > self.budget && lru.len() > 1 {
            match lru.pop_lru() {
                Some((_, old)) => *bytes -= old.weight(),
                None => break,
            }
        }
    }

    /// Bytes currently accounted to cached plans.
    pub fn bytes(&self) -> u64 {
        crate::lock(&self.lru).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(n: u64) -> PlanKey {
        let stamp = Stamp {
            dev: 0,
            ino: n,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
        };
        PlanKey {
            stamp,
            planner: "p".into(),
        }
    }

    #[test]
    fn single_flight_and_bounded() {
        let cache = Arc::new(PlanCache::new(2000));
        let calls = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (cache, calls) = (cache.clone(), calls.clone());
                s.spawn(move || {
                    cache
                        .get_or_compute::<()>(&key(1), || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok(Verdict::Hidden("x"))
                        })
                        .unwrap()
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for n in 2..100 {
            cache
                .get_or_compute::<()>(&key(n), || Ok(Verdict::Hidden("x")))
                .unwrap();
        }
        assert!(cache.bytes() <= 2000, "{}", cache.bytes());
        assert!(cache.get(&key(99)).is_some() && cache.get(&key(2)).is_none());
    }

    #[test]
    fn errors_are_not_cached() {
        let cache = PlanCache::new(10_000);
        assert!(cache.get_or_compute(&key(1), || Err("boom")).is_err());
        assert!(matches!(
            cache.get_or_compute::<()>(&key(1), || Ok(Verdict::Hidden("ok"))),
            Ok(Verdict::Hidden("ok"))
        ));
    }
}
