//! Pending linearizable reads at a leader, confirmed in batched heartbeat rounds.
//!
//! Every read gets the number of the next heartbeat round (`sent_round + 1`); one heartbeat
//! broadcast per `Ready` (or the periodic heartbeat, whichever comes first) carries that
//! number, so all reads that arrived in between share one round trip. A follower's heartbeat response echoes the highest round it has seen; once a
//! quorum echoed round `r`, every read of round `<= r` is confirmed: the leader was still leader
//! after those reads arrived (thesis section 6.4).

use crate::raft::message::{Index, NodeId};
use std::collections::VecDeque;

/// Rounds whose send time is remembered; a quorum acknowledgement of an older round does not
/// extend the lease (at one round per heartbeat this covers many election timeouts).
pub const MAX_ROUND_HISTORY: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRead {
    pub request_id: u64,
    /// The node that asked (the leader itself or a follower that forwarded the request).
    pub from: NodeId,
    /// The commit index when the read arrived: the read is served once this is applied.
    pub index: Index,
    pub round: u64,
}

/// Invariant: `pending` is ordered by `round`; every round in `pending` is `<= sent_round + 1`;
/// `pending.len() + waiting_for_commit.len() <= max_pending`.
#[derive(Debug)]
pub struct ReadOnly {
    pending: VecDeque<PendingRead>,
    /// Reads that arrived before the leader committed an entry of its term (it cannot know
    /// the commit index yet): (from, request_id).
    pub waiting_for_commit: Vec<(NodeId, u64)>,
    /// The last round broadcast.
    pub sent_round: u64,
    /// The highest round each peer has echoed.
    acked_round: Vec<(NodeId, u64)>,
    /// (round, tick it was sent at) for the last `MAX_ROUND_HISTORY` rounds, ascending: the
    /// lease of a leader runs from the send time of the latest round a quorum acknowledged.
    sent_ticks: VecDeque<(u64, u64)>,
    max_pending: usize,
}

impl ReadOnly {
    pub fn new(max_pending: usize) -> ReadOnly {
        ReadOnly {
            pending: VecDeque::new(),
            waiting_for_commit: Vec::new(),
            sent_round: 0,
            acked_round: Vec::new(),
            sent_ticks: VecDeque::new(),
            max_pending,
        }
    }

    pub fn is_full(&self) -> bool {
        self.pending.len() + self.waiting_for_commit.len() >= self.max_pending
    }

    /// Queues a read at `index` for the next round. The caller checked `is_full`.
    pub fn add(&mut self, from: NodeId, request_id: u64, index: Index) {
        debug_assert!(!self.is_full());
        self.pending.push_back(PendingRead { request_id, from, index, round: self.sent_round + 1 });
    }

    /// True when reads wait for a round not broadcast yet.
    pub fn needs_round(&self) -> bool {
        self.pending.back().is_some_and(|r| r.round > self.sent_round)
    }

    /// Opens the next round, sent at `now_ticks`; returns its number for the heartbeat context.
    pub fn start_round(&mut self, now_ticks: u64) -> u64 {
        self.sent_round += 1;
        if self.sent_ticks.len() == MAX_ROUND_HISTORY {
            self.sent_ticks.pop_front();
        }
        self.sent_ticks.push_back((self.sent_round, now_ticks));
        self.sent_round
    }

    /// The tick at which `round` was sent, if still remembered.
    pub fn round_sent_tick(&self, round: u64) -> Option<u64> {
        let (first, _) = *self.sent_ticks.front()?;
        let (r, t) = *self.sent_ticks.get(round.checked_sub(first)? as usize)?;
        debug_assert_eq!(r, round);
        Some(t)
    }

    /// `from` echoed `round`.
    pub fn ack(&mut self, from: NodeId, round: u64) {
        match self.acked_round.iter_mut().find(|(id, _)| *id == from) {
            Some((_, r)) => *r = (*r).max(round),
            None => self.acked_round.push((from, round)),
        }
    }

    pub fn acked_round(&self, id: NodeId) -> u64 {
        self.acked_round.iter().find(|(i, _)| *i == id).map_or(0, |(_, r)| *r)
    }

    /// Removes and returns every read of a round `<= confirmed_round`.
    pub fn release(&mut self, confirmed_round: u64) -> Vec<PendingRead> {
        let count = self.pending.iter().take_while(|r| r.round <= confirmed_round).count();
        self.pending.drain(..count).collect()
    }

    /// Forgets everything (the node stopped being leader; callers retry after a timeout).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.waiting_for_commit.clear();
        self.sent_round = 0;
        self.acked_round.clear();
        self.sent_ticks.clear();
    }
}
