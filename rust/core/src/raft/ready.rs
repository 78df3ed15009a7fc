//! The batch of work a node hands its caller: what to persist, send and apply.

use crate::raft::message::{ConfState, Entry, HardState, Index, Message, NodeId, Snapshot};

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    /// Running a pre-vote round; the term has not been bumped.
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Volatile state that need not be persisted; reported when it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    /// The leader this node knows of, or `NO_NODE`.
    pub leader: NodeId,
    pub role: Role,
}

/// A confirmed linearizable read: once the application has applied `index`, reads issued
/// under `request_id` may be served from its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub index: Index,
    pub request_id: u64,
}

/// Everything a node asks of its caller after some input. See the crate docs for the duties
/// (persist, send, apply, advance) and their order.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    /// Set when role or leader changed since the last `Ready`.
    pub soft_state: Option<SoftState>,
    /// Set when term, vote or commit changed; persist it (duty 1).
    pub hard_state: Option<HardState>,
    /// A snapshot received from the leader; persist it and restore the state machine from it.
    pub snapshot: Option<Snapshot>,
    /// Entries to append to stable storage (duty 1), in index order; they may overwrite a
    /// suffix of the stored log.
    pub entries: Vec<Entry>,
    /// Messages that may be sent at once, in parallel with persisting (a leader's
    /// AppendEntries, heartbeats and snapshots: thesis section 10.2.1).
    pub messages: Vec<Message>,
    /// Messages that must wait until `entries`, `hard_state` and `snapshot` are durable (votes,
    /// vote and append acknowledgements): they promise what was persisted.
    pub persisted_messages: Vec<Message>,
    /// Committed entries to apply in order (duty 3), after `entries` are persisted.
    pub committed_entries: Vec<Entry>,
    /// Confirmed read indexes (duty 3: serve each once its index is applied).
    pub read_states: Vec<ReadState>,
    /// The configuration in force, set when it changed since the last `Ready`: a membership
    /// change among `committed_entries` took effect, or a snapshot brought another one. The
    /// caller connects to new members and forgets removed ones.
    pub conf_state: Option<ConfState>,
}

impl Ready {
    /// True when this `Ready` has something that must be fsynced before `persisted_messages`
    /// go out.
    pub fn must_sync(&self) -> bool {
        self.hard_state.is_some() || self.snapshot.is_some() || !self.entries.is_empty()
    }

    /// True when nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && !self.must_sync()
            && self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.conf_state.is_none()
    }
}
