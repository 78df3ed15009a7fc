//! Typed errors of the failure detectors. Each becomes a Python exception in the bindings.

use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq)]
pub enum DetectError {
    /// A configuration value is invalid; `field` names it.
    #[error("invalid config: {field}: {problem}")]
    InvalidConfig { field: &'static str, problem: String },
    /// A time argument is not finite, or lies before the last heartbeat.
    #[error("invalid time {now_ms} ms: {problem}")]
    InvalidTime { now_ms: f64, problem: String },
}
