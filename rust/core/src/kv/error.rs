//! The typed errors of the key-value service's core.

use crate::codec::RespError;
use thiserror::Error;

/// Why a batch, a snapshot or a configuration was refused. Replies to clients are never
/// errors of this type: a bad command gets a RESP error reply.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum KvError {
    /// A log entry is not a well-formed batch (`problem` says where it went wrong).
    #[error("malformed batch: {problem}")]
    MalformedBatch { problem: &'static str },
    #[error("malformed snapshot: {problem}")]
    MalformedSnapshot { problem: &'static str },
    #[error("invalid {field}: {problem}")]
    InvalidLimits { field: &'static str, problem: &'static str },
    /// Bytes given to `count_replies` are no RESP2 reply stream.
    #[error(transparent)]
    Resp(#[from] RespError),
}

pub type Result<T> = std::result::Result<T, KvError>;
