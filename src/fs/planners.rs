//! The threads that plan a listed folder's files. A listing queues one job per file and takes
//! jobs off the queue itself until it is empty, then waits for the ones the planners took: so
//! a folder is planned on every planner plus the lister, and with no planner started (a view
//! not yet `DeidFs::start`ed) by the lister alone, through the same queue.
//!
//! Idle planners sleep on a condition variable. A work-stealing pool (rayon, used before)
//! spins its idle workers through `sched_yield` before they sleep, and a listing leaves them
//! idle at the end of every folder: on two cores that spinning was a seventh of a cold
//! `ls -lR`'s CPU. Threads started per listing cost more (thread creation is slow on VMs:
//! `deidfs scan` spent twice the system time).

use super::DeidFs;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Weak};

type Job = Box<dyn FnOnce(&DeidFs) + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The view is gone: planners end.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn pop(&self) -> Option<Job> {
        crate::lock(&self.queue).jobs.pop_front()
    }
}

#[derive(Default)]
pub(super) struct Planners {
    shared: Arc<Shared>,
}

impl Planners {
    /// Starts `threads` planners for `fs` (fewer if threads cannot be made: the listers do
    /// their share). They end when `fs` is dropped.
    pub fn start(&self, fs: &Arc<DeidFs>, threads: usize) {
        for i in 0..threads {
            let shared = self.shared.clone();
            let fs = Arc::downgrade(fs);
            let started = std::thread::Builder::new()
                .name(format!("deidfs-plan-{i}"))
                .spawn(move || work(&shared, &fs));
            if let Err(e) = started {
                tracing::warn!(error = %e, started = i, "fewer planner threads");
                break;
            }
        }
    }

    /// `f` of each of `items`, in `items`' order, on the planners and the caller (`fs`, the
    /// view these planners serve). A job that panics panics the caller.
    pub fn map<T, R>(
        &self,
        fs: &DeidFs,
        items: Vec<T>,
        f: impl Fn(&DeidFs, T) -> R + Send + Sync + 'static,
    ) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let n = items.len();
        if n <= 1 {
            return items.into_iter().map(|item| f(fs, item)).collect();
        }
        let f = Arc::new(f);
        let (tx, rx) = mpsc::channel();
        {
            let mut q = crate::lock(&self.shared.queue);
            for (i, item) in items.into_iter().enumerate() {
                let (f, tx) = (f.clone(), tx.clone());
                q.jobs.push_back(Box::new(move |fs: &DeidFs| {
                    let _ = tx.send((i, f(fs, item)));
                }));
            }
        }
        drop(tx);
        self.shared.ready.notify_all();
        while let Some(job) = self.shared.pop() {
            job(fs);
        }
        let mut out: Vec<(usize, R)> = rx.iter().collect();
        assert_eq!(out.len(), n, "a planner panicked");
        out.sort_unstable_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

impl Drop for Planners {
    fn drop(&mut self) {
        crate::lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared, fs: &Weak<DeidFs>) {
    loop {
        let job = {
            let mut q = crate::lock(&shared.queue);
            loop {
                if q.closed {
                    return;
                }
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(fs) = fs.upgrade() else { return };
        // A panic stays in its job (its result is missing, which the lister reports).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&fs)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeidFs, test_config};
    use crate::source::MemorySource;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn view(workers: usize) -> DeidFs {
        DeidFs::new(Arc::new(MemorySource::new()), test_config(workers, None))
    }

    /// Which threads ran jobs of `map` over 32 items that each take a millisecond.
    fn threads_used(fs: &DeidFs) -> HashSet<std::thread::ThreadId> {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let s = seen.clone();
        let out = fs.planners.map(fs, (0..32u32).collect(), move |_, i| {
            s.lock().unwrap().insert(std::thread::current().id());
            std::thread::sleep(Duration::from_millis(1));
            i * 2
        });
        assert_eq!(out, (0..32).map(|i| i * 2).collect::<Vec<_>>(), "in order");
        seen.lock().unwrap().clone()
    }

    #[test]
    fn a_folder_is_planned_on_the_planners_and_the_lister_results_in_order() {
        let fs = Arc::new(view(3));
        fs.start();
        let used = threads_used(&fs);
        assert!(used.len() > 1, "more than the lister worked: {used:?}");
        assert!(
            used.len() <= 3,
            "no more than the workers asked for: {used:?}"
        );
        // Again: the planners slept between folders and wake for the next one.
        std::thread::sleep(Duration::from_millis(50));
        assert!(threads_used(&fs).len() > 1);
    }

    #[test]
    fn without_planners_the_lister_plans_alone_through_the_same_queue() {
        let fs = view(4);
        let used = threads_used(&fs);
        assert_eq!(used, HashSet::from([std::thread::current().id()]));
    }

    #[test]
    fn planners_end_with_the_view() {
        let fs = Arc::new(view(3));
        fs.start();
        threads_used(&fs);
        let shared = fs.planners.shared.clone();
        assert_eq!(
            Arc::strong_count(&shared),
            4,
            "two planners, the view and this test"
        );
        let weak = Arc::downgrade(&fs);
        drop(fs);
        assert!(weak.upgrade().is_none(), "no planner keeps the view alive");
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&shared) > 1 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(Arc::strong_count(&shared), 1, "every planner thread ended");
    }
}
