//! Failure detectors: is a monitored node still alive?
//!
//! A monitor calls `heartbeat(now_ms)` whenever a heartbeat from the node arrives and asks
//! `is_available(now_ms)` whenever it wants an answer. Time is always an argument, in
//! milliseconds on the caller's monotonic clock (`loop.time() * 1000` in asyncio); the
//! detectors never read a clock. Times passed to one detector must not go backwards and must
//! be finite: anything else is refused with [`DetectError::InvalidTime`].
//!
//! Two detectors, one concept per module:
//! * [`HeartbeatDetector`] (`heartbeat`): the fixed timeout. Down once `timeout_ms` passed
//!   since the last heartbeat.
//! * [`PhiAccrualDetector`] (`phi_accrual`): Hayashibara et al.'s phi accrual detector as Akka
//!   implements it. Keeps a bounded window of inter-arrival times ([`HeartbeatHistory`],
//!   `history`) and outputs a suspicion level phi that grows with the time since the last
//!   heartbeat, scaled by how regular the heartbeats have been. Down once phi reaches the
//!   threshold.
//!
//! Before the first heartbeat both detectors report the node available (as Akka does: an
//! unmonitored node is not suspected); a monitor that needs "never heard of" tracks it itself.
//!
//! [`sim`] runs both detectors over the same seeded heartbeat trace (jitter, loss, GC-like
//! pauses, then a stop) and reports time to detect the stop and false positives.

pub mod error;
pub mod heartbeat;
pub mod history;
pub mod phi_accrual;
pub mod sim;

pub use error::DetectError;
pub use heartbeat::{HeartbeatConfig, HeartbeatDetector};
pub use history::HeartbeatHistory;
pub use phi_accrual::{PhiAccrualConfig, PhiAccrualDetector};
pub use sim::{DetectSimOptions, DetectSimReport, DetectorFigures};

/// What every failure detector offers; the simulation drives detectors through it.
pub trait FailureDetector {
    /// Records a heartbeat that arrived at `now_ms`.
    fn heartbeat(&mut self, now_ms: f64) -> Result<(), DetectError>;
    /// Whether the node is considered alive at `now_ms` (not before the last heartbeat).
    fn is_available(&self, now_ms: f64) -> Result<bool, DetectError>;
    /// Arrival time of the last heartbeat, if any arrived.
    fn last_heartbeat_ms(&self) -> Option<f64>;
}

/// Milliseconds since `last_ms` at `now_ms`, or why `now_ms` is not a valid time for a detector
/// whose last heartbeat arrived at `last_ms` (`None`: no heartbeat yet, the result is 0).
pub(crate) fn elapsed_ms(now_ms: f64, last_ms: Option<f64>) -> Result<f64, DetectError> {
    if !now_ms.is_finite() {
        return Err(DetectError::InvalidTime {
            now_ms,
            problem: "time must be a finite number of milliseconds".into(),
        });
    }
    match last_ms {
        None => Ok(0.0),
        Some(last_ms) if now_ms >= last_ms => Ok(now_ms - last_ms),
        Some(last_ms) => Err(DetectError::InvalidTime {
            now_ms,
            problem: format!("time went backwards: the last heartbeat arrived at {last_ms} ms"),
        }),
    }
}

/// Checks that `value` of config field `field` is finite and at least `min` (strictly greater
/// when `min_exclusive`).
pub(crate) fn check_ms(field: &'static str, value: f64, min: f64, min_exclusive: bool) -> Result<(), DetectError> {
    let ok = value.is_finite() && if min_exclusive { value > min } else { value >= min };
    if ok {
        return Ok(());
    }
    let bound = if min_exclusive { "greater than" } else { "at least" };
    Err(DetectError::InvalidConfig { field, problem: format!("must be a finite number {bound} {min}, got {value}") })
}
