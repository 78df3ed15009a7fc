//! A read-only view of a node for operators and tests.

use crate::raft::message::{Index, NodeId, Term};
use crate::raft::progress::ProgressState;
use crate::raft::ready::Role;

/// How the leader sees one follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub id: NodeId,
    /// Highest index known replicated on the peer. Invariant: `match_index < next_index`.
    pub match_index: Index,
    pub next_index: Index,
    pub state: ProgressState,
    /// The peer was heard from within the current check-quorum window.
    pub recent_active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    pub vote: NodeId,
    /// Known leader or `NO_NODE`.
    pub leader: NodeId,
    pub commit: Index,
    /// Highest index handed out for applying.
    pub applied: Index,
    pub first_index: Index,
    pub last_index: Index,
    /// Only filled at the leader; the leader itself is not listed.
    pub peers: Vec<PeerStatus>,
    /// The transfer target while a leadership transfer runs, else `NO_NODE`.
    pub lead_transferee: NodeId,
}
