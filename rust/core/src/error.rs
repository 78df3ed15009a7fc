//! Typed errors of the core. Each variant becomes a Python exception class in the bindings.

use crate::raft::message::NodeId;
use thiserror::Error;

/// Why a proposal was refused by a node that could otherwise take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A leadership transfer is in progress; proposals would be lost with the old leader.
    Transferring,
    /// The leader holds `max_uncommitted_bytes` of uncommitted entries already.
    UncommittedLimit,
    /// The batch is larger than `max_frame_bytes / 2` or than `max_uncommitted_bytes`: it
    /// could never be accepted.
    TooLarge,
    /// The batch was empty.
    Empty,
    /// `max_pending_reads` read-index requests are pending already.
    TooManyPendingReads,
    /// Another membership change is not yet applied; propose again once it is.
    ConfChangePending,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::Transferring => "leadership transfer in progress",
            DropReason::UncommittedLimit => "uncommitted bytes limit reached at the leader",
            DropReason::TooLarge => "batch exceeds max_frame_bytes / 2 or max_uncommitted_bytes",
            DropReason::Empty => "empty batch",
            DropReason::TooManyPendingReads => "max_pending_reads read requests are pending",
            DropReason::ConfChangePending => "another membership change is not yet applied",
        })
    }
}

/// Errors of the log storage.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StorageError {
    /// The requested index lies before the first index still in the log (it was compacted).
    #[error("index {index} is compacted (first index {first_index})")]
    Compacted { index: u64, first_index: u64 },
    /// The requested index lies after the last index in the log.
    #[error("index {index} is unavailable (last index {last_index})")]
    Unavailable { index: u64, last_index: u64 },
    /// A snapshot not newer than the one already held was offered.
    #[error("snapshot at {index} is not newer than the current one at {current}")]
    SnapshotOutOfDate { index: u64, current: u64 },
}

/// Errors returned by the Raft node API.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RaftError {
    /// This node cannot take the request because it is not the leader and cannot forward it.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    /// The leader refused the proposal.
    #[error("proposal dropped: {reason}")]
    ProposalDropped { reason: DropReason },
    /// A configuration value is invalid; `field` names it.
    #[error("invalid config: {field}: {problem}")]
    InvalidConfig { field: &'static str, problem: String },
    /// A peer sent a message that no correct node sends (it is ignored; drop that connection).
    #[error("invalid message from node {from}: {problem}")]
    InvalidMessage { from: NodeId, problem: String },
    /// `ready` was called while `limit` Readies handed out were not yet advanced.
    #[error("{limit} Readies were handed out and not advanced (the limit)")]
    ReadyNotAdvanced { limit: usize },
    /// A message named a peer that is not a member of the cluster.
    #[error("unknown peer {id}")]
    UnknownPeer { id: NodeId },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T, E = RaftError> = std::result::Result<T, E>;
