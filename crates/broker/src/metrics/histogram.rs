//! A histogram updated with atomics only, for the request path: no lock, no allocation per
//! observation. Encoded at scrape time in Prometheus's histogram form.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::MetricEncoder;

/// Upper bounds of request and fsync latency buckets, in seconds: 100 µs to 10 s.
pub const LATENCY_BOUNDS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Upper bounds of group-commit batch sizes (records made durable by one fsync).
pub const BATCH_BOUNDS: [f64; 12] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0, 20000.0];

/// Fixed buckets (plus +Inf), a count and a sum.
#[derive(Debug)]
pub struct AtomicHistogram {
    /// Bucket upper bounds, ascending.
    bounds: &'static [f64],
    /// Observations per bucket; the last counts those above every bound.
    buckets: Box<[AtomicU64]>,
    /// Sum of observations, in millionths of the unit (µs for seconds).
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram with these bucket bounds.
    pub fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Records a duration, in seconds.
    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Observations above `bound`, which must be one of the bucket bounds (otherwise those
    /// above the next bound up).
    pub fn count_above(&self, bound: f64) -> u64 {
        let first = self.bounds.partition_point(|&b| b <= bound);
        self.buckets[first..].iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Writes the histogram with `encoder`.
    pub fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let histogram = AtomicHistogram::new(&BATCH_BOUNDS);
        for value in [1.0, 1.5, 2.0, 7.0, 1e9] {
            histogram.observe(value);
        }
        let counts: Vec<u64> = histogram.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        assert_eq!(&counts[..4], &[1, 2, 0, 1]);
        assert_eq!(counts[BATCH_BOUNDS.len()], 1, "above every bound: +Inf");
        assert_eq!(histogram.count(), 5);
        assert_eq!(histogram.count_above(2.0), 2, "7 and 1e9");
        assert_eq!(histogram.count_above(1.0), 4);
    }
}
