//! [`PaxosNode`] as a [`Consensus`] core: what lets the one driver, the runtime and the
//! simulator run Multi-Paxos exactly as they run Raft.
//!
//! The epoch is the promised ballot in its stored form ([`Ballot::to_u64`]): it grows with every
//! leadership (each leader runs a ballot above every ballot promised before it), and, unlike
//! the round alone, it differs between two leaders of the same round.
//!
//! [`Ballot::to_u64`]: crate::paxos::ballot::Ballot::to_u64

use crate::driver::{Consensus, NodeRole, Timing};
use crate::error::Result;
use crate::paxos::node::PaxosNode;
use crate::raft::conf_change::ConfChange;
use crate::raft::mem_node::{EncodedReady, StepError};
use crate::raft::message::{ConfState, Index, NodeId, Snapshot};
use bytes::Bytes;

impl Consensus for PaxosNode {
    fn id(&self) -> NodeId {
        PaxosNode::id(self)
    }

    fn tick(&mut self) {
        PaxosNode::tick(self);
    }

    fn step_stream(&mut self, buf: &Bytes) -> std::result::Result<usize, StepError> {
        PaxosNode::step_stream(self, buf)
    }

    fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        PaxosNode::step_snapshot(self, from, head, data)
    }

    fn propose_batch(&mut self, commands: Vec<Bytes>) -> Result<()> {
        PaxosNode::propose_batch(self, commands)
    }

    fn read_index(&mut self, request_id: u64) -> Result<()> {
        PaxosNode::read_index(self, request_id)
    }

    fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        PaxosNode::transfer_leader(self, to)
    }

    fn report_unreachable(&mut self, id: NodeId) {
        PaxosNode::report_unreachable(self, id);
    }

    fn has_ready(&self) -> bool {
        PaxosNode::has_ready(self)
    }

    fn has_ready_without_write(&self) -> bool {
        PaxosNode::has_ready_without_write(self)
    }

    fn ready(&mut self) -> Option<EncodedReady> {
        PaxosNode::ready(self)
    }

    fn ready_without_write(&mut self) -> Option<EncodedReady> {
        PaxosNode::ready_without_write(self)
    }

    fn advance(&mut self) {
        PaxosNode::advance(self);
    }

    fn compact(&mut self, index: Index, data: Bytes) -> Result<Snapshot> {
        PaxosNode::compact(self, index, data)
    }

    fn role(&self) -> NodeRole {
        PaxosNode::role(self)
    }

    fn epoch(&self) -> u64 {
        self.promised().to_u64()
    }

    fn leader(&self) -> Option<NodeId> {
        PaxosNode::leader(self)
    }

    fn commit_index(&self) -> Index {
        self.chosen()
    }

    fn timing(&self) -> Timing {
        let config = self.config();
        Timing {
            election_timeout_ticks: config.election_timeout_ticks,
            heartbeat_interval_ticks: config.heartbeat_interval_ticks,
        }
    }

    fn max_readies_in_flight(&self) -> usize {
        PaxosNode::max_readies_in_flight(self)
    }

    fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        PaxosNode::propose_conf_change(self, change)
    }

    /// The configuration in force after the chosen index (a change chosen at slot `s` is in
    /// force from slot `s + α`, `paxos/membership.rs`).
    fn conf_state(&self) -> &ConfState {
        PaxosNode::conf_state(self)
    }
}
