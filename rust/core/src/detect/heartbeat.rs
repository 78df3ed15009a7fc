//! The fixed-timeout heartbeat detector: a node is down once `timeout_ms` passed without a
//! heartbeat from it.

use super::{check_ms, elapsed_ms, DetectError, FailureDetector};

/// Default timeout: five heartbeat intervals of one second, about where Akka's phi accrual
/// defaults declare a regular 1 s heartbeat dead.
pub const DEFAULT_TIMEOUT_MS: f64 = 5_000.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeartbeatConfig {
    /// Silence after which the node is down, in `(0, inf)` ms.
    pub timeout_ms: f64,
}

impl Default for HeartbeatConfig {
    fn default() -> HeartbeatConfig {
        HeartbeatConfig { timeout_ms: DEFAULT_TIMEOUT_MS }
    }
}

impl HeartbeatConfig {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), DetectError> {
        check_ms("timeout_ms", self.timeout_ms, 0.0, true)
    }
}

#[derive(Clone, Debug)]
pub struct HeartbeatDetector {
    config: HeartbeatConfig,
    /// Arrival of the last heartbeat; never decreases.
    last_heartbeat_ms: Option<f64>,
}

impl HeartbeatDetector {
    pub fn new(config: HeartbeatConfig) -> Result<HeartbeatDetector, DetectError> {
        config.validate()?;
        Ok(HeartbeatDetector { config, last_heartbeat_ms: None })
    }

    pub fn config(&self) -> &HeartbeatConfig {
        &self.config
    }

    /// Milliseconds since the last heartbeat (0 before the first).
    pub fn elapsed_ms(&self, now_ms: f64) -> Result<f64, DetectError> {
        elapsed_ms(now_ms, self.last_heartbeat_ms)
    }
}

impl FailureDetector for HeartbeatDetector {
    fn heartbeat(&mut self, now_ms: f64) -> Result<(), DetectError> {
        elapsed_ms(now_ms, self.last_heartbeat_ms)?;
        self.last_heartbeat_ms = Some(now_ms);
        Ok(())
    }

    /// Available iff less than `timeout_ms` passed since the last heartbeat: up in
    /// `[last, last + timeout_ms)`, down from `last + timeout_ms` on.
    fn is_available(&self, now_ms: f64) -> Result<bool, DetectError> {
        Ok(self.elapsed_ms(now_ms)? < self.config.timeout_ms)
    }

    fn last_heartbeat_ms(&self) -> Option<f64> {
        self.last_heartbeat_ms
    }
}
