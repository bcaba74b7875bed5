//! The latency histogram of a run's summary: fixed memory whatever the
//! number of requests, percentiles within 2%.

use std::time::Duration;

/// Latencies, in buckets 2% apart: fixed memory whatever the number of
/// requests, percentiles within 2%.
pub(super) struct Latencies {
    buckets: Vec<u64>,
    count: u64,
}

const BUCKET_GROWTH: f64 = 1.02;
/// 2% buckets from 1 µs up to about 4 hours.
const BUCKETS: usize = 1200;

impl Latencies {
    pub(super) fn new() -> Latencies {
        Latencies {
            buckets: vec![0; BUCKETS],
            count: 0,
        }
    }

    pub(super) fn record(&mut self, d: Duration) {
        let us = (d.as_secs_f64() * 1e6).max(1.0);
        let i = ((us.ln() / BUCKET_GROWTH.ln()) as usize).min(BUCKETS - 1);
        self.buckets[i] += 1;
        self.count += 1;
    }

    /// The `p` quantile, in milliseconds (the middle of its bucket).
    pub(super) fn quantile_ms(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return BUCKET_GROWTH.powf(i as f64 + 0.5) / 1e3;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_fixed_buckets_within_two_percent() {
        let mut l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let p50 = l.quantile_ms(0.5);
        let p99 = l.quantile_ms(0.99);
        assert!((p50 - 50.0).abs() / 50.0 < 0.02, "{p50}");
        assert!((p99 - 99.0).abs() / 99.0 < 0.02, "{p99}");
        assert_eq!(
            l.buckets.len(),
            BUCKETS,
            "memory does not grow with the requests"
        );
    }
}
