//! Planning a folder's files on several threads: `f` of each item, in order, on at most
//! `threads` threads, the caller being one of them. The threads are started for the call
//! and end with it, so none is left waiting between listings: a pool's idle workers spin
//! (rayon's yield before they sleep), and on a machine of few cores that spinning took
//! the time of the planners (a seventh of a cold `ls -lR`'s CPU). Starting a thread costs
//! tens of microseconds, planning a file about a hundred: a thread is started only for
//! every few items beyond the caller's.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Items per thread at least: fewer and the thread costs more than it plans.
const ITEMS_PER_THREAD: usize = 4;

/// `f` of each of `items`, in `items`' order, on up to `threads` threads.
pub(super) fn map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len().div_ceil(ITEMS_PER_THREAD)).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let work = || {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            mine.push((i, f(item)));
        }
        crate::lock(&done).append(&mut mine);
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            // A thread that cannot be started leaves its share to the others.
            let _ = std::thread::Builder::new()
                .name("deidfs-plan".into())
                .spawn_scoped(s, work);
        }
        work();
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::map;
    use std::collections::HashSet;
    use std::sync::Mutex;

    #[test]
    fn results_come_in_the_items_order_whatever_thread_made_them() {
        let items: Vec<u32> = (0..1000).collect();
        let out = map(&items, 4, |&i| {
            if i % 7 == 0 {
                std::thread::yield_now();
            }
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn work_is_shared_among_threads_and_each_item_is_done_once() {
        let items: Vec<u32> = (0..64).collect();
        let threads = Mutex::new(HashSet::new());
        let seen = Mutex::new(Vec::new());
        map(&items, 4, |&i| {
            threads.lock().unwrap().insert(std::thread::current().id());
            seen.lock().unwrap().push(i);
            std::thread::sleep(std::time::Duration::from_millis(2));
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, items);
        assert!(
            threads.lock().unwrap().len() > 1,
            "more than the caller worked"
        );
    }

    #[test]
    fn few_items_are_done_by_the_caller_alone() {
        let me = std::thread::current().id();
        let items = [1, 2, 3];
        let out = map(&items, 8, |&i| {
            assert_eq!(std::thread::current().id(), me);
            i
        });
        assert_eq!(out, items);
        assert!(map(&[] as &[u8], 8, |&i| i).is_empty());
    }
}
