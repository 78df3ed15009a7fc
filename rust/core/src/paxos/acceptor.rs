//! The acceptor's rules: promises (phase 1b), acceptances (phase 2b), what it learns is
//! chosen, and snapshots it installs.
//!
//! Every reply that asserts state (Promise, Accepted, HeartbeatAck) waits until that state is
//! durable; refusals (Nack, AcceptRejected) promise nothing and leave at once.

use crate::driver::NodeRole;
use crate::paxos::ballot::Ballot;
use crate::paxos::core::Paxos;
use crate::paxos::message::{Body, Slot};
use crate::raft::message::{Entry, NodeId, Snapshot};

impl Paxos {
    /// Phase 1b. Promises `ballot` if it is above the promise (or equal: the same candidate
    /// paging through this log) and no live leader holds this node (stickiness, unless the
    /// Prepare is a transfer or comes from that leader; with leases this refusal backs the
    /// leader's lease, see `lease.rs`). Answers with the accepted slots from `from_slot` on,
    /// cut at the message limits.
    pub(super) fn on_prepare(&mut self, from: NodeId, ballot: Ballot, from_slot: Slot, transfer: Option<Ballot>) {
        if ballot < self.promised {
            let promised = self.promised;
            self.send(from, ballot, Body::Nack { promised });
            return;
        }
        if ballot > self.promised {
            // With leases only a transfer asked by the leader of the ballot this acceptor still
            // promises: that leader voided its lease, and a late transfer from an older one
            // must not bypass the refusal that backs a newer leader's lease.
            let transfer = transfer.is_some_and(|asked_by| !self.cfg.lease_reads() || asked_by == self.promised);
            // The candidate this node promised is not refused when it campaigns again: the
            // leader it would protect was given up with that promise.
            let promised_candidate = from == self.promised.node;
            let sticky =
                from != self.id && from != self.leader && !promised_candidate && !transfer && self.leader_is_fresh();
            if sticky {
                // Refused without raising the promise: the candidate learns nothing to outbid.
                let promised = self.promised;
                self.send(from, ballot, Body::Nack { promised });
                return;
            }
            self.raise_promise(ballot);
            // Give the candidate an election timeout before campaigning against it.
            self.election.reset_timers();
        } else if from != self.id {
            // The candidate promised is still campaigning (a page request or a keep-alive,
            // `candidate.rs`): a phase 1 that pages long logs outlasts an election timeout,
            // and a promiser that campaigned then would only start a duel.
            self.election.reset_timers();
        }
        let (first_slot, last_slot, chosen) = (self.log.first_slot(), self.log.last_slot(), self.log.chosen());
        // The message limits bound frames on the wire. A candidate's promise to itself never
        // travels (it is stepped on `advance`), and cut into pages it would cost one Ready
        // round trip per page: far behind with a small `max_entries_per_msg`, phase 1 then
        // outlasts the election timeout (and the driver's Ready loop) without progress. Its
        // own log is in its phase 1 bound (`max_phase1_slots`), so one page holds it all.
        let (max_entries, max_bytes) = if from == self.id {
            (usize::MAX, usize::MAX)
        } else {
            (self.cfg.max_entries_per_msg, self.cfg.max_bytes_per_msg)
        };
        let entries = self.log.slice(from_slot, last_slot, max_entries, max_bytes);
        self.send(from, ballot, Body::Promise { chosen, first_slot, last_slot, entries });
        if first_slot > from_slot && from != self.id && !self.latest_snapshot.is_empty() {
            // The candidate lacks slots this node compacted: it gives up this campaign and
            // catches up from this snapshot of chosen slots.
            let snapshot = self.latest_snapshot.clone();
            self.send(from, ballot, Body::Snapshot { snapshot });
        }
    }

    /// Phase 2b. Accepts `entries` of the leader of `ballot` if the ballot is at least the
    /// promise and the Accept starts within the run at that ballot (at most one past its end);
    /// else the leader backs up to the run's end.
    pub(super) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: Slot,
        chosen: Slot,
        entries: Vec<Entry>,
    ) {
        if ballot < self.promised {
            let promised = self.promised;
            self.send(from, ballot, Body::Nack { promised });
            return;
        }
        self.follow(from, ballot);
        let position = self.log.position_at(ballot);
        if first_slot > position + 1 {
            self.send(from, ballot, Body::AcceptRejected { position });
            return;
        }
        // Slots up to the position already hold this leader's values at this ballot (one
        // value per slot and ballot): only the rest is written.
        let new: Vec<Entry> = entries.into_iter().filter(|e| e.index > position).collect();
        self.log.accept(new);
        self.learn_chosen(ballot, chosen);
        let accepted_to = self.log.position_at(ballot);
        self.send(from, ballot, Body::Accepted { accepted_to });
    }

    /// A leader's heartbeat at `ballot`: follow it, learn its chosen index, and acknowledge
    /// (the acknowledgement confirms its read round).
    pub(super) fn on_leader_heartbeat(&mut self, from: NodeId, ballot: Ballot, chosen: Slot, read_round: u64) {
        if ballot < self.promised {
            let promised = self.promised;
            self.send(from, ballot, Body::Nack { promised });
            return;
        }
        self.follow(from, ballot);
        self.learn_chosen(ballot, chosen);
        let accepted_to = self.log.position_at(ballot);
        self.send(from, ballot, Body::HeartbeatAck { read_round, accepted_to });
    }

    /// Marks chosen what the leader of `ballot` says is chosen, but only slots this acceptor
    /// holds at that ballot (the leader's values): `min(leader_chosen, position)`.
    fn learn_chosen(&mut self, ballot: Ballot, leader_chosen: Slot) {
        let position = self.log.position_at(ballot);
        self.log.mark_chosen(leader_chosen.min(position));
    }

    /// InstallSnapshot: from the leader of `ballot`, or from a promiser of this node's own
    /// campaign at `ballot` (catch-up in phase 1). A snapshot holds chosen slots only, so it
    /// is installed whoever sent it, if it is ahead of the chosen index.
    pub(super) fn on_snapshot(&mut self, from: NodeId, ballot: Ballot, snapshot: Snapshot) {
        if ballot < self.promised {
            let promised = self.promised;
            self.send(from, ballot, Body::Nack { promised });
            return;
        }
        let from_leader = ballot.node == from;
        if from_leader {
            self.follow(from, ballot);
        }
        if snapshot.meta.index > self.log.chosen() {
            self.log.install_snapshot(&snapshot.meta);
            let voters = self.cfg.voters.clone();
            self.membership.reset_to_snapshot(&snapshot.meta, &voters);
            self.latest_snapshot = snapshot.clone();
            self.pending_snapshot = Some(snapshot);
            if self.role == NodeRole::Candidate {
                // The campaign's phase 1 started below this snapshot: start over later.
                self.become_follower(crate::raft::message::NO_NODE);
            } else if self.role == NodeRole::Leader {
                // A promiser's snapshot that arrived after phase 1 was won: the slots it
                // covers are chosen now and no longer count against the proposal budget.
                self.recount_uncommitted_bytes();
            }
        }
        if from_leader {
            let accepted_to = self.log.position_at(ballot);
            self.send(from, ballot, Body::Accepted { accepted_to });
        }
    }
}
