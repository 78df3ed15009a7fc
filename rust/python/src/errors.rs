//! The core's typed errors as Python exception classes.
//!
//! Every class derives from `SenateError`. Exceptions that carry data expose it as attributes
//! (`NotLeader.leader_hint`, `ConfigError.field`, ...); the attributes exist on the classes too
//! (as `None`), so an instance raised from Python code still has them.

use pyo3::create_exception;
use pyo3::exceptions::{PyBaseException, PyException};
use pyo3::prelude::*;
use senate_core::check::HistoryError as CoreHistoryError;
use senate_core::codec::DecodeError as CoreDecodeError;
use senate_core::detect::DetectError;
use senate_core::kv::KvError as CoreKvError;
use senate_core::raft::mem_node::StepError;
use senate_core::{DropReason, RaftError, StorageError as CoreStorageError, WalError as CoreWalError, NO_NODE};

create_exception!(senate, SenateError, PyException, "Base class of every error raised by senate.");
create_exception!(
    senate,
    NotLeader,
    SenateError,
    "This node is not the leader and cannot forward the request; `leader_hint` names the leader when one is known."
);
create_exception!(
    senate,
    ProposalDropped,
    SenateError,
    "The leader refused the proposal; `reason` says why (a short identifier)."
);
create_exception!(
    senate,
    ConfigError,
    SenateError,
    "A configuration value is invalid; `field` names it and `problem` says what is wrong."
);
create_exception!(
    senate,
    UnknownPeer,
    SenateError,
    "A message or request named a node that is not a member; `id` is that node."
);
create_exception!(
    senate,
    InvalidMessage,
    SenateError,
    "A peer sent a message no correct node sends (`from_id`, `problem`); it was ignored: drop that connection."
);
create_exception!(
    senate,
    ReadyNotAdvanced,
    SenateError,
    "`ready()` was called again before `advance()` acknowledged the previous Ready."
);
create_exception!(senate, StorageError, SenateError, "The log storage could not serve a request.");
create_exception!(
    senate,
    Compacted,
    StorageError,
    "The requested index lies before the first index still in the log (`index`, `first_index`)."
);
create_exception!(
    senate,
    Unavailable,
    StorageError,
    "The requested index lies after the last index in the log (`index`, `last_index`)."
);
create_exception!(
    senate,
    SnapshotOutOfDate,
    StorageError,
    "A snapshot not newer than the one already held was offered (`index`, `current`)."
);
create_exception!(senate, DecodeError, SenateError, "Bytes received from a peer are not a valid frame.");
create_exception!(
    senate,
    WalError,
    StorageError,
    "The durable log failed (`path` names the file when one is involved); after a failed write the log must be reopened."
);
create_exception!(
    senate,
    WalCorrupt,
    WalError,
    "The durable log holds damaged data at `offset` of `path` (`problem` says what); the node refuses to serve from it."
);
create_exception!(
    senate,
    RestoreFailed,
    SenateError,
    "The node could not restore the leader's snapshot at `index` (its log holds the snapshot and nothing before it): the node stops."
);
create_exception!(
    senate,
    KvError,
    SenateError,
    "A key-value batch, snapshot or reply stream is malformed (never raised for a client's bad command: that gets a RESP error reply)."
);
create_exception!(
    senate,
    HistoryError,
    SenateError,
    "A history the checker cannot read: operation `index` (0-based, in the order given) has a bad `field` (`problem` says what)."
);
create_exception!(
    senate,
    InvalidTime,
    SenateError,
    "A failure detector was given a time that is not finite or lies before its last heartbeat (`now_ms`, `problem`)."
);

/// Attribute names each class carries, set to `None` on the class itself.
const CLASS_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("NotLeader", &["leader_hint"]),
    ("ProposalDropped", &["reason"]),
    ("ConfigError", &["field", "problem"]),
    ("UnknownPeer", &["id"]),
    ("InvalidMessage", &["from_id", "problem"]),
    ("Compacted", &["index", "first_index"]),
    ("Unavailable", &["index", "last_index"]),
    ("SnapshotOutOfDate", &["index", "current"]),
    ("InvalidTime", &["now_ms", "problem"]),
    ("HistoryError", &["index", "field", "problem"]),
    ("WalError", &["path"]),
    ("WalCorrupt", &["offset", "problem"]),
    ("RestoreFailed", &["index"]),
];

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SenateError", py.get_type::<SenateError>())?;
    m.add("NotLeader", py.get_type::<NotLeader>())?;
    m.add("ProposalDropped", py.get_type::<ProposalDropped>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("UnknownPeer", py.get_type::<UnknownPeer>())?;
    m.add("InvalidMessage", py.get_type::<InvalidMessage>())?;
    m.add("ReadyNotAdvanced", py.get_type::<ReadyNotAdvanced>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("Compacted", py.get_type::<Compacted>())?;
    m.add("Unavailable", py.get_type::<Unavailable>())?;
    m.add("SnapshotOutOfDate", py.get_type::<SnapshotOutOfDate>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("WalError", py.get_type::<WalError>())?;
    m.add("WalCorrupt", py.get_type::<WalCorrupt>())?;
    m.add("InvalidTime", py.get_type::<InvalidTime>())?;
    m.add("KvError", py.get_type::<KvError>())?;
    m.add("RestoreFailed", py.get_type::<RestoreFailed>())?;
    m.add("HistoryError", py.get_type::<HistoryError>())?;
    for (class, attributes) in CLASS_ATTRIBUTES {
        let class = m.getattr(*class)?;
        for attribute in *attributes {
            class.setattr(*attribute, py.None())?;
        }
    }
    Ok(())
}

/// `err` after `set` has put its attributes on the exception value.
fn with_attributes(py: Python<'_>, err: PyErr, set: impl FnOnce(&Bound<'_, PyBaseException>) -> PyResult<()>) -> PyErr {
    match set(err.value(py)) {
        Ok(()) => err,
        Err(setattr_err) => setattr_err,
    }
}

/// A short, stable identifier of a drop reason (the message says it in words).
fn drop_reason_id(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Transferring => "transferring",
        DropReason::UncommittedLimit => "uncommitted_limit",
        DropReason::TooLarge => "too_large",
        DropReason::Empty => "empty",
        DropReason::TooManyPendingReads => "too_many_pending_reads",
        DropReason::ConfChangePending => "conf_change_pending",
    }
}

