//! Linearizable reads at the leader by a quorum round, or at once under a leader lease
//! (`lease.rs`).
//!
//! A read that reaches the leader gets the highest slot the leader has assigned as its read
//! index, and the next read round. Every leader heartbeat carries the newest round; a
//! follower's HeartbeatAck echoes it, durably promising the leader's ballot. Once a phase 2
//! quorum (the leader included) acknowledged a round at or after the read's, no higher ballot
//! had chosen anything when the read arrived (any phase 1 quorum of a higher ballot meets that
//! quorum, whose members still promised this ballot after the read arrived), so every value
//! chosen before the read is at or below its index: the read is served once that index is
//! applied. Reads are dropped when leadership changes; the caller retries.

use crate::driver::NodeRole;
use crate::error::{DropReason, RaftError, Result};
use crate::paxos::core::Paxos;
use crate::paxos::message::{Body, Slot};
use crate::raft::message::NodeId;
use crate::raft::ready::ReadState;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
struct PendingRead {
    request_id: u64,
    /// The node that asked (this leader, or a follower that forwarded it).
    requester: NodeId,
    index: Slot,
    round: u64,
}

#[derive(Clone, Debug, Default)]
pub struct ReadIndex {
    /// The newest round started at this ballot; rounds start at 1.
    round: u64,
    /// Reads waiting for their round, oldest (lowest round) first; at most
    /// `max_pending_reads`.
    pending: VecDeque<PendingRead>,
    /// The highest round each peer acknowledged at this ballot.
    acked: Vec<(NodeId, u64)>,
}

impl ReadIndex {
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Forgets every read and round (leadership changed).
    pub fn reset(&mut self) {
        *self = ReadIndex::default();
    }

    fn ack(&mut self, peer: NodeId, round: u64) {
        match self.acked.iter_mut().find(|(id, _)| *id == peer) {
            Some((_, acked)) => *acked = (*acked).max(round),
            None => self.acked.push((peer, round)),
        }
    }

    /// The highest round a quorum of `q2` of `voters` acknowledged, counting the leader `own`
    /// (at `round`) if it is one of them.
    pub(super) fn confirmed_round(&self, own: NodeId, voters: &[NodeId], q2: usize) -> u64 {
        let mut rounds: Vec<u64> = voters
            .iter()
            .map(|id| match id {
                id if *id == own => self.round,
                id => self.acked.iter().find(|(peer, _)| peer == id).map_or(0, |(_, r)| *r),
            })
            .collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds.get(q2 - 1).copied().unwrap_or(0)
    }
}

impl Paxos {
    /// Starts a read round for `request_id` from `requester` (the leader itself or a follower).
    pub(super) fn start_read(&mut self, requester: NodeId, request_id: u64) -> Result<()> {
        debug_assert_eq!(self.role, NodeRole::Leader);
        if self.reads.pending.len() >= self.cfg.max_pending_reads {
            return Err(RaftError::ProposalDropped { reason: DropReason::TooManyPendingReads });
        }
        let index = self.log.last_slot();
        if self.lease_valid() {
            self.answer_read(requester, request_id, index);
            return Ok(());
        }
        let round = self.start_read_round();
        self.reads.pending.push_back(PendingRead { request_id, requester, index, round });
        self.confirm_reads();
        if !self.reads.pending.is_empty() {
            self.send_heartbeats();
        }
        Ok(())
    }

    /// The highest read round a phase 2 quorum of every configuration that governs a slot
    /// after the chosen index acknowledged (a later leader's phase 1 covers at least one of
    /// them, `membership.rs`).
    pub(super) fn confirmed_read_round(&self) -> u64 {
        let from = self.log.chosen() + 1;
        self.membership
            .confs_from(from)
            .map(|conf| self.reads.confirmed_round(self.id, &conf.voters, self.q2_of(conf)))
            .min()
            .unwrap_or(0)
    }

    /// Opens the next read round (sent with the next heartbeats); returns its number.
    pub(super) fn start_read_round(&mut self) -> u64 {
        self.reads.round += 1;
        if self.cfg.lease_reads() {
            let now = self.election.now_ticks();
            self.lease.record_round(self.reads.round, now);
        }
        self.reads.round
    }

    pub(super) fn ack_read_round(&mut self, from: NodeId, round: u64) {
        // A round this leader never started is ignored (a stale or bogus echo).
        if round == 0 || round > self.reads.round {
            return;
        }
        self.reads.ack(from, round);
        self.confirm_reads();
    }

    /// Hands out every read whose round a quorum acknowledged: to this node's read states, or
    /// back to the follower that forwarded it.
    fn confirm_reads(&mut self) {
        let confirmed = self.confirmed_read_round();
        while let Some(read) = self.reads.pending.front().copied().filter(|r| r.round <= confirmed) {
            self.reads.pending.pop_front();
            self.answer_read(read.requester, read.request_id, read.index);
        }
    }

    /// Serves read `request_id` at `index`: to this node's read states, or back to the
    /// follower that forwarded it.
    fn answer_read(&mut self, requester: NodeId, request_id: u64, index: Slot) {
        if requester == self.id {
            self.read_states.push(ReadState { index, request_id });
        } else {
            let ballot = self.own_ballot;
            self.send(requester, ballot, Body::ReadIndexResp { request_id, index });
            // The follower serves the read once it applied `index`.
            self.want_chosen(requester, index);
        }
    }
}
