//! The phi accrual failure detector (Hayashibara, Défago, Yared, Katayama: "The φ accrual
//! failure detector", SRDS 2004), as Akka implements it (`PhiAccrualFailureDetector`).
//!
//! phi is `-log10(P)` where `P` is the probability, under a normal distribution fitted to the
//! recent inter-arrival times, that the next heartbeat arrives later than now. phi = 1 means
//! about a 10% chance of being wrong when suspecting the node, phi = 8 about 1e-8. Akka's
//! refinements, all kept here:
//! * the mean is shifted by `acceptable_heartbeat_pause_ms`, so pauses up to that long (GC,
//!   network hiccups) do not raise suspicion;
//! * the standard deviation is at least `min_std_deviation_ms`, so very regular heartbeats do
//!   not make the detector hair-triggered;
//! * the first heartbeat seeds the window with `estimate ± estimate / 4`;
//! * an interval that ends a period of suspicion is not recorded (a long outage would skew the
//!   statistics);
//! * the normal CDF is Akka's logistic approximation (Bowling et al. 2009),
//!   `P(X <= x) ~ 1 / (1 + exp(-y (1.5976 + 0.070566 y^2)))` with `y = (x - mean) / std`.

use super::history::{HeartbeatHistory, MAX_SAMPLES_LIMIT};
use super::{check_ms, elapsed_ms, DetectError, FailureDetector};

pub const DEFAULT_THRESHOLD: f64 = 8.0;
pub const DEFAULT_MAX_SAMPLES: usize = 1_000;
pub const DEFAULT_MIN_STD_DEVIATION_MS: f64 = 100.0;
pub const DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE_MS: f64 = 3_000.0;
pub const DEFAULT_FIRST_HEARTBEAT_ESTIMATE_MS: f64 = 1_000.0;

/// Coefficients of the logistic approximation of the standard normal CDF.
const LOGISTIC_LINEAR: f64 = 1.5976;
const LOGISTIC_CUBIC: f64 = 0.070566;

/// Akka's defaults (`akka.cluster.failure-detector`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhiAccrualConfig {
    /// phi at or above which the node is down, in `(0, inf)`.
    pub threshold: f64,
    /// Inter-arrival intervals kept, in `[1, MAX_SAMPLES_LIMIT]`.
    pub max_samples: usize,
    /// Floor of the standard deviation used, in `(0, inf)` ms.
    pub min_std_deviation_ms: f64,
    /// Added to the mean interval, in `[0, inf)` ms.
    pub acceptable_heartbeat_pause_ms: f64,
    /// Interval assumed before any was measured, in `(0, inf)` ms.
    pub first_heartbeat_estimate_ms: f64,
}

impl Default for PhiAccrualConfig {
    fn default() -> PhiAccrualConfig {
        PhiAccrualConfig {
            threshold: DEFAULT_THRESHOLD,
            max_samples: DEFAULT_MAX_SAMPLES,
            min_std_deviation_ms: DEFAULT_MIN_STD_DEVIATION_MS,
            acceptable_heartbeat_pause_ms: DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE_MS,
            first_heartbeat_estimate_ms: DEFAULT_FIRST_HEARTBEAT_ESTIMATE_MS,
        }
    }
}

impl PhiAccrualConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), DetectError> {
        check_ms("threshold", self.threshold, 0.0, true)?;
        if !(1..=MAX_SAMPLES_LIMIT).contains(&self.max_samples) {
            return Err(DetectError::InvalidConfig {
                field: "max_samples",
                problem: format!("must be in [1, {MAX_SAMPLES_LIMIT}], got {}", self.max_samples),
            });
        }
        check_ms("min_std_deviation_ms", self.min_std_deviation_ms, 0.0, true)?;
        check_ms("acceptable_heartbeat_pause_ms", self.acceptable_heartbeat_pause_ms, 0.0, false)?;
        check_ms("first_heartbeat_estimate_ms", self.first_heartbeat_estimate_ms, 0.0, true)
    }
}

