//! Work over many files on all cores: decrypting sources for render,
//! checking files for the guard, re-keying files.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The stack of a worker thread: as large as Linux gives the main thread.
pub const WORKER_STACK: usize = 8 << 20;

/// `f` over `items` on all cores (scoped threads taking the next item);
/// results in the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    map_with(cores, items, f)
}

/// `map` on `workers` threads: more than the cores for work that mostly
/// waits (for the disk, say).
pub fn map_with<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = workers.min(items.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            // the main thread's stack: a file the parsers refuse there (by
            // their nesting limits) is refused on a worker too, even in a
            // debug build, where frames are large
            std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                    }
                })
                .expect("start a worker thread");
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item was processed")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(super::map(&Vec::<u32>::new(), |i| *i).is_empty());
        assert_eq!(
            super::map_with(16, &items, |i| i + 1),
            items.iter().map(|i| i + 1).collect::<Vec<_>>()
        );
    }
}
