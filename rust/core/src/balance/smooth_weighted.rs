//! Smooth weighted round robin exactly as nginx's `ngx_http_upstream_get_peer`: each pick adds
//! every eligible backend's weight to its current weight, takes the first backend with the
//! largest current weight, and takes the total weight off it. Picks interleave: weights
//! `{a: 5, b: 1, c: 1}` give `a a b a c a a`; weights `{a: 5, b: 1}` give `a a a b a a`.
//! O(eligible) per pick.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};

#[derive(Clone, Debug, Default)]
pub struct SmoothWeighted {
    /// nginx's `current_weight` per backend index; sums to 0 over the eligible ones after
    /// every pick.
    current: Vec<f64>,
    /// Effective weight per backend index (slow start applied).
    weight: Vec<f64>,
}

impl SmoothWeighted {
    pub fn new() -> SmoothWeighted {
        SmoothWeighted::default()
    }
}

impl Algorithm for SmoothWeighted {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        self.weight.clear();
        self.weight.extend((0..backends.len()).map(|i| backends.effective_weight(i)));
        // As nginx on a new configuration: a changed set starts over. Health changes and
        // weight ramps keep the current weights (nginx skips a down peer and goes on).
        if matches!(change, Change::All | Change::Added(_) | Change::Removed(_)) {
            self.current.clear();
            self.current.resize(backends.len(), 0.0);
        }
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut total = 0.0;
        for &i in backends.eligible() {
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
}
