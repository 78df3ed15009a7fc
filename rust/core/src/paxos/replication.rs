//! Phase 2 at the leader: proposals get slots, Accepts are pipelined to each follower within
//! a bounded window, and a slot is chosen once a phase 2 quorum accepted every slot up to it
//! at the leader's ballot.
//!
//! **Back-pressure.** The leader refuses proposals once its *backlog* would pass
//! `max_uncommitted_bytes`: the bytes of its slots that are not chosen, or chosen but not yet
//! held by a majority of the nodes. With majority quorums the second part is empty (a chosen
//! slot is on a phase 2 quorum, a majority). With a smaller phase 2 quorum (Flexible Paxos) a
//! slot is chosen before a majority holds it, and without the second part the leader would run
//! ahead of its followers as fast as clients propose: they would fall behind without bound
//! (one window per round trip cannot catch up with a faster client), and the next phase 1,
//! which pages the most advanced log, would grow with the lag. So a small phase 2 quorum
//! shortens the commit latency, not the replication a majority keeps up with (as Raft's).

use crate::driver::NodeRole;
use crate::error::{DropReason, RaftError, Result};
use crate::paxos::ballot::Ballot;
use crate::paxos::core::Paxos;
use crate::paxos::message::{Body, Slot};
use crate::raft::inflights::Inflights;
use crate::raft::message::{Entry, EntryKind, NodeId};
use bytes::Bytes;

/// The leader's view of one follower.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The next slot to send. Invariant: `matched < next`.
    pub next: Slot,
    /// Every slot up to here holds the leader's value at its ballot there, durably (from
    /// Accepted and HeartbeatAck); it counts towards choosing them.
    pub matched: Slot,
    /// After a rejection: one Accept at a time until the follower answers.
    pub probing: bool,
    /// Accepts sent and not yet answered, bounded by `max_inflight_msgs` and
    /// `max_inflight_bytes`.
    pub inflight: Inflights,
    /// A snapshot at this slot is on its way; nothing else is sent until it is acknowledged
    /// (or the retransmit timer gives up on it).
    pub snapshot_sent: Option<Slot>,
    /// `matched` at the last retransmit check.
    pub matched_at_check: Slot,
    /// The follower answered (Accepted or HeartbeatAck) since the last retransmit check.
    pub answered_since_check: bool,
    /// Consecutive checks at which the follower answered, had slots outstanding and made no
    /// progress; at `STALLED_CHECKS` they count as lost.
    pub stalled_checks: u32,
    /// The highest chosen index sent to this follower that it can learn: it learns no further
    /// than the slots it holds at this ballot (`matched` for a heartbeat, the last slot of an
    /// Accept once it accepts it). It may not have arrived: heartbeats repair that.
    pub sent_chosen: Slot,
    /// The highest slot this follower waits to see chosen: the last slot of a proposal it
    /// forwarded, or the index of a read it was answered. Its callers wait for its own apply,
    /// so a chosen index at or below this slot goes to it at once (`send_chosen_if_wanted`);
    /// any other travels with the next Accept or heartbeat.
    pub chosen_wanted: Slot,
}

/// Heartbeat intervals a live follower (it answers heartbeats) may go without progress on
/// outstanding slots before they are sent again: two, so that an Accept still on the wire
/// when a check runs is not sent twice.
const STALLED_CHECKS: u32 = 2;

impl Paxos {
    fn new_progress(&self, next: Slot, probing: bool) -> Progress {
        Progress {
            next,
            matched: 0,
            probing,
            inflight: Inflights::new(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes),
            snapshot_sent: None,
            matched_at_check: 0,
            answered_since_check: false,
            stalled_checks: 0,
            sent_chosen: 0,
            chosen_wanted: 0,
        }
    }

    /// Every follower starts at the first slot the leader proposes again.
    pub(super) fn init_progress(&mut self, next: Slot) {
        self.progress = self.peers.iter().map(|&id| (id, self.new_progress(next, false))).collect();
        self.self_matched = 0;
    }

