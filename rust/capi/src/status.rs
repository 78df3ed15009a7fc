//! `senate_raft_status` and `senate_peer_status`: read-only views of a node, and the roles
//! and progress states they name.

use senate_core::{PeerStatus, ProgressState, Role, Status};

/// A node's role.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_role {
    Follower = 0,
    /// Running a pre-vote round; the term has not been bumped.
    PreCandidate = 1,
    Candidate = 2,
    Leader = 3,
}

impl senate_role {
    pub fn from_core(role: Role) -> senate_role {
        match role {
            Role::Follower => senate_role::Follower,
            Role::PreCandidate => senate_role::PreCandidate,
            Role::Candidate => senate_role::Candidate,
            Role::Leader => senate_role::Leader,
        }
    }
}

/// How a leader replicates to a follower.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_progress_state {
    /// One AppendEntries at a time, until the follower's log matches.
    Probe = 0,
    /// Pipelined AppendEntries within the in-flight window.
    Replicate = 1,
    /// A snapshot is on its way.
    Snapshot = 2,
}

/// A node's state at the moment `senate_raft_node_status` was called. Node ids are > 0; 0
/// means "none".
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_raft_status {
    pub id: u64,
    pub role: senate_role,
    pub term: u64,
    /// The node voted for in `term`, or 0.
    pub vote: u64,
    /// The known leader, or 0.
    pub leader: u64,
    /// The highest index known committed.
    pub commit: u64,
    /// The highest index applied (reported by `advance`).
    pub applied: u64,
    /// The first index still in the log (after the snapshot).
    pub first_index: u64,
    /// The last index in the log.
    pub last_index: u64,
    /// At the leader, the number of followers `senate_raft_node_peers` reports; else 0.
    pub peer_count: usize,
    /// The transfer target while a leadership transfer runs, or 0.
    pub lead_transferee: u64,
}

impl senate_raft_status {
    pub fn from_core(status: &Status) -> senate_raft_status {
        senate_raft_status {
            id: status.id,
            role: senate_role::from_core(status.role),
            term: status.term,
            vote: status.vote,
            leader: status.leader,
            commit: status.commit,
            applied: status.applied,
            first_index: status.first_index,
            last_index: status.last_index,
            peer_count: status.peers.len(),
            lead_transferee: status.lead_transferee,
        }
    }
}

/// A leader's view of one follower.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_peer_status {
    pub id: u64,
    /// The highest index known replicated on the follower; `match_index < next_index`.
    pub match_index: u64,
    /// The next index to send it.
    pub next_index: u64,
    pub state: senate_progress_state,
    /// Heard from within the last election timeout.
    pub recent_active: bool,
}

impl senate_peer_status {
    pub fn from_core(peer: &PeerStatus) -> senate_peer_status {
        senate_peer_status {
            id: peer.id,
            match_index: peer.match_index,
            next_index: peer.next_index,
            state: match peer.state {
                ProgressState::Probe => senate_progress_state::Probe,
                ProgressState::Replicate => senate_progress_state::Replicate,
                ProgressState::Snapshot => senate_progress_state::Snapshot,
            },
            recent_active: peer.recent_active,
        }
    }
}
