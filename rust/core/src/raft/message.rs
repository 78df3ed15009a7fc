//! Wire-level types of the Raft protocol: entries, hard state, snapshots and messages.
//!
//! A [`Message`] is one flat struct for every message type, as in etcd's raftpb: the fields a
//! type does not use stay at their defaults (zero, empty), which the codec encodes in one byte
//! each. Keeping one shape makes the codec, the simulator and the bindings simple.

use bytes::Bytes;

/// A node's identity within a cluster. `0` is never a valid id: it means "none".
pub type NodeId = u64;
/// A Raft term. Terms start at 0 (no election yet) and only grow.
pub type Term = u64;
/// A log index. Index 0 is the empty prefix; the first real entry has index 1.
pub type Index = u64;

/// The id that means "no node" (no leader known, no vote cast).
pub const NO_NODE: NodeId = 0;

/// What an entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Application data, handed to the state machine when committed.
    Normal = 0,
    /// The empty entry a new leader appends at the start of its term, so that it can commit
    /// entries of earlier terms (Raft paper, section 5.4.2) and serve read-index requests.
    NoOp = 1,
    /// A membership change: `data` is an encoded [`ConfChange`](crate::raft::conf_change::ConfChange)
    /// (`codec::encode_conf_change`). The core applies it when it hands the entry out to apply;
    /// the application counts it and applies nothing.
    ConfChange = 2,
}

impl EntryKind {
    /// The kind with wire tag `tag`, or `None` for an unknown tag.
    pub fn from_tag(tag: u8) -> Option<EntryKind> {
        match tag {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::NoOp),
            2 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One log entry. Invariant: `index >= 1`, `term >= 1` for any entry in a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub kind: EntryKind,
    /// Opaque application bytes; empty for `NoOp`.
    pub data: Bytes,
}

impl Entry {
    /// Bytes this entry counts against size limits (payload plus a fixed header estimate).
    pub fn size_bytes(&self) -> usize {
        self.data.len() + ENTRY_OVERHEAD_BYTES
    }

    /// What the application applies: the data of a normal entry; nothing (empty) for a
    /// leader's no-op and for a membership change, which the core carries out itself.
    pub fn application_data(&self) -> &[u8] {
        match self.kind {
            EntryKind::Normal => &self.data,
            EntryKind::NoOp | EntryKind::ConfChange => &[],
        }
    }
}

/// A fixed per-entry cost added to the payload length when sizing batches, so that a stream of
/// empty entries is still bounded by byte limits.
pub const ENTRY_OVERHEAD_BYTES: usize = 24;

/// The state that must be durable before a node answers anyone: term, vote and commit index,
/// and whether the node abstains from elections (back with an empty disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: Term,
    /// The node voted for in `term`, or [`NO_NODE`].
    pub vote: NodeId,
    pub commit: Index,
    /// The node came back with an empty disk into a cluster that has a log and does not hold
    /// the committed log yet (`raft::empty_disk`): it neither votes nor campaigns, across
    /// restarts until it is cleared. Always false for Multi-Paxos.
    pub abstaining: bool,
}

impl HardState {
    /// Term, vote and commit index, not abstaining.
    pub const fn new(term: Term, vote: NodeId, commit: Index) -> HardState {
        HardState { term, vote, commit, abstaining: false }
    }
}

/// The membership of a cluster, as stored with snapshots and at boot, and as a `Ready` reports
/// it after a change (etcd's `ConfState`, without `learners_next`: demoting a voter to a
/// learner is refused here). Every list is sorted, without duplicates or the zero id, and
/// `learners` is disjoint from both voter lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfState {
    /// The voters of the configuration being entered (or of the only one, outside a change).
    pub voters: Vec<NodeId>,
    /// The voters of the configuration being left while joint; empty outside a joint change.
    /// While it is not empty, elections and commits need a majority of both lists.
    pub voters_outgoing: Vec<NodeId>,
    /// Members that receive the log but neither vote nor count for commit.
    pub learners: Vec<NodeId>,
    /// While joint: the leader leaves the joint configuration by itself once it is applied
    /// (etcd's auto-leave); false: the application proposes the leave.
    pub auto_leave: bool,
}

impl ConfState {
    /// A configuration of `voters` alone (sorted and deduplicated here).
    pub fn from_voters(mut voters: Vec<NodeId>) -> ConfState {
        voters.sort_unstable();
        voters.dedup();
        ConfState { voters, ..ConfState::default() }
    }

    /// While joint (C_old,new): `voters_outgoing` is not empty.
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// Only voters, no change under way: what a cluster that never changed holds (and what
    /// the older layouts of snapshots could store).
    pub fn is_voters_only(&self) -> bool {
        self.voters_outgoing.is_empty() && self.learners.is_empty() && !self.auto_leave
    }

