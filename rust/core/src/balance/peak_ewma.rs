//! Peak-EWMA: latency-aware power of two choices, as Finagle's and Linkerd's (tower's)
//! `PeakEwma` balancers. Each backend's cost is
//! `latency_estimate(now) * (in_flight + 1)`; of two distinct random eligible backends the
//! cheaper one wins.
//!
//! The estimate is a *peak* EWMA: a sample above the estimate replaces it at once (a slow
//! backend is shunned at the first slow reply), a sample below it is blended in with weight
//! `1 - exp(-elapsed / decay)`. Between samples the estimate decays toward 0 with time
//! constant `decay_ms`, so an idle backend is tried again. Time is an argument: `now_ms` of
//! the last `advance`/`finish`. A failed request counts as at least `failure_latency_ms`, so a
//! backend that fails fast does not look fast. A new backend starts at `initial_latency_ms`.
//!
//! Comparing costs needs no `exp` per pick: `ln cost = ln(value) + at/decay - now/decay +
//! ln(in_flight + 1)`, and `now/decay` is the same for both candidates, so each backend keeps
//! `ln(value) + at/decay` and a pick adds `ln(in_flight + 1)` (from a table for small loads).

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::error::BalanceError;
use super::hash::two_distinct;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Finagle's default decay time (10 s).
pub const DEFAULT_DECAY_MS: f64 = 10_000.0;
/// Estimate of a backend with no sample yet.
pub const DEFAULT_INITIAL_LATENCY_MS: f64 = 30.0;
/// Least latency a failed request counts as.
pub const DEFAULT_FAILURE_LATENCY_MS: f64 = 1_000.0;
/// Samples are clamped to at least this, so that the logarithm stays finite.
const MIN_LATENCY_MS: f64 = 1e-3;
/// Loads whose logarithm is tabulated.
const LN_TABLE_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakEwmaOptions {
    /// Time constant of the decay, in `(0, inf)` milliseconds.
    pub decay_ms: f64,
    /// In `[MIN_LATENCY_MS, inf)`.
    pub initial_latency_ms: f64,
    /// In `[0, inf)`.
    pub failure_latency_ms: f64,
}

impl Default for PeakEwmaOptions {
    fn default() -> Self {
        PeakEwmaOptions {
            decay_ms: DEFAULT_DECAY_MS,
            initial_latency_ms: DEFAULT_INITIAL_LATENCY_MS,
            failure_latency_ms: DEFAULT_FAILURE_LATENCY_MS,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Estimate {
    /// The estimate at `at_ms`, in `[MIN_LATENCY_MS, inf)`.
    value_ms: f64,
    at_ms: f64,
    /// `ln(value_ms) + at_ms / decay_ms`: the cost's logarithm up to a term common to all.
    log_key: f64,
}

#[derive(Clone, Debug)]
pub struct PeakEwma {
    rng: ChaCha8Rng,
    options: PeakEwmaOptions,
    /// One per backend index.
    estimates: Vec<Estimate>,
    /// `ln_load[k] = ln(k + 1)`.
    ln_load: [f64; LN_TABLE_LEN],
}

impl PeakEwma {
    pub fn new(seed: u64, options: PeakEwmaOptions) -> Result<PeakEwma, BalanceError> {
        if !(options.decay_ms.is_finite() && options.decay_ms > 0.0) {
            return Err(BalanceError::invalid("decay_ms", format!("{} is not in (0, inf)", options.decay_ms)));
        }
        if !(options.initial_latency_ms.is_finite() && options.initial_latency_ms >= MIN_LATENCY_MS) {
            let problem = format!("{} is not in [{MIN_LATENCY_MS}, inf)", options.initial_latency_ms);
            return Err(BalanceError::invalid("initial_latency_ms", problem));
        }
        if !(options.failure_latency_ms.is_finite() && options.failure_latency_ms >= 0.0) {
            let problem = format!("{} is not in [0, inf)", options.failure_latency_ms);
            return Err(BalanceError::invalid("failure_latency_ms", problem));
        }
        let mut ln_load = [0.0; LN_TABLE_LEN];
        for (k, slot) in ln_load.iter_mut().enumerate() {
            *slot = ((k + 1) as f64).ln();
        }
        Ok(PeakEwma { rng: ChaCha8Rng::seed_from_u64(seed), options, estimates: Vec::new(), ln_load })
    }

    fn estimate(&self, value_ms: f64, at_ms: f64) -> Estimate {
        Estimate { value_ms, at_ms, log_key: value_ms.ln() + at_ms / self.options.decay_ms }
    }

    /// The latency estimate of backend `index` decayed to `now_ms`.
    pub fn latency_estimate_ms(&self, index: usize, now_ms: f64) -> f64 {
        let e = &self.estimates[index];
        e.value_ms * (-(now_ms - e.at_ms).max(0.0) / self.options.decay_ms).exp()
    }

    #[inline]
    fn log_cost(&self, backends: &Backends, index: usize) -> f64 {
        let load = backends.in_flight(index) as usize;
        let ln_load = match self.ln_load.get(load) {
            Some(&ln) => ln,
            None => ((load + 1) as f64).ln(),
        };
        self.estimates[index].log_key + ln_load
    }
}

impl Algorithm for PeakEwma {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        let fresh = self.estimate(self.options.initial_latency_ms, backends.now_ms());
        match change {
            Change::All => self.estimates = vec![fresh; backends.len()],
            Change::Added(index) => self.estimates.insert(index, fresh),
            Change::Removed(index) => {
                self.estimates.remove(index);
            }
            Change::Health | Change::Weights => {}
        }
        debug_assert_eq!(self.estimates.len(), backends.len());
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let eligible = backends.eligible();
        if eligible.len() < 2 {
            return eligible.first().copied();
        }
        let (a, b) = two_distinct(self.rng.next_u64(), eligible.len());
        let (a, b) = (eligible[a], eligible[b]);
        Some(if self.log_cost(backends, b) < self.log_cost(backends, a) { b } else { a })
    }

    fn observe(&mut self, _backends: &Backends, index: usize, latency_ms: f64, ok: bool, now_ms: f64) {
        let sample_ms = if ok { latency_ms } else { latency_ms.max(self.options.failure_latency_ms) };
        let sample_ms = sample_ms.max(MIN_LATENCY_MS);
        let old = self.estimates[index];
        let elapsed_ms = (now_ms - old.at_ms).max(0.0);
        let w = (-elapsed_ms / self.options.decay_ms).exp();
        let value_ms = if sample_ms > old.value_ms * w {
            sample_ms
        } else {
            (old.value_ms * w + sample_ms * (1.0 - w)).max(MIN_LATENCY_MS)
        };
        self.estimates[index] = self.estimate(value_ms, now_ms.max(old.at_ms));
    }
}
