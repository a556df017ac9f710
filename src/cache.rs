//! Plans by source version: an LRU bounded by the bytes plans hold, with single flight
//! (concurrent first readers of one file wait for one computation, and all get its result:
//! the verdict, or the error, which is not kept).
//!
//! The budget is shared: what the rest of the view holds (the node table, counted in
//! [`PlanCache::reservations`]) comes off the plans' share, down to a floor
//! ([`PLAN_FLOOR`], or the whole budget if smaller), so one `--cache-size` bounds plans and
//! nodes together.

use crate::deid::{FileInfo, Plan, plan};
use crate::source::Stamp;
use lru::LruCache;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
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

/// The identity of a plan: the plan format, the source version and the planner's id (policy
/// and key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanKey {
    /// [`plan::FORMAT`]: what a plan's segments mean.
    pub format: u32,
    pub stamp: Stamp,
    pub planner: Arc<str>,
}

impl PlanKey {
    pub fn new(stamp: Stamp, planner: Arc<str>) -> Self {
        Self {
            format: plan::FORMAT,
            stamp,
            planner,
        }
    }

    /// The key as bytes in a fixed layout (for digests kept across runs and builds): a
    /// context string, the format, the planner id (length-prefixed) and the stamp.
    pub fn canonical(&self) -> Vec<u8> {
        let mut v = b"deidfs plan key\0".to_vec();
        v.extend(self.format.to_le_bytes());
        v.extend((self.planner.len() as u64).to_le_bytes());
        v.extend(self.planner.as_bytes());
        v.extend(self.stamp.to_bytes());
        v
    }
}

type Cell<E> = Arc<OnceLock<Result<Verdict, E>>>;

/// The least the plans keep however much the rest of the view holds.
pub const PLAN_FLOOR: u64 = 16 << 20;

pub struct PlanCache<E> {
    budget: u64,
    /// Bytes of the budget the rest of the view holds (it adds and takes back its own).
    reserved: Arc<AtomicU64>,
    // Lock order: `inflight` is never held while taking `lru`, and the reverse.
    lru: Mutex<(LruCache<PlanKey, Verdict>, u64)>,
    inflight: Mutex<HashMap<PlanKey, Cell<E>>>,
}

