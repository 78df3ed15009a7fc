//! Wire-level types of Multi-Paxos: one [`PaxosMessage`] per frame, an envelope (sender,
//! receiver, ballot) around a typed [`Body`].
//!
//! Every message carries a ballot, and what it means depends on the body: the proposer's
//! ballot for what a proposer sends (Prepare, Accept, leader heartbeats, InstallSnapshot,
//! TimeoutNow), the ballot answered for what an acceptor sends back (Promise, Nack, Accepted,
//! AcceptRejected, HeartbeatAck). Entries travel as log [`Entry`]s: slot in `index`, the ballot
//! they were accepted at (its `to_u64`) in `term`, exactly as the log stores them.

use crate::paxos::ballot::Ballot;
use crate::raft::message::{Entry, Index, NodeId, Snapshot};
use bytes::Bytes;

/// A slot of the replicated log: the position a value is chosen for. Slot 0 is the empty
/// prefix; the first real slot is 1.
pub type Slot = Index;

/// The largest slot any message may name: slot arithmetic (`slot + count`, `slot + 1`) stays
/// far from overflow below it, and no log grows near it (2^62 slots).
pub const MAX_SLOT: Slot = 1 << 62;

/// The body of a message; see the module docs of `paxos` for the rules each one follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Phase 1a from a candidate at `ballot`: promise not to accept below it, and report what
    /// you accepted from `from_slot` on. `transfer`: `Some(b)` when the leader of ballot `b`
    /// asked for this campaign (TimeoutNow): an acceptor that hears from a leader grants it
    /// anyway (with leases, only while it still promises `b`: that leader's lease is void). A
    /// candidate also sends it again at the same ballot with a higher `from_slot` to page
    /// through a long log.
    Prepare { from_slot: Slot, transfer: Option<Ballot> },
    /// Phase 1b: the acceptor promised `ballot`. `entries` are its accepted slots from the
    /// Prepare's `from_slot` on (contiguous, each with its accepted ballot in `term`), cut at
    /// the message limits; `last_slot` is its last slot, so the candidate knows whether more
    /// follow. `chosen`: its chosen index; `first_slot`: its first slot not compacted.
    Promise { chosen: Slot, first_slot: Slot, last_slot: Slot, entries: Vec<Entry> },
    /// The receiver refused `ballot` because it promised `promised` (higher, or a live leader's
    /// when `promised` is not higher: leader stickiness).
    Nack { promised: Ballot },
    /// Phase 2a from the leader of `ballot`: accept `entries` at slots `first_slot..`;
    /// `chosen` is the leader's chosen index.
    Accept { first_slot: Slot, chosen: Slot, entries: Vec<Entry> },
    /// Phase 2b: every slot up to `accepted_to` after the acceptor's chosen index holds the
    /// leader's value at `ballot`, durably.
    Accepted { accepted_to: Slot },
    /// The Accept started past the acceptor's run at `ballot`, which ends at `position`: the
    /// leader backs up to `position + 1` (Raft's probe).
    AcceptRejected { position: Slot },
    /// Sent by every node to every peer each heartbeat interval: "I am alive" (connectivity).
    /// From the leader (`leader`), also its `chosen` index and read round.
    Heartbeat { leader: bool, chosen: Slot, read_round: u64 },
    /// A follower's answer to a leader heartbeat at `ballot`, durably promised.
    HeartbeatAck { read_round: u64, accepted_to: Slot },
    /// InstallSnapshot: the leader's (or, in catch-up during phase 1, a promiser's) snapshot
    /// of chosen and applied slots.
    Snapshot { snapshot: Snapshot },
    /// From the leader to a transfer target: campaign now with a transfer-flagged Prepare.
    TimeoutNow,
    /// Commands forwarded from a follower to the leader.
    Propose { commands: Vec<Bytes> },
    /// A read-index request forwarded from a follower to the leader.
    ReadIndex { request_id: u64 },
    /// The leader's answer to `ReadIndex`: serve `request_id` once `index` is applied.
    ReadIndexResp { request_id: u64, index: Slot },
    /// A leadership-transfer request forwarded from a follower to the leader.
    TransferLeader { target: NodeId },
}

impl Body {
    /// The wire tag of the body's type.
    pub fn tag(&self) -> u8 {
        match self {
            Body::Prepare { .. } => 1,
            Body::Promise { .. } => 2,
            Body::Nack { .. } => 3,
            Body::Accept { .. } => 4,
            Body::Accepted { .. } => 5,
            Body::AcceptRejected { .. } => 6,
            Body::Heartbeat { .. } => 7,
            Body::HeartbeatAck { .. } => 8,
            // With learners (membership changes) the snapshot's configuration needs the
            // longer layout; without, the original one, so that such clusters send what they
            // always sent.
            Body::Snapshot { snapshot } if !snapshot.meta.conf_state.learners.is_empty() => 15,
            Body::Snapshot { .. } => 9,
            Body::TimeoutNow => 10,
            Body::Propose { .. } => 11,
            Body::ReadIndex { .. } => 12,
            Body::ReadIndexResp { .. } => 13,
            Body::TransferLeader { .. } => 14,
        }
    }

    /// Whether the message asserts durable state of its sender (a promise, an acceptance), so
    /// it may leave only once that state is durable. Everything else promises nothing a crash
    /// could take back and leaves at once.
    pub fn waits_for_persist(&self) -> bool {
        // Prepare waits too: a ballot is used only once its owner's promise of it is durable,
        // so that a candidate that crashes and restarts never runs the same ballot twice with
        // different values.
        matches!(self, Body::Prepare { .. } | Body::Promise { .. } | Body::Accepted { .. } | Body::HeartbeatAck { .. })
    }

    /// Payload bytes of the entries or commands carried (for size limits).
    pub fn payload_bytes(&self) -> usize {
        match self {
            Body::Promise { entries, .. } | Body::Accept { entries, .. } => entries.iter().map(Entry::size_bytes).sum(),
            Body::Propose { commands } => commands.iter().map(Bytes::len).sum(),
            Body::Snapshot { snapshot } => snapshot.data.len(),
            _ => 0,
        }
    }
}

/// One message between two peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosMessage {
    pub from: NodeId,
    pub to: NodeId,
    /// See the module docs: the proposer's ballot, or the ballot answered.
    pub ballot: Ballot,
    pub body: Body,
}

impl PaxosMessage {
    pub fn new(from: NodeId, to: NodeId, ballot: Ballot, body: Body) -> PaxosMessage {
        PaxosMessage { from, to, ballot, body }
    }
}
