//! Slow start: a backend added at run time receives a share of traffic that ramps up over a
//! window, as Envoy's `slow_start_config` does, instead of its full share at once (a cold
//! cache, a JIT that has not warmed up).
//!
//! During the window the effective weight is
//! `weight * max(min_weight_share, (elapsed / window) ^ (1 / aggression))`, then `weight`.
//! Time is an argument (`now_ms`), never read from a clock. Backends given at construction do
//! not ramp. Only the weighted balancers that do not hash keys (weighted random, smooth
//! weighted round robin, least request) use effective weights: a hash balancer whose mapping
//! followed the clock would move keys back and forth.

use super::error::BalanceError;

/// Default share of its weight a ramping backend starts with (Envoy's `min_weight_percent`).
pub const DEFAULT_MIN_WEIGHT_SHARE: f64 = 0.1;
/// Default aggression: 1.0 ramps linearly; larger values ramp faster at the start.
pub const DEFAULT_AGGRESSION: f64 = 1.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowStart {
    /// Length of the ramp in milliseconds; 0 turns slow start off. In `[0, inf)`.
    pub window_ms: f64,
    /// Exponent of the ramp is `1 / aggression`; in `(0, inf)`.
    pub aggression: f64,
    /// Share of the weight at the start of the ramp; in `(0, 1]`.
    pub min_weight_share: f64,
}

impl Default for SlowStart {
    fn default() -> Self {
        SlowStart { window_ms: 0.0, aggression: DEFAULT_AGGRESSION, min_weight_share: DEFAULT_MIN_WEIGHT_SHARE }
    }
}

impl SlowStart {
    pub fn validate(&self) -> Result<(), BalanceError> {
        if !(self.window_ms.is_finite() && self.window_ms >= 0.0) {
            return Err(BalanceError::invalid("slow_start_ms", format!("{} is not in [0, inf)", self.window_ms)));
        }
        if !(self.aggression.is_finite() && self.aggression > 0.0) {
            return Err(BalanceError::invalid("slow_start_aggression", format!("{} is not > 0", self.aggression)));
        }
        if !(self.min_weight_share > 0.0 && self.min_weight_share <= 1.0) {
            return Err(BalanceError::invalid(
                "slow_start_min_weight_share",
                format!("{} is not in (0, 1]", self.min_weight_share),
            ));
        }
        Ok(())
    }

    /// The share of its weight, in `[min_weight_share, 1]`, a backend added at `added_at_ms`
    /// gets at `now_ms`; `None` once its ramp is over (or slow start is off).
    pub fn factor(&self, added_at_ms: f64, now_ms: f64) -> Option<f64> {
        let elapsed_ms = (now_ms - added_at_ms).max(0.0);
        if self.window_ms == 0.0 || elapsed_ms >= self.window_ms {
            return None;
        }
        let ramp = (elapsed_ms / self.window_ms).powf(1.0 / self.aggression);
        Some(ramp.max(self.min_weight_share))
    }
}
