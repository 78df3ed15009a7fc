//! Typed errors of the balancers. Each variant becomes a Python exception in the bindings.

use thiserror::Error;

/// Why a change to a balancer's backends, or its construction, was refused.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum BalanceError {
    /// A backend of that name is already in the set.
    #[error("backend {name:?} is already present")]
    DuplicateBackend { name: String },
    /// No backend has that name.
    #[error("unknown backend {name:?}")]
    UnknownBackend { name: String },
    /// `finish` was called for a backend with no request in flight.
    #[error("backend {name:?} has no request in flight")]
    NotInFlight { name: String },
    /// An option or a backend's name or weight is out of range; `field` names it.
    #[error("invalid {field}: {problem}")]
    InvalidOption { field: &'static str, problem: String },
}

impl BalanceError {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> BalanceError {
        BalanceError::InvalidOption { field, problem: problem.into() }
    }
}
