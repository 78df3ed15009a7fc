//! [`ScenarioProtocol`]: what the scenario runner needs from a protocol beyond the driver's
//! [`Consensus`] surface (building a node, and showing its persisted state to the safety
//! checker), and [`RaftProtocol`], Raft's answer. A second protocol (Multi-Paxos's
//! `PaxosNode`) plugs in by implementing this trait; the scenarios and the recovery measure
//! stay as they are.

use crate::driver::Consensus;
use crate::error::RaftError;
use crate::raft::config::Config;
use crate::raft::mem_node::{MemNode, PersistMode};
use crate::raft::message::NodeId;
use crate::raft::storage::MemStorage;
use crate::sim::checker::{Check, Checker};
use crate::sim::cluster::{ELECTION_TIMEOUT_TICKS, HEARTBEAT_INTERVAL_TICKS};

/// A protocol the partial-connectivity scenarios can run.
pub trait ScenarioProtocol {
    type Core: Consensus;

    /// The protocol's name in reports ("raft").
    fn name(&self) -> &'static str;

    /// A fresh node `id` of a cluster of `voters`, with an empty log, persisting by the caller
    /// (its writes leave through the driver's `Action::Write`), drawing its randomness from
    /// `seed`, timed in simulator ticks: election timeout [`ELECTION_TIMEOUT_TICKS`], heartbeat
    /// [`HEARTBEAT_INTERVAL_TICKS`].
    fn start(&self, id: NodeId, voters: &[NodeId], seed: u64) -> Result<Self::Core, RaftError>;

    /// Shows node `core`'s persisted log and status to the checker, after each of its Readies
    /// (the safety invariants: one leader per epoch, log matching, committed entries never
    /// lost).
    fn sync_checker(&self, checker: &mut Checker, core: &Self::Core) -> Check;
}

/// Raft, as `MemNode` runs it, with pre-vote and check-quorum as configured (both on by
/// default, as in `Config::new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftProtocol {
    pub pre_vote: bool,
    pub check_quorum: bool,
}

impl Default for RaftProtocol {
    fn default() -> RaftProtocol {
        let defaults = Config::new(1, vec![1]);
        RaftProtocol { pre_vote: defaults.pre_vote, check_quorum: defaults.check_quorum }
    }
}

impl ScenarioProtocol for RaftProtocol {
    type Core = MemNode;

    fn name(&self) -> &'static str {
        "raft"
    }

    fn start(&self, id: NodeId, voters: &[NodeId], seed: u64) -> Result<MemNode, RaftError> {
        let mut config = Config::new(id, voters.to_vec());
        config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
        config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
        config.pre_vote = self.pre_vote;
        config.check_quorum = self.check_quorum;
        config.seed = seed;
        MemNode::with_mode(&config, MemStorage::new(voters.to_vec()), PersistMode::ByCaller)
    }

    fn sync_checker(&self, checker: &mut Checker, core: &MemNode) -> Check {
        let status = core.status();
        let raw = &core.raw;
        // The commit index a node acts on is volatile; it vouches for the entries it holds
        // durably and consistently with its in-memory log (as in the fault simulation).
        let commit = status.commit.min(raw.persisted_index());
        checker.sync_node_with_commit(core.id(), raw.storage(), status.role, status.term, commit)
    }
}