    /// The peers changed (a membership change chosen): a new one is probed from the end of the
    /// log (it answers with its position and the leader backs up, to the snapshot if need be),
    /// one no longer a peer is dropped.
    pub(super) fn sync_progress(&mut self) {
        self.progress.retain(|(id, _)| self.peers.contains(id));
        let next = self.log.last_slot() + 1;
        for i in 0..self.peers.len() {
            let id = self.peers[i];
            if let Err(position) = self.progress.binary_search_by_key(&id, |(peer, _)| *peer) {
                let p = self.new_progress(next, true);
                self.progress.insert(position, (id, p));
                self.send_accepts(position);
            }
        }
    }

    fn progress_index(&self, id: NodeId) -> Option<usize> {
        self.progress.iter().position(|(peer, _)| *peer == id)
    }

    /// The leader's proposal path: the next slots (of `kind`), accepted by its own acceptor
    /// (counted once durable), then sent to every follower. The window of `membership.rs`: the
    /// last slot stays within α of the chosen index.
    pub(super) fn propose_as_leader(&mut self, commands: Vec<Bytes>, bytes: usize, kind: EntryKind) -> Result<()> {
        let removed = !self.is_latest_voter(self.id);
        if kind != EntryKind::NoOp
            && removed
            && self.log.last_slot() + commands.len() as u64 >= self.membership.latest_from_slot()
        {
            // Removed: its ballot takes commands only into the slots its configuration still
            // governs (until it pads them, `membership.rs`), then hands over.
            return Err(RaftError::ProposalDropped { reason: DropReason::Transferring });
        }
        let window = self.membership.window_slots();
        if commands.len() as u64 > window {
            return Err(RaftError::ProposalDropped { reason: DropReason::TooLarge });
        }
        if self.log.last_slot() + commands.len() as u64 > self.max_proposable_slot() {
            return Err(RaftError::ProposalDropped { reason: DropReason::UncommittedLimit });
        }
        let budget = self.cfg.max_uncommitted_bytes;
        if self.uncommitted_bytes + self.unreplicated_chosen_bytes(budget) + bytes > budget {
            return Err(RaftError::ProposalDropped { reason: DropReason::UncommittedLimit });
        }
        self.uncommitted_bytes += bytes;
        let (ballot, first_slot) = (self.own_ballot, self.log.last_slot() + 1);
        let entries: Vec<Entry> = commands
            .into_iter()
            .enumerate()
            .map(|(i, data)| Entry { index: first_slot + i as Slot, term: ballot.to_u64(), kind, data })
            .collect();
        let (id, chosen) = (self.id, self.log.chosen());
        self.on_accept(id, ballot, first_slot, chosen, entries);
        self.bcast_accepts();
        Ok(())
    }

    pub(super) fn bcast_accepts(&mut self) {
        for i in 0..self.progress.len() {
            self.send_accepts(i);
        }
    }

    /// Sends follower `i` what its window allows: Accepts from its `next` slot, or the
    /// snapshot when that slot is compacted here.
    fn send_accepts(&mut self, i: usize) {
        let ballot = self.own_ballot;
        loop {
            let (to, p) = &self.progress[i];
            let to = *to;
            let blocked = p.snapshot_sent.is_some() || p.inflight.full() || (p.probing && p.inflight.count() > 0);
            if blocked || p.next > self.log.last_slot() {
                return;
            }
            if p.next < self.log.first_slot() {
                let snapshot = self.latest_snapshot.clone();
                self.progress[i].1.snapshot_sent = Some(snapshot.meta.index);
                self.send(to, ballot, Body::Snapshot { snapshot });
                return;
            }
            let entries =
                self.log.slice(p.next, self.log.last_slot(), self.cfg.max_entries_per_msg, self.cfg.max_bytes_per_msg);
            let Some(last) = entries.last().map(|e| e.index) else { return };
            let bytes = entries.iter().map(Entry::size_bytes).sum();
            let first_slot = p.next;
            let chosen = self.log.chosen();
            let p = &mut self.progress[i].1;
            p.inflight.add(last, bytes);
            p.next = last + 1;
            // Once it accepts these slots it learns the chosen index up to the last of them.
            p.sent_chosen = p.sent_chosen.max(chosen.min(last));
            self.send(to, ballot, Body::Accept { first_slot, chosen, entries });
        }
    }

