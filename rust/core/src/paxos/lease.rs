//! Leader leases (opt-in, `PaxosConfig::lease_ticks`): a leader answers reads at once, without
//! a quorum round, while a phase 2 quorum recently acknowledged its heartbeats.
//!
//! **The lease.** With leases every leader heartbeat opens a read round, and the leader keeps
//! the tick each round left at (its clock: ticks since it started). Once a phase 2 quorum (the
//! leader included) acknowledged round `r` at ballot `b`, the lease runs until `sent(r) +
//! lease_ticks`; a read in it gets the highest slot the leader assigned as its index, as a
//! quorum round would give it.
//!
//! **What backs it: acceptors refuse to help a new ballot.** An acceptor that acknowledges a
//! heartbeat of the leader of `b` follows it, and refuses every Prepare of another node for an
//! election timeout after the heartbeat arrived (`acceptor.rs`; `Nack`, promise unchanged),
//! which is at least `election_timeout_ticks - 1` whole tick periods of its clock. A candidate
//! of a ballot above `b` needs a phase 1 quorum, which meets the acknowledging phase 2 quorum
//! (`q1 + q2 > n`) in an acceptor that had not promised above `b` when it acknowledged (it would
//! have refused the heartbeat) and refuses until after the lease ends: so no ballot above `b`
//! chooses anything during the lease, and every value chosen before a read is at or below the
//! leader's last slot. The lease is shorter than the refusal by a drift margin (a tenth of the
//! election timeout, `PaxosConfig::max_lease_ticks`), so it tolerates acceptor clocks up to
//! about 10% faster than the leader's; clocks further apart break it, as for every lease.
//!
//! **The exceptions to the refusal, and why each keeps the lease.**
//! - The leader's own Prepare at a higher ballot: it campaigns only once it no longer leads at
//!   `b` (a lease ends with the leadership).
//! - The acceptor's own campaign: with leases a node that hears from a live leader does not
//!   campaign except for a transfer (`campaign`), so its own promise never completes a quorum
//!   against a lease it backs.
//! - A transfer: a leader that sends TimeoutNow voids its lease until its ballot ends (the
//!   target campaigns at once, bypassing the refusal); and an acceptor grants a transfer
//!   Prepare only while it still promises the ballot of the leader that asked for it, so a
//!   late (delayed or duplicated) transfer cannot bypass the refusal that backs a newer
//!   leader's lease. A node that asks for leadership itself goes through its leader.
//! - A restart: an acceptor forgets whom it heard from, so a node restarted with leases and a
//!   promise refuses other candidates for its first election timeout as if a leader held it
//!   (`boot`): it may have acknowledged a heartbeat just before it crashed.
//!
//! A leader cut off from its quorum keeps leading until check-quorum steps it down, but its
//! lease ends `lease_ticks` after the last round acknowledged: its reads then take a quorum
//! round, which it cannot complete, so a deposed leader serves no stale read.

use crate::driver::NodeRole;
use crate::paxos::core::Paxos;
use std::collections::VecDeque;

/// Read rounds whose send tick a leader remembers: an acknowledgement of an older round
/// extends nothing (at one round per heartbeat this is many election timeouts).
pub const MAX_LEASE_ROUNDS: usize = 128;

#[derive(Clone, Debug, Default)]
pub struct Lease {
    /// Leader: (read round, tick it was sent at) of the latest rounds, ascending; at most
    /// `MAX_LEASE_ROUNDS`.
    sent_ticks: VecDeque<(u64, u64)>,
    /// Leader: it sent TimeoutNow at its ballot, so its lease is void until the ballot ends.
    pub void: bool,
    /// Acceptor: restarted with leases and a promise: for its first election timeout (ticks
    /// since the start) it refuses other candidates as if a leader held it.
    pub boot: bool,
}

impl Lease {
    /// Forgets the leader's part (leadership changed); `boot` is the acceptor's.
    pub fn reset_leader(&mut self) {
        self.sent_ticks.clear();
        self.void = false;
    }

    pub fn record_round(&mut self, round: u64, now_ticks: u64) {
        if self.sent_ticks.len() == MAX_LEASE_ROUNDS {
            self.sent_ticks.pop_front();
        }
        debug_assert!(self.sent_ticks.back().is_none_or(|&(r, _)| r < round), "rounds ascend");
        self.sent_ticks.push_back((round, now_ticks));
    }

    fn sent_tick(&self, round: u64) -> Option<u64> {
        let (first, _) = *self.sent_ticks.front()?;
        let (r, tick) = *self.sent_ticks.get(usize::try_from(round.checked_sub(first)?).ok()?)?;
        debug_assert_eq!(r, round, "rounds are recorded without gaps");
        Some(tick)
    }
}

impl Paxos {
    /// Whether this leader may answer a read now without a round (see the module docs).
    pub fn lease_valid(&self) -> bool {
        if !self.cfg.lease_reads() || self.role != NodeRole::Leader || self.lease.void {
            return false;
        }
        let confirmed = self.confirmed_read_round();
        let Some(sent) = self.lease.sent_tick(confirmed) else { return false };
        self.election.now_ticks() < sent + u64::from(self.cfg.lease_ticks)
    }

    /// With leases, a node that hears from a live leader (or that restarted less than an
    /// election timeout ago) campaigns only for a transfer: its own promise must not help a
    /// new ballot against a lease it backs.
    pub fn may_campaign(&self, transfer: bool) -> bool {
        !self.cfg.lease_reads() || transfer || self.role == NodeRole::Leader || !self.leader_is_fresh()
    }

    /// Whether this acceptor may still back a lease granted before it restarted.
    pub fn in_boot_lease(&self) -> bool {
        self.lease.boot && self.election.now_ticks() < u64::from(self.cfg.election_timeout_ticks)
    }
}
