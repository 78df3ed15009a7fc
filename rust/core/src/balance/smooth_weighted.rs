//! Smooth weighted round robin exactly as nginx's `ngx_http_upstream_get_peer`: each pick adds
//! every eligible backend's weight to its current weight, takes the first backend with the
//! largest current weight, and takes the total weight off it. Picks interleave: weights
//! `{a: 5, b: 1, c: 1}` give `a a b a c a a`; weights `{a: 5, b: 1}` give `a a a b a a`.
//!
//! From the all-zero state the sequence repeats every `W` picks (`W`, the sum of the weights:
//! after `W` picks each backend was picked `weight` times and every current weight is 0
//! again). So the cycle is computed once per change and a pick is one load, O(1), whenever
//! `W <= MAX_CYCLE_PICKS`; otherwise (or while slow start ramps a weight) each pick runs
//! nginx's loop, O(eligible).
//!
//! A change of membership or health starts the cycle over among the eligible backends (nginx
//! starts over on a new configuration; on a failed peer it would keep the others' current
//! weights).

use super::backends::Backends;
use super::balancer::{Algorithm, Change};

/// Longest precomputed cycle, in picks (4 bytes each).
pub const MAX_CYCLE_PICKS: usize = 1 << 16;
/// Most steps of nginx's loop spent computing one cycle (`W * eligible`).
const MAX_CYCLE_WORK: usize = 1 << 24;

#[derive(Clone, Debug, Default)]
pub struct SmoothWeighted {
    /// nginx's `current_weight` per backend index; sums to 0 over the eligible ones after
    /// every pick. Stale while `cycle` is in use (the state is `position` picks from zero).
    current: Vec<f64>,
    /// Effective weight per backend index (slow start applied).
    weight: Vec<f64>,
    /// One full cycle of picks from the all-zero state; empty when picks run the loop.
    cycle: Vec<u32>,
    /// Next pick in `cycle`, in `[0, cycle.len())`.
    position: usize,
}

impl SmoothWeighted {
    pub fn new() -> SmoothWeighted {
        SmoothWeighted::default()
    }

    /// Whether picks come from a precomputed cycle.
    pub fn is_cyclic(&self) -> bool {
        !self.cycle.is_empty()
    }

    /// nginx's loop: one pick from the `current` state.
    #[inline]
    fn step(&mut self, eligible: &[usize]) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut total = 0.0;
        for &i in eligible {
            self.current[i] += self.weight[i];
            total += self.weight[i];
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        self.current[best] -= total;
        Some(best)
    }

    fn reset(&mut self, len: usize) {
        self.current.clear();
        self.current.resize(len, 0.0);
    }

    /// Computes the cycle from the all-zero state, if the weights allow one.
    fn build_cycle(&mut self, backends: &Backends) {
        self.cycle.clear();
        self.position = 0;
        let eligible = backends.eligible();
        let integral = eligible.iter().all(|&i| self.weight[i].fract() == 0.0);
        let total: f64 = eligible.iter().map(|&i| self.weight[i]).sum();
        let picks = total as usize;
        if !integral || picks == 0 || picks > MAX_CYCLE_PICKS || picks.saturating_mul(eligible.len()) > MAX_CYCLE_WORK {
            return;
        }
        self.cycle.reserve_exact(picks);
        for _ in 0..picks {
            let index = self.step(eligible).expect("eligible is not empty");
            self.cycle.push(index as u32);
        }
        debug_assert!(eligible.iter().all(|&i| self.current[i] == 0.0), "a cycle ends where it started");
    }

    /// Leaves the cycle: brings `current` to the state `position` picks from zero.
    fn leave_cycle(&mut self, backends: &Backends) {
        if self.cycle.is_empty() {
            return;
        }
        self.reset(backends.len());
        for _ in 0..self.position {
            self.step(backends.eligible());
        }
        self.cycle.clear();
    }
}

impl Algorithm for SmoothWeighted {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        if change == Change::Weights {
            // The weights before the change produced the cycle: replay it with them.
            self.leave_cycle(backends);
        }
        self.weight.clear();
        self.weight.extend((0..backends.len()).map(|i| backends.effective_weight(i)));
        let ramping = self.weight.iter().enumerate().any(|(i, &w)| w != f64::from(backends.weight(i)));
        if change != Change::Weights || !ramping {
            self.reset(backends.len());
            self.build_cycle(backends);
        }
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        if let Some(&index) = self.cycle.get(self.position) {
            self.position += 1;
            if self.position == self.cycle.len() {
                self.position = 0;
            }
            return Some(index as usize);
        }
        self.step(backends.eligible())
    }
}
