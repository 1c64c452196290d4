//! Per-thread shards for the counters every request touches.
//!
//! A relaxed `fetch_add` is cheap only while its cache line stays on one core: with one
//! counter shared by all workers, every request moves the line between cores. So each thread
//! updates its own shard (threads are spread over [`SHARDS`] shards round-robin, so each
//! serving worker has one of its own) and a scrape sums the shards.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// How many shards each sharded metric has.
pub const SHARDS: usize = 8;

/// This thread's shard.
pub fn index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A value on a cache line (pair) of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// A gauge summed over shards (a request may end on another thread than it started: the
/// sum is still right).
#[derive(Debug, Default)]
pub struct Gauge([Padded<AtomicI64>; SHARDS]);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0[index()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_across_threads() {
        let g = std::sync::Arc::new(Gauge::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        g.add(1);
                    }
                    g.add(-400);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(g.get(), 12 * 600);
        assert!(std::mem::align_of::<Padded<AtomicI64>>() >= 128);
    }
}
