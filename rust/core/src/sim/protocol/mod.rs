//! [`SimProtocol`]: what the simulators need from a consensus protocol beyond the driver's
//! [`Consensus`] surface, so that one fault simulation (`cluster`) and one scenario runner
//! (`partial`) run Raft and Multi-Paxos alike through the production driver.
//!
//! A protocol says how to build its nodes (a seeded draw of configurations for the fault
//! simulation, a fixed one for the scenarios), how to show a node's durable state to its own
//! safety checker ([`SafetyChecker`]: Raft's [`Checker`](crate::sim::Checker), Multi-Paxos's
//! [`PaxosChecker`](crate::sim::paxos_checker::PaxosChecker)), and the few inputs the fault
//! simulation gives a core directly (a crash's last input, a forced campaign, a restart from
//! storage). Everything else (network, faults, workload, disk, snapshots, reads, liveness)
//! knows no protocol.
//!
//! Invariant: a protocol's hooks draw nothing from the run's RNG but what `draw_setup` draws,
//! so the draws of a seed, and the run it replays, stay the same as long as that draw does.

mod flow_limits;
pub mod paxos;
pub mod raft;

use crate::codec::DecodeError;
use crate::driver::{Consensus, NodeRole};
use crate::error::RaftError;
use crate::raft::mem_node::StepError;
use crate::raft::message::{Entry, Index, NodeId, Snapshot};
use crate::raft::ready::ReadState;
use crate::raft::storage::MemStorage;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation};
use bytes::Bytes;
use rand_chacha::ChaCha8Rng;

pub use paxos::PaxosProtocol;
pub use raft::RaftProtocol;

/// A node's state as the simulators look at it after each Ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreView {
    pub role: NodeRole,
    /// The protocol's own role code, folded into the trace fingerprint (Raft: its `Role` with
    /// pre-candidates apart).
    pub role_code: u64,
    /// Raft's term; the promised ballot's `to_u64` for Multi-Paxos.
    pub epoch: u64,
    /// The index known committed (chosen), volatile.
    pub commit: Index,
}

/// The nodes a fault-simulation run starts with, and its setup in words.
pub struct SimSetup<C> {
    /// Fresh nodes 1, 2, ... persisting by the caller.
    pub cores: Vec<C>,
    /// The configuration drawn, in words (for traces).
    pub summary: String,
    /// Reads rely on leases: the run must keep every clock at one rate (no slow nodes).
    pub lease_reads: bool,
}

/// The safety checker of one protocol, as the simulators feed it. Syncing a node with its
/// durable state is the protocol's (`SimProtocol::sync_checker`); the rest is common.
pub trait SafetyChecker {
    /// Node syncs checked so far (one per Ready handled).
    fn steps_checked(&self) -> u64;
    /// The highest index known committed (chosen), every index below it too.
    fn committed_index(&self) -> Index;
    /// Epochs (terms, ballots) in which a leader was seen.
    fn leader_terms(&self) -> usize;
    /// Makes the next sync of `id` compare its whole durable log.
    fn request_audit(&mut self, id: NodeId);
    /// Node `id` applies `entry`, the next in its order.
    fn observe_apply(&mut self, id: NodeId, entry: &Entry) -> Check;
    /// Node `id` restores its application from `snapshot`.
    fn observe_restore(&mut self, id: NodeId, snapshot: &Snapshot) -> Check;
    /// Node `id` restarted with its application at `app` (kept or rebuilt).
    fn observe_restart(&mut self, id: NodeId, app: AppState) -> Check;
    /// A read was issued now under `request_id`.
    fn observe_read_issued(&mut self, request_id: u64);
    /// Node `id` confirmed `read`.
    fn observe_read_state(&self, id: NodeId, read: &ReadState) -> Check;
    /// Every node was synced a last time: what could only be judged at the end is.
    fn finish(&mut self) -> Check {
        Ok(())
    }
}

/// A protocol both simulators can run.
pub trait SimProtocol {
    type Core: Consensus;
    type Checker: SafetyChecker;

    /// The protocol's name in reports ("raft", "paxos").
    fn name(&self) -> &'static str;

    /// A fresh node `id` of a cluster of `voters` for the scenarios: empty log, persisting by
    /// the caller, randomness from `seed`, timed in simulator ticks (election timeout
    /// `ELECTION_TIMEOUT_TICKS`, heartbeat `HEARTBEAT_INTERVAL_TICKS`).
    fn start(&self, id: NodeId, voters: &[NodeId], seed: u64) -> Result<Self::Core, RaftError>;

    /// The nodes of a fault-simulation run of `nodes` nodes, their configurations drawn from
    /// `rng` (the first draws of the seed).
    fn draw_setup(&self, nodes: usize, rng: &mut ChaCha8Rng) -> Result<SimSetup<Self::Core>, Violation>;

    /// The nodes of a membership run (`SimOptions::membership`): `nodes` of them, of which the
    /// first `voters` are the voters and the others know them but are not members yet. Drawn
    /// like `draw_setup` (the same draws of the seed). A protocol without membership changes
    /// refuses.
    fn draw_setup_members(
        &self,
        nodes: usize,
        voters: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<SimSetup<Self::Core>, Violation> {
        let _ = (nodes, voters, rng);
        Err(Violation::new(
            Property::NodeError,
            format!("{} does not change its membership in the simulation yet", self.name()),
        ))
    }

    /// The index of the membership change in force at `core` (0: the initial configuration).
    fn conf_index(&self, core: &Self::Core) -> Index {
        let _ = core;
        0
    }

    /// At the leader `core`: the learner `id` holds every committed entry (it may be promoted).
    fn caught_up(&self, core: &Self::Core, id: NodeId) -> bool {
        let _ = (core, id);
        false
    }

    /// A checker for the cluster of `cores`, all fresh.
    fn checker(&self, cores: &[&Self::Core]) -> Self::Checker;

    /// Shows node `core`'s durable state and status to the checker, after each of its Readies.
    fn sync_checker(&self, checker: &mut Self::Checker, core: &Self::Core) -> Check;

    fn view(&self, core: &Self::Core) -> CoreView;

    /// `epoch` (`Consensus::epoch`) as a count that rises by one per election: Raft's term
    /// itself; a ballot's round for Multi-Paxos (whose epoch holds the node id in its low bits).
    fn epoch_number(&self, epoch: u64) -> u64 {
        epoch
    }

    /// Steps `frames`, whole frames of this protocol; returns how many.
    fn step_frames(&self, core: &mut Self::Core, frames: &Bytes) -> Result<usize, StepError>;

    /// The length of the first frame of `buf`, `None` when it is incomplete.
    fn frame_bytes(&self, buf: &Bytes) -> Result<Option<usize>, DecodeError>;

    /// One frame in words (for traces).
    fn describe_frame(&self, frame: &Bytes) -> String;

    /// The last input of a node about to crash, whose outcome dies with it: a proposal of
    /// `payload` and a tick, straight into the core.
    fn crash_input(&self, core: &mut Self::Core, payload: Bytes);

    /// Campaigns now.
    fn campaign(&self, core: &mut Self::Core);

    /// Restarts `core` from its durable state alone; its application had applied `applied`.
    fn crash_restart(&self, core: &mut Self::Core, applied: Index) -> Result<(), RaftError>;

    /// The durable state (what a crash leaves).
    fn storage<'c>(&self, core: &'c Self::Core) -> &'c MemStorage;

    /// Applies `entry` to a node's application (the simulated state machine).
    fn apply(&self, app: &mut AppState, entry: &Entry);

    /// A node's state in words (for violations).
    fn describe_node(&self, core: &Self::Core) -> String;
}