/// phi after `elapsed_ms` of silence, for inter-arrival times with `mean_ms` (the acceptable
/// pause already added) and `std_deviation_ms` (> 0): Akka's
/// `-log10(1 - F(elapsed))` with `F` the logistic approximation of the normal CDF.
///
/// Akka writes it as `-log10(e / (1 + e))` (or `-log10(1 - 1 / (1 + e))` below the mean) with
/// `e = exp(-a)`, `a = y (1.5976 + 0.070566 y^2)`; both are `log10(1 + exp(a))`, computed here
/// as a stable softplus so that phi stays finite where Akka's `exp` underflows to `+inf` phi
/// (about 25 standard deviations late). Non-decreasing in `elapsed_ms`; 0 long before the mean.
pub fn phi(elapsed_ms: f64, mean_ms: f64, std_deviation_ms: f64) -> f64 {
    debug_assert!(std_deviation_ms > 0.0);
    let y = (elapsed_ms - mean_ms) / std_deviation_ms;
    let a = y * (LOGISTIC_LINEAR + LOGISTIC_CUBIC * y * y);
    // Outside (-746, 40) the result is exact without the transcendental calls: `exp(a)`
    // underflows to 0 below -745.2, and `ln_1p(exp(-a)) < ulp(a) / 2` above 40.
    let softplus = if a >= 40.0 {
        a
    } else if a > 0.0 {
        a + (-a).exp().ln_1p()
    } else if a > -746.0 {
        a.exp().ln_1p()
    } else {
        0.0
    };
    softplus / std::f64::consts::LN_10
}

#[derive(Clone, Debug)]
pub struct PhiAccrualDetector {
    config: PhiAccrualConfig,
    /// Intervals between heartbeats that arrived while the node was available.
    history: HeartbeatHistory,
    /// Arrival of the last heartbeat; never decreases. `None` until the first.
    last_heartbeat_ms: Option<f64>,
}

impl PhiAccrualDetector {
    pub fn new(config: PhiAccrualConfig) -> Result<PhiAccrualDetector, DetectError> {
        config.validate()?;
        Ok(PhiAccrualDetector { config, history: HeartbeatHistory::new(config.max_samples), last_heartbeat_ms: None })
    }

    pub fn config(&self) -> &PhiAccrualConfig {
        &self.config
    }

    pub fn history(&self) -> &HeartbeatHistory {
        &self.history
    }

    /// The suspicion level at `now_ms`: 0 before the first heartbeat, then non-decreasing
    /// until the next heartbeat.
    pub fn phi(&self, now_ms: f64) -> Result<f64, DetectError> {
        let elapsed = elapsed_ms(now_ms, self.last_heartbeat_ms)?;
        if self.last_heartbeat_ms.is_none() {
            return Ok(0.0);
        }
        Ok(self.phi_after(elapsed))
    }

    fn phi_after(&self, elapsed_ms: f64) -> f64 {
        let mean = self.history.mean_ms() + self.config.acceptable_heartbeat_pause_ms;
        let std_deviation = self.history.std_deviation_ms().max(self.config.min_std_deviation_ms);
        phi(elapsed_ms, mean, std_deviation)
    }
}

impl FailureDetector for PhiAccrualDetector {
    fn heartbeat(&mut self, now_ms: f64) -> Result<(), DetectError> {
        let elapsed = elapsed_ms(now_ms, self.last_heartbeat_ms)?;
        match self.last_heartbeat_ms {
            None => {
                let estimate = self.config.first_heartbeat_estimate_ms;
                self.history.push(estimate - estimate / 4.0);
                self.history.push(estimate + estimate / 4.0);
            }
            // The heartbeat that ends a suspicion is not a sample of the normal interval.
            Some(_) if self.phi_after(elapsed) < self.config.threshold => self.history.push(elapsed),
            Some(_) => {}
        }
        self.last_heartbeat_ms = Some(now_ms);
        Ok(())
    }

    /// Available iff phi is below the threshold.
    fn is_available(&self, now_ms: f64) -> Result<bool, DetectError> {
        Ok(self.phi(now_ms)? < self.config.threshold)
    }

    fn last_heartbeat_ms(&self) -> Option<f64> {
        self.last_heartbeat_ms
    }
}