impl<E: Clone> PlanCache<E> {
    pub fn new(budget_bytes: u64) -> Self {
        Self {
            budget: budget_bytes,
            reserved: Arc::default(),
            lru: Mutex::new((LruCache::unbounded(), 0)),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// The cached verdict; a plan withdrawn since it was made (`Plan::withdrawn`) is
    /// dropped, not returned.
    pub fn get(&self, key: &PlanKey) -> Option<Verdict> {
        let mut g = crate::lock(&self.lru);
        let (lru, bytes) = &mut *g;
        let v = lru.get(key).cloned()?;
        if let Verdict::Served(plan, _) = &v
            && plan.withdrawn()
        {
            if let Some(old) = lru.pop(key) {
                *bytes -= old.weight();
            }
            return None;
        }
        Some(v)
    }

    /// The cached verdict, or `compute`'s, computed once however many ask at the same time.
    /// An error reaches every reader that waited for it and is not cached (it may be
    /// transient): the next reader computes again.
    pub fn get_or_compute(
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
        let result = cell.get_or_init(compute).clone();
        if let Ok(v) = &result {
            self.insert(key.clone(), v.clone());
        }
        // Only this computation's cell: a later one may already have taken its place.
        let mut inflight = crate::lock(&self.inflight);
        if inflight.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(key);
        }
        result
    }

    fn insert(&self, key: PlanKey, v: Verdict) {
        let mut g = crate::lock(&self.lru);
        let (lru, bytes) = &mut *g;
        let w = v.weight();
        if let Some(old) = lru.put(key, v) {
            *bytes -= old.weight();
        }
        *bytes += w;
        let limit = self.limit();
        while *bytes > limit && lru.len() > 1 {
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

    /// What plans may hold now: the budget less what is reserved, not below the floor.
    fn limit(&self) -> u64 {
        let floor = PLAN_FLOOR.min(self.budget);
        self.budget
            .saturating_sub(self.reserved.load(std::sync::atomic::Ordering::Relaxed))
            .max(floor)
    }

    /// The counter of bytes the rest of the view holds of the budget: it adds what it takes
    /// and subtracts what it gives back (plans are evicted at the next insertion).
    pub fn reservations(&self) -> Arc<AtomicU64> {
        self.reserved.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(n: u64) -> PlanKey {
        let stamp = Stamp::local(0, n, 0, 0, 0);
        PlanKey::new(stamp, "p".into())
    }

    #[test]
    fn single_flight_and_bounded() {
        let cache = Arc::new(PlanCache::<()>::new(2000));
        let calls = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (cache, calls) = (cache.clone(), calls.clone());
                s.spawn(move || {
                    cache
                        .get_or_compute(&key(1), || {
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
                .get_or_compute(&key(n), || Ok(Verdict::Hidden("x")))
                .unwrap();
        }
        assert!(cache.bytes() <= 2000, "{}", cache.bytes());
        assert!(cache.get(&key(99)).is_some() && cache.get(&key(2)).is_none());
    }

    #[test]
    fn what_the_rest_of_the_view_reserves_comes_off_the_plans_down_to_the_floor() {
        let budget = PLAN_FLOOR + 100 * 256;
        let cache = PlanCache::<()>::new(budget);
        let fill = |from: u64| {
            for n in from..from + 100_000 {
                cache
                    .get_or_compute(&key(n), || Ok(Verdict::Hidden("x")))
                    .unwrap();
            }
        };
        fill(0);
        assert_eq!(cache.bytes(), budget, "hidden verdicts weigh 256 bytes");
        let reserved = cache.reservations();
        reserved.fetch_add(50 * 256, Ordering::Relaxed);
        fill(200_000);
        assert_eq!(cache.bytes(), budget - 50 * 256);
        reserved.fetch_add(u64::MAX / 2, Ordering::Relaxed);
        fill(400_000);
        assert_eq!(cache.bytes(), PLAN_FLOOR, "never below the floor");
        reserved.fetch_sub(u64::MAX / 2 + 50 * 256, Ordering::Relaxed);
        fill(600_000);
        assert_eq!(cache.bytes(), budget, "given back");
    }

    #[test]
    fn errors_are_not_cached() {
        let cache = PlanCache::new(10_000);
        assert!(cache.get_or_compute(&key(1), || Err("boom")).is_err());
        assert!(matches!(
            cache.get_or_compute(&key(1), || Ok(Verdict::Hidden("ok"))),
            Ok(Verdict::Hidden("ok"))
        ));
    }

    /// Regression: a planning error used to fill the shared cell with a hidden verdict, so a
    /// reader waiting for it reported a transient I/O error as a hidden file (ENOENT).
    #[test]
    fn readers_waiting_for_a_failed_plan_get_the_error_not_a_hidden_file() {
        let cache = PlanCache::<&str>::new(10_000);
        let started = std::sync::Barrier::new(2);
        let results: Vec<Result<Verdict, &str>> = std::thread::scope(|s| {
            let first = s.spawn(|| {
                cache.get_or_compute(&key(1), || {
                    started.wait();
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Err("EIO")
                })
            });
            started.wait();
            // The first computation is under way: this reader waits on its cell.
            let waiter = s.spawn(|| cache.get_or_compute(&key(1), || Ok(Verdict::Hidden("x"))));
            vec![first.join().unwrap(), waiter.join().unwrap()]
        });
        for r in results {
            assert!(matches!(r, Err("EIO")), "{r:?}");
        }
        assert!(cache.get(&key(1)).is_none(), "errors are not cached");
    }
}
