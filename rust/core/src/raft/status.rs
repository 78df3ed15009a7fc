//! A read-only view of a node for operators and tests.

use crate::raft::empty_disk::EmptyDisk;
use crate::raft::message::{ConfState, Index, NodeId, Term};
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
    /// The match index the peer had when it was found to have lost its log (an empty disk),
    /// until it holds that again; 0: no loss seen.
    pub lost_log_at: Index,
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
    /// The configuration in force (joint while `conf_state.voters_outgoing` is not empty).
    pub conf_state: ConfState,
    /// Whether this node came back with an empty disk into a cluster with a log, and abstains
    /// from elections meanwhile (`raft::empty_disk`).
    pub empty_disk: EmptyDisk,
}

/// What a node is in a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberRole {
    /// Votes (in the configuration being entered, and in the outgoing one if it is there too).
    Voter,
    /// Votes only in the outgoing half of a joint configuration: it is being removed (or
    /// demoted) and leaves when the joint configuration is left.
    OutgoingVoter,
    /// Receives the log, neither votes nor counts for commit.
    Learner,
    /// Not in the configuration (removed, or not yet added).
    NonMember,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Voter => "voter",
            MemberRole::OutgoingVoter => "outgoing-voter",
            MemberRole::Learner => "learner",
            MemberRole::NonMember => "non-member",
        }
    }

    /// The role of `id` in `conf`.
    pub fn of(conf: &ConfState, id: NodeId) -> MemberRole {
        if conf.voters.binary_search(&id).is_ok() {
            MemberRole::Voter
        } else if conf.voters_outgoing.binary_search(&id).is_ok() {
            MemberRole::OutgoingVoter
        } else if conf.learners.binary_search(&id).is_ok() {
            MemberRole::Learner
        } else {
            MemberRole::NonMember
        }
    }
}

impl Status {
    /// Whether the configuration is joint (a change between two voter sets is under way).
    pub fn is_joint(&self) -> bool {
        self.conf_state.is_joint()
    }

    /// Every member with its role, ascending by id (this node included when it is a member).
    pub fn members(&self) -> Vec<(NodeId, MemberRole)> {
        self.conf_state.members().into_iter().map(|id| (id, MemberRole::of(&self.conf_state, id))).collect()
    }

    /// This node's own role in the configuration.
    pub fn member_role(&self) -> MemberRole {
        MemberRole::of(&self.conf_state, self.id)
    }
}
