//! A lock-free histogram (`prometheus-client`'s takes a mutex per observation).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::NoLabelSet;

use super::shard::{self, Padded, SHARDS};
use super::{FmtResult, BUCKETS};

/// A lock-free histogram: one atomic counter per bucket (plus `+Inf`) and the sum in
/// nanoseconds, per thread shard ([`super::shard`]). Cumulative counts and the sums over
/// shards are computed at scrape time.
#[derive(Debug, Default)]
pub struct Histogram {
    shards: [Padded<Shard>; SHARDS],
}

#[derive(Debug)]
struct Shard {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        let shard = &self.shards[shard::index()].0;
        shard.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.0.buckets.iter())
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    /// `(sum in seconds, count, per-bucket counts)`. The buckets are NOT cumulative:
    /// `prometheus-client`'s encoder accumulates them. The count is the sum of the buckets
    /// read, so a scrape is always self-consistent.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut count = 0;
        let mut out = Vec::with_capacity(BUCKETS.len() + 1);
        for i in 0..=BUCKETS.len() {
            let n: u64 = self
                .shards
                .iter()
                .map(|s| s.0.buckets[i].load(Ordering::Relaxed))
                .sum();
            count += n;
            out.push((BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        let sum_nanos: u64 = self
            .shards
            .iter()
            .map(|s| s.0.sum_nanos.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add);
        let sum = sum_nanos as f64 / 1e9;
        (sum, count, out)
    }

    pub(super) fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::MetricEncoder<'_>,
    ) -> FmtResult {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}