    /// Phase 2b at the leader (its own, through `advance`, included).
    pub(super) fn on_accepted(&mut self, from: NodeId, ballot: Ballot, accepted_to: Slot) {
        if self.role != NodeRole::Leader || ballot != self.own_ballot {
            return;
        }
        if from == self.id {
            self.self_matched = self.self_matched.max(accepted_to);
        } else if let Some(i) = self.progress_index(from) {
            let p = &mut self.progress[i].1;
            p.matched = p.matched.max(accepted_to);
            p.next = p.next.max(p.matched + 1);
            p.inflight.free_le(accepted_to);
            p.probing = false;
            p.answered_since_check = true;
            if p.snapshot_sent.is_some_and(|index| p.matched >= index) {
                p.snapshot_sent = None;
            }
            self.send_accepts(i);
        }
        self.maybe_choose();
        for i in 0..self.progress.len() {
            self.send_chosen_if_wanted(i);
        }
    }

    /// `to` waits to see `slot` chosen before it answers a caller.
    pub(super) fn want_chosen(&mut self, to: NodeId, slot: Slot) {
        let Some(i) = self.progress_index(to) else { return };
        let p = &mut self.progress[i].1;
        p.chosen_wanted = p.chosen_wanted.max(slot);
        self.send_chosen_if_wanted(i);
    }

    /// Sends follower `i` the chosen index now, in a heartbeat of its own, if it waits for
    /// chosen slots that it holds at this ballot (it learns no further than that) and was not
    /// sent yet; as Raft's leader sends the commit index to a follower that waits for it.
    fn send_chosen_if_wanted(&mut self, i: usize) {
        let chosen = self.log.chosen();
        let (to, p) = &self.progress[i];
        if p.sent_chosen >= p.chosen_wanted.min(chosen).min(p.matched) {
            return;
        }
        let to = *to;
        let p = &mut self.progress[i].1;
        p.sent_chosen = chosen.min(p.matched);
        let (ballot, read_round) = (self.own_ballot, self.reads.round());
        self.send(to, ballot, Body::Heartbeat { leader: true, chosen, read_round });
    }

    /// The transport could not deliver to `id`: stop pipelining Accepts into a connection
    /// that lost them, and probe from its matched slot, one Accept at a time until it answers
    /// (as Raft's leader moves such a follower back to probing).
    pub fn report_unreachable(&mut self, id: NodeId) {
        if self.role != NodeRole::Leader {
            return;
        }
        let Some(i) = self.progress_index(id) else { return };
        let p = &mut self.progress[i].1;
        if p.probing || p.snapshot_sent.is_some() {
            return;
        }
        p.probing = true;
        p.next = p.matched + 1;
        p.inflight.reset();
    }

    /// The follower's run at this ballot ends at `position`, before the Accept it got: back up
    /// and probe from there.
    pub(super) fn on_accept_rejected(&mut self, from: NodeId, ballot: Ballot, position: Slot) {
        if self.role != NodeRole::Leader || ballot != self.own_ballot {
            return;
        }
        let Some(i) = self.progress_index(from) else { return };
        let p = &mut self.progress[i].1;
        if position < p.matched || position + 1 >= p.next {
            // Stale (reordered after a later answer), or nothing to back up over.
            return;
        }
        p.next = position + 1;
        p.inflight.reset();
        p.probing = true;
        p.snapshot_sent = None;
        self.send_accepts(i);
    }

    /// A follower acknowledged a heartbeat at this ballot: its position counts like an
    /// Accepted, and its read round is confirmed.
    pub(super) fn on_heartbeat_ack(&mut self, from: NodeId, ballot: Ballot, read_round: u64, accepted_to: Slot) {
        if self.role != NodeRole::Leader || ballot != self.own_ballot {
            return;
        }
        self.on_accepted(from, ballot, accepted_to);
        self.ack_read_round(from, read_round);
    }

