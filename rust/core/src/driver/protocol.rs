//! What a consensus core offers the driver: the surface every protocol implements (Raft today,
//! Multi-Paxos next), so that one driver, one runtime and one simulator serve them all.
//!
//! The shape is etcd raft's `RawNode`: inputs (`tick`, `step_stream`, `propose_batch`,
//! `read_index`) change the core's state, `ready` hands out the work they caused (an
//! [`EncodedReady`]: frames to send, a batch to make durable, committed entries, confirmed
//! reads), `advance` says the oldest Ready handed out was carried out. A protocol keeps its own
//! words (terms, ballots, pre-candidates) behind [`NodeRole`] and an `epoch`.

use crate::codec::DecodeError;
use crate::error::{RaftError, Result};
use crate::raft::conf_change::ConfChange;
use crate::raft::mem_node::{EncodedReady, MemNode, StepError};
use crate::raft::message::{ConfState, Index, NodeId, Snapshot, NO_NODE};
use crate::raft::ready::Role;
use bytes::Bytes;

/// A node's role in words every protocol has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRole {
    /// Follows a leader, or waits to hear of one.
    Follower,
    /// Runs for leadership (Raft's pre-candidates and candidates; Paxos's phase 1).
    Candidate,
    /// Proposes and commits (Raft's leader; Paxos's distinguished proposer).
    Leader,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Follower => "follower",
            NodeRole::Candidate => "candidate",
            NodeRole::Leader => "leader",
        }
    }
}

/// The core's own timing, in ticks: what the driver derives its knobs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// A follower that hears nothing from a leader for this long (at least) runs for
    /// leadership.
    pub election_timeout_ticks: u32,
    /// A leader tells its followers it is alive at least this often. Invariant: below
    /// `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
}

/// A consensus core the driver can run. Exactly one driver calls into a core.
pub trait Consensus {
    fn id(&self) -> NodeId;
    /// One unit of logical time.
    fn tick(&mut self);
    /// Steps the complete frames at the start of `buf` (a peer's byte stream) and returns the
    /// bytes they took; a partial frame at the end is left for more input. A malformed frame is
    /// an error: the caller closes that connection.
    fn step_stream(&mut self, buf: &Bytes) -> std::result::Result<usize, StepError>;
    /// Steps a snapshot message sent out of band (`raft::snapshot_send`,
    /// `paxos::snapshot_send`) by peer `from` (the stream's authenticated sender): its `head`
    /// frame and the snapshot's `data`. A head naming another sender than `from` is refused
    /// as malformed input, and so is any head by a protocol that sends no snapshot out of band
    /// (the caller drops that stream).
    fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        let _ = (from, head, data);
        Err(StepError::Decode(DecodeError::NotASnapshotHead { problem: "this protocol streams no snapshots" }))
    }
    /// Proposes commands; at a follower they are forwarded to the leader when it is known.
    fn propose_batch(&mut self, commands: Vec<Bytes>) -> Result<()>;
    /// Asks for a linearizable read; a read state under `request_id` comes out in a later
    /// Ready, or nothing when leadership changes (the caller retries).
    fn read_index(&mut self, request_id: u64) -> Result<()>;
    fn transfer_leader(&mut self, to: NodeId) -> Result<()>;
    /// Messages to `id` could not be delivered.
    fn report_unreachable(&mut self, id: NodeId);
    fn has_ready(&self) -> bool;
    /// Whether a Ready that asks for no write is available (see `ready_without_write`).
    fn has_ready_without_write(&self) -> bool;
    fn ready(&mut self) -> Option<EncodedReady>;
    /// A Ready of what needs no write (committed entries, confirmed reads, messages that may
    /// leave at once), for a caller whose writes are at their limit.
    fn ready_without_write(&mut self) -> Option<EncodedReady>;
    /// The oldest Ready not yet advanced was carried out (its batch is durable).
    fn advance(&mut self);
    /// Records an application snapshot at `index` (at most the index handed out to apply) and
    /// compacts the in-memory log up to it.
    fn compact(&mut self, index: Index, data: Bytes) -> Result<Snapshot>;
    fn role(&self) -> NodeRole;
    /// The protocol's epoch: Raft's term, a Paxos ballot's round. Grows with each leadership.
    fn epoch(&self) -> u64;
    fn leader(&self) -> Option<NodeId>;
    /// The highest index known committed (volatile: it may lag after a restart).
    fn commit_index(&self) -> Index;
    fn timing(&self) -> Timing;
    /// Readies that may be handed out and not yet advanced.
    fn max_readies_in_flight(&self) -> usize;
    /// Proposes a membership change (at the leader). A protocol without membership changes
    /// refuses it naming the field.
    fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        let _ = change;
        Err(RaftError::InvalidConfig { field: "conf_change", problem: "this protocol has fixed membership".into() })
    }
    /// The configuration in force (the voters, for a protocol without membership changes).
    /// Borrowed: the driver compares it whenever entries commit, and clones it only when it
    /// moved.
    fn conf_state(&self) -> &ConfState;
}

impl Consensus for MemNode {
    fn id(&self) -> NodeId {
        self.raw.id()
    }

    fn tick(&mut self) {
        self.raw.tick();
    }

    fn step_stream(&mut self, buf: &Bytes) -> std::result::Result<usize, StepError> {
        MemNode::step_stream(self, buf)
    }

    fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        MemNode::step_snapshot(self, from, head, data)
    }

    fn propose_batch(&mut self, commands: Vec<Bytes>) -> Result<()> {
        self.raw.propose_batch(commands)
    }

    fn read_index(&mut self, request_id: u64) -> Result<()> {
        self.raw.read_index(request_id)
    }

    fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        self.raw.transfer_leader(to)
    }

    fn report_unreachable(&mut self, id: NodeId) {
        self.raw.report_unreachable(id);
    }

    fn has_ready(&self) -> bool {
        self.raw.has_ready()
    }

    fn has_ready_without_write(&self) -> bool {
        self.raw.has_ready_without_write()
    }

    fn ready(&mut self) -> Option<EncodedReady> {
        MemNode::ready(self)
    }

    fn ready_without_write(&mut self) -> Option<EncodedReady> {
        MemNode::ready_without_write(self)
    }

    fn advance(&mut self) {
        MemNode::advance(self);
    }

    fn compact(&mut self, index: Index, data: Bytes) -> Result<Snapshot> {
        MemNode::compact(self, index, data)
    }

    fn role(&self) -> NodeRole {
        match self.raw.role() {
            Role::Leader => NodeRole::Leader,
            Role::Follower => NodeRole::Follower,
            Role::PreCandidate | Role::Candidate => NodeRole::Candidate,
        }
    }

    fn epoch(&self) -> u64 {
        self.raw.term()
    }

    fn leader(&self) -> Option<NodeId> {
        Some(self.raw.leader()).filter(|&leader| leader != NO_NODE)
    }

    fn commit_index(&self) -> Index {
        self.raw.commit_index()
    }

    fn timing(&self) -> Timing {
        let config = self.raw.config();
        Timing {
            election_timeout_ticks: config.election_timeout_ticks,
            heartbeat_interval_ticks: config.heartbeat_interval_ticks,
        }
    }

    fn max_readies_in_flight(&self) -> usize {
        MemNode::max_readies_in_flight(self)
    }

    fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        MemNode::propose_conf_change(self, change)
    }

    fn conf_state(&self) -> &ConfState {
        MemNode::conf_state(self)
    }
}