    /// `id` votes in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok() || self.voters_outgoing.binary_search(&id).is_ok()
    }

    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.binary_search(&id).is_ok()
    }

    /// `id` is a voter or a learner: it receives the log.
    pub fn is_member(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Ids in all three lists, counting an id once per list.
    pub fn listed_id_count(&self) -> usize {
        self.voters.len() + self.voters_outgoing.len() + self.learners.len()
    }

    /// Every member (voters of both halves and learners), ascending.
    pub fn members(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> =
            self.voters.iter().chain(&self.voters_outgoing).chain(&self.learners).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// What a snapshot covers: the log up to and including `index`, whose entry had `term`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub index: Index,
    pub term: Term,
    pub conf_state: ConfState,
}

/// A snapshot of the application state at `meta.index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Bytes,
}

impl Snapshot {
    /// The empty snapshot (index 0) means "no snapshot".
    pub fn is_empty(&self) -> bool {
        self.meta.index == 0
    }
}

/// Every message type exchanged between peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// RequestVote. `index`/`log_term`: the candidate's last log position.
    /// `context` = [`CAMPAIGN_TRANSFER`] when the election follows a TimeoutNow.
    Vote = 1,
    VoteResp = 2,
    /// Pre-vote (thesis 9.6): `term` is the term the sender would campaign in; no state changes.
    PreVote = 3,
    PreVoteResp = 4,
    /// AppendEntries. `index`/`log_term`: the entry before `entries`; `commit`: leader commit.
    Append = 5,
    /// `index`: the last index the follower now matches (accept) or the rejected `index`
    /// (reject), with `reject_hint`/`log_term` giving the follower's conflict hint.
    AppendResp = 6,
    /// Heartbeat; `commit` is min(leader commit, follower match), `index` the leader commit;
    /// `context` is the read round.
    Heartbeat = 7,
    /// `context` echoes the heartbeat's read round.
    HeartbeatResp = 8,
    /// InstallSnapshot carrying `snapshot`.
    Snapshot = 9,
    /// Sent by a leader transferring leadership: start an election now.
    TimeoutNow = 10,
    /// A proposal forwarded from a follower to the leader; `entries` carry the data.
    Propose = 11,
    /// A read-index request forwarded from a follower; `context` is the caller's request id.
    ReadIndex = 12,
    /// Answer to `ReadIndex`: `index` is the read index, `context` the request id.
    /// `reject` = true when the leader could not serve it (it is no longer leader).
    ReadIndexResp = 13,
    /// A leadership-transfer request forwarded to the leader; `index` is unused and `context`
    /// holds the transferee id.
    TransferLeader = 14,
}

impl MessageType {
    /// The type with wire tag `tag`, or `None` for an unknown tag.
    pub fn from_tag(tag: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match tag {
            1 => Vote,
            2 => VoteResp,
            3 => PreVote,
            4 => PreVoteResp,
            5 => Append,
            6 => AppendResp,
            7 => Heartbeat,
            8 => HeartbeatResp,
            9 => Snapshot,
            10 => TimeoutNow,
            11 => Propose,
            12 => ReadIndex,
            13 => ReadIndexResp,
            14 => TransferLeader,
            _ => return None,
        })
    }

    /// Every message type, in tag order (for property tests and exhaustive loops).
    pub const ALL: [MessageType; 14] = [
        MessageType::Vote,
        MessageType::VoteResp,
        MessageType::PreVote,
        MessageType::PreVoteResp,
        MessageType::Append,
        MessageType::AppendResp,
        MessageType::Heartbeat,
        MessageType::HeartbeatResp,
        MessageType::Snapshot,
        MessageType::TimeoutNow,
        MessageType::Propose,
        MessageType::ReadIndex,
        MessageType::ReadIndexResp,
        MessageType::TransferLeader,
    ];
}

/// `Message::context` value of a Vote sent because of TimeoutNow: voters grant it even while
/// they believe a leader is alive (the leader asked for it).
pub const CAMPAIGN_TRANSFER: u64 = 1;

/// One message between two peers. Fields a type does not use are zero/empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub msg_type: MessageType,
    pub from: NodeId,
    pub to: NodeId,
    pub term: Term,
    pub log_term: Term,
    pub index: Index,
    pub commit: Index,
    pub reject: bool,
    pub reject_hint: Index,
    pub context: u64,
    pub entries: Vec<Entry>,
    pub snapshot: Option<Snapshot>,
}

impl Message {
    /// A message of `msg_type` from `from` to `to` at `term`, every other field empty.
    pub fn new(msg_type: MessageType, from: NodeId, to: NodeId, term: Term) -> Message {
        Message {
            msg_type,
            from,
            to,
            term,
            log_term: 0,
            index: 0,
            commit: 0,
            reject: false,
            reject_hint: 0,
            context: 0,
            entries: Vec::new(),
            snapshot: None,
        }
    }
}
