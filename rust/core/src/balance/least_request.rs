//! Least request by the power of two choices (Mitzenmacher), weighted as Envoy's
//! `LEAST_REQUEST`: draw two distinct eligible backends, take the one with the larger
//! `weight / (in_flight + 1) ^ bias` (the fewer requests in flight when weights are equal).
//! Two random choices keep the most loaded backend within `O(log log n)` of the mean, and,
//! unlike a full scan, no two clients herd onto the same least-loaded backend.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::error::BalanceError;
use super::hash::two_distinct;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Envoy's default `active_request_bias`.
pub const DEFAULT_BIAS: f64 = 1.0;

#[derive(Clone, Debug)]
pub struct LeastRequest {
    rng: ChaCha8Rng,
    /// Exponent of `in_flight + 1`, in `[0, inf)`; 0 ignores load (weighted random of two).
    bias: f64,
    /// Effective weight per backend index.
    weight: Vec<f64>,
    /// All effective weights equal: compare requests in flight only.
    unweighted: bool,
}

impl LeastRequest {
    pub fn new(seed: u64, bias: f64) -> Result<LeastRequest, BalanceError> {
        if !(bias.is_finite() && bias >= 0.0) {
            return Err(BalanceError::invalid("bias", format!("{bias} is not in [0, inf)")));
        }
        Ok(LeastRequest { rng: ChaCha8Rng::seed_from_u64(seed), bias, weight: Vec::new(), unweighted: true })
    }

    fn score(&self, backends: &Backends, index: usize) -> f64 {
        let load = f64::from(backends.in_flight(index)) + 1.0;
        if self.bias == 1.0 {
            self.weight[index] / load
        } else {
            self.weight[index] / load.powf(self.bias)
        }
    }
}

impl Algorithm for LeastRequest {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, _change: Change) {
        self.weight.clear();
        self.weight.extend((0..backends.len()).map(|i| backends.effective_weight(i)));
        self.unweighted = backends.weights_equal();
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let eligible = backends.eligible();
        if eligible.len() < 2 {
            return eligible.first().copied();
        }
        let (a, b) = two_distinct(self.rng.next_u64(), eligible.len());
        let (a, b) = (eligible[a], eligible[b]);
        let b_wins = if self.unweighted {
            backends.in_flight(b) < backends.in_flight(a)
        } else {
            self.score(backends, b) > self.score(backends, a)
        };
        Some(if b_wins { b } else { a })
    }
}
