//! The bounded window of heartbeat inter-arrival times behind the phi accrual detector.

use std::collections::VecDeque;

/// Largest window a detector may keep (`max_samples`); 100 times Akka's default.
pub const MAX_SAMPLES_LIMIT: usize = 100_000;

/// The last `max_samples` inter-arrival intervals (ms), with their running sum and sum of
/// squares so that mean and standard deviation cost O(1).
///
/// Invariants: `intervals.len() <= max_samples`; `sum_ms` and `sum_squares_ms2` are the sums
/// over `intervals` up to floating-point rounding, and are recomputed exactly every
/// `max_samples` pushes so rounding cannot accumulate.
#[derive(Clone, Debug)]
pub struct HeartbeatHistory {
    /// Oldest first; a ring buffer that never grows past `max_samples`.
    intervals: VecDeque<f64>,
    /// In `[1, MAX_SAMPLES_LIMIT]`.
    max_samples: usize,
    sum_ms: f64,
    sum_squares_ms2: f64,
    /// Pushes since the sums were last recomputed, in `[0, max_samples)`.
    pushes_since_resum: usize,
}

impl HeartbeatHistory {
    pub fn new(max_samples: usize) -> HeartbeatHistory {
        assert!((1..=MAX_SAMPLES_LIMIT).contains(&max_samples), "max_samples {max_samples} out of range");
        HeartbeatHistory {
            intervals: VecDeque::new(),
            max_samples,
            sum_ms: 0.0,
            sum_squares_ms2: 0.0,
            pushes_since_resum: 0,
        }
    }

    /// Appends an interval, dropping the oldest when the window is full.
    pub fn push(&mut self, interval_ms: f64) {
        assert!(interval_ms.is_finite() && interval_ms >= 0.0, "interval {interval_ms} ms is not a duration");
        if self.intervals.len() == self.max_samples {
            let oldest = self.intervals.pop_front().expect("a full window is not empty");
            self.sum_ms -= oldest;
            self.sum_squares_ms2 -= oldest * oldest;
        }
        self.intervals.push_back(interval_ms);
        self.sum_ms += interval_ms;
        self.sum_squares_ms2 += interval_ms * interval_ms;
        self.pushes_since_resum += 1;
        if self.pushes_since_resum == self.max_samples {
            self.resum();
        }
        debug_assert!(self.intervals.len() <= self.max_samples);
    }

    fn resum(&mut self) {
        self.sum_ms = self.intervals.iter().sum();
        self.sum_squares_ms2 = self.intervals.iter().map(|i| i * i).sum();
        self.pushes_since_resum = 0;
    }

    /// Intervals held, in `[0, max_samples]`.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Mean interval (0 when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.intervals.is_empty() {
            return 0.0;
        }
        self.sum_ms / self.intervals.len() as f64
    }

    /// Population standard deviation of the intervals (0 when empty; never NaN).
    pub fn std_deviation_ms(&self) -> f64 {
        if self.intervals.is_empty() {
            return 0.0;
        }
        let mean = self.mean_ms();
        let variance = self.sum_squares_ms2 / self.intervals.len() as f64 - mean * mean;
        variance.max(0.0).sqrt()
    }
}