    /// Marks chosen the highest slot that a phase 2 quorum (this node's durable acceptance
    /// included) accepted, with every slot before it, at this ballot.
    /// Membership changes (`membership.rs`): slot `t` counts the voters of `K(t)` only, so the
    /// chosen index moves one configuration at a time, and a change chosen on the way may
    /// start the next.
    fn maybe_choose(&mut self) {
        let before = self.log.chosen();
        loop {
            let next = self.log.chosen() + 1;
            if next > self.log.last_slot() {
                break;
            }
            let conf = self.membership.conf_at(next);
            let matched_of = |id: &NodeId| match id {
                id if *id == self.id => self.self_matched,
                id => self.progress.iter().find(|(peer, _)| peer == id).map_or(0, |(_, p)| p.matched),
            };
            let mut matched: Vec<Slot> = conf.voters.iter().map(matched_of).collect();
            matched.sort_unstable_by(|a, b| b.cmp(a));
            let Some(&quorum_matched) = matched.get(self.q2_of(conf) - 1) else { break };
            let mut to = quorum_matched.min(self.membership.last_slot_of(next));
            if to < next {
                break;
            }
            // A change among these slots may start a configuration α after it: choose up to
            // it, read it, and go on from there.
            if let Some(change) =
                (next..=to).find(|&s| self.log.get(s).is_some_and(|e| e.kind == EntryKind::ConfChange))
            {
                to = change;
            }
            self.log.mark_chosen(to);
            self.membership.learn_chosen(&self.log);
        }
        if self.log.chosen() > before {
            let freed: usize =
                (before + 1..=self.log.chosen()).filter_map(|s| self.log.get(s)).map(Entry::size_bytes).sum();
            self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(freed);
        }
    }

    /// The highest slot that a majority of the nodes (this one's durable acceptance included)
    /// accepted at this ballot, or the chosen index this leadership started from if higher.
    fn majority_matched(&self) -> Slot {
        let voters = &self.membership.latest().voters;
        let mut matched: Vec<Slot> =
            self.progress.iter().filter(|(id, _)| voters.contains(id)).map(|(_, p)| p.matched).collect();
        matched.push(self.self_matched);
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let majority = matched.len() / 2 + 1;
        matched[majority - 1].max(self.lead_start_chosen)
    }

    /// Bytes of the chosen slots that a majority does not hold yet (the back-pressure of the
    /// module docs), counted down from the chosen index and stopping once past `cap`: the
    /// cost is bounded by the budget, not by the lag.
    pub(super) fn unreplicated_chosen_bytes(&self, cap: usize) -> usize {
        // Compacted slots are in a snapshot, which a follower that lacks them gets whole.
        let floor = self.majority_matched().max(self.log.snapshot_index());
        let mut bytes = 0;
        let mut slot = self.log.chosen();
        while slot > floor && bytes <= cap {
            bytes += self.log.get(slot).map_or(0, Entry::size_bytes);
            slot -= 1;
        }
        bytes
    }

    /// Sets `uncommitted_bytes` to the bytes of the slots after the chosen index, from the
    /// log: for the paths that move the chosen index other than `maybe_choose` (winning phase
    /// 1 with slots a promiser reported chosen, a snapshot installed while leading).
    pub(super) fn recount_uncommitted_bytes(&mut self) {
        let (chosen, last) = (self.log.chosen(), self.log.last_slot());
        self.uncommitted_bytes = (chosen + 1..=last).filter_map(|s| self.log.get(s)).map(Entry::size_bytes).sum();
    }

    /// Each heartbeat interval: a follower that answers heartbeats (so it is reachable, and
    /// its answers keep `matched` at its real position) but made no progress on outstanding
    /// slots for `STALLED_CHECKS` checks lost them; send again from its matched slot. A
    /// follower that answers nothing gets nothing more than heartbeats.
    pub(super) fn retransmit_stalled(&mut self) {
        for i in 0..self.progress.len() {
            let p = &mut self.progress[i].1;
            let outstanding = p.next > p.matched + 1 || p.snapshot_sent.is_some();
            let stuck = p.answered_since_check && outstanding && p.matched == p.matched_at_check;
            p.stalled_checks = if stuck { p.stalled_checks + 1 } else { 0 };
            p.matched_at_check = p.matched;
            p.answered_since_check = false;
            if p.stalled_checks >= STALLED_CHECKS {
                p.stalled_checks = 0;
                p.next = p.matched + 1;
                p.inflight.reset();
                p.probing = true;
                p.snapshot_sent = None;
                self.send_accepts(i);
            }
        }
    }
}