pub fn raft_error(py: Python<'_>, err: RaftError) -> PyErr {
    let message = err.to_string();
    match err {
        RaftError::NotLeader { leader_hint } => {
            let hint = leader_hint.filter(|&id| id != NO_NODE);
            with_attributes(py, NotLeader::new_err(message), |e| e.setattr("leader_hint", hint))
        }
        RaftError::ProposalDropped { reason } => {
            with_attributes(py, ProposalDropped::new_err(message), |e| e.setattr("reason", drop_reason_id(reason)))
        }
        RaftError::InvalidConfig { field, problem } => with_attributes(py, ConfigError::new_err(message), |e| {
            e.setattr("field", field)?;
            e.setattr("problem", problem)
        }),
        RaftError::UnknownPeer { id } => with_attributes(py, UnknownPeer::new_err(message), |e| e.setattr("id", id)),
        RaftError::InvalidMessage { from, problem } => with_attributes(py, InvalidMessage::new_err(message), |e| {
            e.setattr("from_id", from)?;
            e.setattr("problem", problem)
        }),
        RaftError::ReadyNotAdvanced { .. } => ReadyNotAdvanced::new_err(message),
        RaftError::Storage(storage) => storage_error(py, storage),
    }
}

pub fn storage_error(py: Python<'_>, err: CoreStorageError) -> PyErr {
    let message = err.to_string();
    match err {
        CoreStorageError::Compacted { index, first_index } => with_attributes(py, Compacted::new_err(message), |e| {
            e.setattr("index", index)?;
            e.setattr("first_index", first_index)
        }),
        CoreStorageError::Unavailable { index, last_index } => {
            with_attributes(py, Unavailable::new_err(message), |e| {
                e.setattr("index", index)?;
                e.setattr("last_index", last_index)
            })
        }
        CoreStorageError::SnapshotOutOfDate { index, current } => {
            with_attributes(py, SnapshotOutOfDate::new_err(message), |e| {
                e.setattr("index", index)?;
                e.setattr("current", current)
            })
        }
    }
}

pub fn decode_error(err: CoreDecodeError) -> PyErr {
    DecodeError::new_err(err.to_string())
}

pub fn step_error(py: Python<'_>, err: StepError) -> PyErr {
    match err {
        StepError::Decode(decode) => decode_error(decode),
        StepError::Raft(raft) => raft_error(py, raft),
    }
}

pub fn detect_error(err: DetectError) -> PyErr {
    let message = err.to_string();
    Python::attach(|py| match err {
        DetectError::InvalidConfig { field, problem } => with_attributes(py, ConfigError::new_err(message), |e| {
            e.setattr("field", field)?;
            e.setattr("problem", problem)
        }),
        DetectError::InvalidTime { now_ms, problem } => with_attributes(py, InvalidTime::new_err(message), |e| {
            e.setattr("now_ms", now_ms)?;
            e.setattr("problem", problem)
        }),
    })
}

/// A driver that stopped: its log's error, or the restore that failed.
pub fn driver_error(err: senate_core::driver::DriverError) -> PyErr {
    use senate_core::driver::DriverError;
    let message = err.to_string();
    match err {
        DriverError::WriteFailed { .. } => WalError::new_err(message),
        DriverError::RestoreFailed { index, .. } => {
            Python::attach(|py| with_attributes(py, RestoreFailed::new_err(message), |e| e.setattr("index", index)))
        }
    }
}

pub fn wal_error(err: CoreWalError) -> PyErr {
    let message = err.to_string();
    Python::attach(|py| match err {
        CoreWalError::Io { path, .. } => with_attributes(py, WalError::new_err(message), |e| e.setattr("path", path)),
        CoreWalError::Corrupt { path, offset, problem } => with_attributes(py, WalCorrupt::new_err(message), |e| {
            e.setattr("path", path)?;
            e.setattr("offset", offset)?;
            e.setattr("problem", problem.to_string())
        }),
        CoreWalError::InvalidOptions { field, problem } => with_attributes(py, ConfigError::new_err(message), |e| {
            e.setattr("field", field)?;
            e.setattr("problem", problem)
        }),
        _ => WalError::new_err(message),
    })
}

/// A `ConfigError` naming `field`.
pub fn config_error(field: &str, problem: String) -> PyErr {
    let message = format!("invalid {field}: {problem}");
    Python::attach(|py| {
        with_attributes(py, ConfigError::new_err(message), |e| {
            e.setattr("field", field)?;
            e.setattr("problem", problem)
        })
    })
}

pub fn kv_error(err: CoreKvError) -> PyErr {
    match err {
        CoreKvError::InvalidLimits { field, problem } => config_error(field, problem.to_string()),
        other => KvError::new_err(other.to_string()),
    }
}

pub fn history_error(err: CoreHistoryError) -> PyErr {
    let message = err.to_string();
    Python::attach(|py| {
        with_attributes(py, HistoryError::new_err(message), |e| {
            e.setattr("index", err.index)?;
            e.setattr("field", err.field)?;
            e.setattr("problem", err.problem)
        })
    })
}
