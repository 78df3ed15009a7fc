//! Phase 1 at a candidate: the campaign, the promises it gathers, and the values it adopts
//! when it wins.

use crate::driver::NodeRole;
use crate::error::{RaftError, Result};
use crate::paxos::ballot::{Ballot, MAX_ROUND};
use crate::paxos::core::Paxos;
use crate::paxos::message::{Body, PaxosMessage, Slot};
use crate::raft::message::{Entry, EntryKind, NodeId, NO_NODE};
use bytes::Bytes;
use std::collections::BTreeMap;

/// What one acceptor promised so far.
#[derive(Clone, Debug)]
struct Promiser {
    id: NodeId,
    /// Its slots up to here were received (pages of promises).
    covered_to: Slot,
    last_slot: Slot,
    chosen: Slot,
}

impl Promiser {
    fn complete(&self) -> bool {
        self.covered_to >= self.last_slot
    }
}

/// A candidate's phase 1 state.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The first slot the candidate asks about: its chosen index + 1 at the start.
    pub from_slot: Slot,
    promisers: Vec<Promiser>,
    /// A promiser far ahead was asked to campaign in this node's place (once per campaign).
    handed_over: bool,
    /// Per slot in `[from_slot, ..]`, the value accepted at the highest ballot reported so
    /// far (its ballot in `term`). At most `max_phase1_slots` slots.
    adopted: BTreeMap<Slot, Entry>,
}

impl Campaign {
    fn new(from_slot: Slot) -> Campaign {
        Campaign { from_slot, promisers: Vec::new(), handed_over: false, adopted: BTreeMap::new() }
    }

    fn complete_promisers(&self) -> impl Iterator<Item = &Promiser> {
        self.promisers.iter().filter(|p| p.complete())
    }
}

impl Paxos {
    /// Starts phase 1 with the smallest ballot of this node above every ballot seen. The
    /// node's own acceptor promises first; its promise counts once durable (it comes back
    /// through `advance`), and the Prepares leave then too. `transfer`: the leader of that
    /// ballot asked for it (acceptors grant it while they hear from a leader). With leases a
    /// node that hears from a live leader campaigns only for a transfer (`lease.rs`).
    pub fn campaign(&mut self, transfer: Option<Ballot>) {
        // A node that is no voter of the latest configuration it knows leads only to hand over
        // to the new voters (`membership.rs`, `may_lead`).
        if !self.may_campaign(transfer.is_some()) || !self.may_lead() {
            return;
        }
        let seen = self.max_seen.max(self.promised);
        if seen.round >= MAX_ROUND {
            // No ballot above it exists (only a stored promise from a forged message could
            // get here; messages at such rounds are refused).
            return;
        }
        let ballot = Ballot::next_after(seen, self.id);
        let from_slot = self.log.chosen() + 1;
        self.become_candidate(ballot);
        self.campaign = Some(Campaign::new(from_slot));
        let id = self.id;
        self.on_prepare(id, ballot, from_slot, transfer);
        self.broadcast(ballot, |_, _| Body::Prepare { from_slot, transfer });
    }

    /// A promise for this node's campaign (its own included): adopt the reported values, ask
    /// for the next page if the acceptor's log goes on, and lead once a phase 1 quorum of
    /// complete promises is in.
    pub(super) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        chosen: Slot,
        first_slot: Slot,
        last_slot: Slot,
        entries: Vec<Entry>,
    ) {
        if self.role != NodeRole::Candidate || ballot != self.own_ballot {
            return;
        }
        let max_slots = self.cfg.max_phase1_slots as u64;
        let page_slots = self.cfg.max_entries_per_msg as u64;
        let Some(campaign) = self.campaign.as_mut() else { return };
        let far_ahead = from != self.id && chosen >= campaign.from_slot + page_slots;
        if far_ahead && !campaign.handed_over {
            // The promiser holds more than a page of chosen slots this candidate lacks. Paging
            // them costs a round trip per page: far behind, longer than an election timeout,
            // and the other promisers' timers expire and their campaigns duel with this one
            // (with a phase 1 quorum of every node, each of them pages the same log). The
            // promiser campaigns at once in this node's place (its phase 1 pages only what
            // was accepted past its chosen index); this campaign goes on meanwhile, in case
            // the promiser cannot (it campaigns only if connected to a phase 1 quorum).
            campaign.handed_over = true;
            self.send(from, ballot, Body::TimeoutNow);
        }
        let Some(campaign) = self.campaign.as_mut() else { return };
        if first_slot > campaign.from_slot {
            // The acceptor compacted slots this candidate never learned: it cannot adopt
            // them. Give up; the acceptor sent its snapshot to catch up from.
            self.become_follower(NO_NODE);
            return;
        }
        if last_slot >= campaign.from_slot + max_slots {
            // Too far behind to adopt everything in one phase 1: catch up first.
            self.become_follower(NO_NODE);
            return;
        }
        let page_end = entries.last().map(|e| e.index);
        for entry in entries.into_iter().filter(|e| e.index >= campaign.from_slot) {
            let higher = campaign.adopted.get(&entry.index).is_none_or(|held| held.term < entry.term);
            if higher {
                campaign.adopted.insert(entry.index, entry);
            }
        }
        let from_slot = campaign.from_slot;
        let promiser = match campaign.promisers.iter_mut().find(|p| p.id == from) {
            Some(p) => p,
            None => {
                campaign.promisers.push(Promiser { id: from, covered_to: from_slot - 1, last_slot, chosen });
                campaign.promisers.last_mut().expect("just pushed")
            }
        };
        let covered_before = promiser.covered_to;
        promiser.covered_to = promiser.covered_to.max(page_end.unwrap_or(last_slot)).max(from_slot - 1);
        if from != self.id && promiser.covered_to > covered_before {
            // Phase 1 is making progress: a log longer than an election timeout's worth of
            // pages must not restart the campaign (at a higher ballot, from scratch) forever.
            self.election.reset_timers();
        }
        promiser.last_slot = last_slot;
        promiser.chosen = chosen;
        let next_page = (!promiser.complete()).then_some(promiser.covered_to + 1);
        if let Some(from_slot) = next_page {
            self.send(from, ballot, Body::Prepare { from_slot, transfer: None });
        }
        // Its own promise must be among them: the candidate's own log then bounds what it
        // adopts (no slot of its own is left past the adopted ones at an older ballot), and
        // it is durable before this node acts as leader. Peers' promises can arrive first
        // (its Prepares leave once its promise is written, before `advance` steps it).
        let id = self.id;
        let own = self.campaign.as_ref().is_some_and(|c| c.complete_promisers().any(|p| p.id == id));
        if own && self.promises_cover_every_conf() {
            self.become_leader();
        }
    }

    /// Whether the complete promises hold a phase 1 quorum of every configuration that governs
    /// a slot from the campaign's first slot to α past the highest slot reported, as the values
    /// it adopts decide them (`membership.rs`). Voters of such a configuration that are no
    /// peers of this node yet (added by a change it adopts) are asked for their promise.
    fn promises_cover_every_conf(&mut self) -> bool {
        let Some(campaign) = self.campaign.as_ref() else { return false };
        let promisers: Vec<NodeId> = campaign.complete_promisers().map(|p| p.id).collect();
        let from_slot = campaign.from_slot;
        if !self.promises_cover(std::slice::from_ref(self.membership.conf_at(from_slot)), &promisers) {
            return false;
        }
        let confs = self.membership.adopted_confs(from_slot, campaign.adopted.values());
        if self.promises_cover(&confs, &promisers) {
            return true;
        }
        let asked: Vec<NodeId> = campaign.promisers.iter().map(|p| p.id).collect();
        let mut missing: Vec<NodeId> = confs
            .iter()
            .flat_map(|conf| conf.voters.iter().copied())
            .filter(|id| !asked.contains(id) && !self.peers.contains(id) && *id != self.id)
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let ballot = self.own_ballot;
        for to in missing {
            self.send(to, ballot, Body::Prepare { from_slot, transfer: None });
        }
        false
    }

    /// Refuses a promise for this campaign that no correct acceptor sends, before it changes
    /// anything: one that claims slots past those it already covered without reporting the
    /// next of them (an acceptor reports every slot it holds from the page asked for on, at
    /// least one per page), or whose entries start past the page asked for. Taken, a forged
    /// `last_slot` would make the candidate give up, or adopt up to `max_phase1_slots` no-ops.
    /// A promise that shows compacted slots (`first_slot` past the campaign's) is the
    /// catch-up path, left to `on_promise`.
    pub(super) fn check_promise_fits(
        &self,
        m: &PaxosMessage,
        first_slot: Slot,
        last_slot: Slot,
        entries: &[Entry],
    ) -> Result<()> {
        let Some(campaign) = self.campaign.as_ref() else { return Ok(()) };
        if self.role != NodeRole::Candidate || m.ballot != self.own_ballot || first_slot > campaign.from_slot {
            return Ok(());
        }
        // Pages are asked in order, from the first slot not covered: a correct page (or a
        // duplicate of an earlier one) starts at most one past what is covered.
        let covered =
            campaign.promisers.iter().find(|p| p.id == m.from).map_or(campaign.from_slot - 1, |p| p.covered_to);
        let fits = match entries.first() {
            None => last_slot <= covered,
            Some(first) => first.index <= covered + 1,
        };
        if fits {
            return Ok(());
        }
        let problem = format!(
            "promise of slots up to {last_slot} with entries from {:?}, slots up to {covered} covered",
            entries.first().map(|e| e.index)
        );
        Err(RaftError::InvalidMessage { from: m.from, problem })
    }

    /// Each heartbeat interval of a campaign that holds a phase 1 quorum of promises (some
    /// still being paged): a promiser that has sent its whole log gets a Prepare for the slots
    /// past it (answered with an empty page), which tells it that the campaign goes on, so it
    /// does not campaign against it while other promisers' long logs are still being paged
    /// (`acceptor.rs`). Promisers still paging hear the page requests. A campaign short of a
    /// quorum may never get one (its node cut off from the rest): it holds nobody back.
    pub(super) fn keep_campaign_alive(&mut self) {
        let (id, ballot) = (self.id, self.own_ballot);
        let Some(campaign) = self.campaign.as_ref() else { return };
        let base = self.membership.conf_at(campaign.from_slot);
        let q1 = self.cfg.phase1_quorum.unwrap_or_else(|| crate::paxos::membership::majority(base));
        if campaign.promisers.len() < q1 {
            return;
        }
        let waiting: Vec<(NodeId, Slot)> =
            campaign.complete_promisers().filter(|p| p.id != id).map(|p| (p.id, p.covered_to + 1)).collect();
        for (to, from_slot) in waiting {
            self.send(to, ballot, Body::Prepare { from_slot, transfer: None });
        }
    }

    /// A refusal: remember the ballot to outbid. A leader refused at its own ballot (an
    /// acceptor promised someone higher) steps down; a candidate waits for its timeout.
    pub(super) fn on_nack(&mut self, ballot: Ballot, promised: Ballot) {
        self.max_seen = self.max_seen.max(promised);
        if self.role == NodeRole::Leader && ballot == self.own_ballot && promised > self.own_ballot {
            self.become_follower(NO_NODE);
        }
    }

    /// Phase 1 won: for every slot from `from_slot` to the highest slot a promiser holds, the
    /// value accepted at the highest ballot (a no-op for a slot nobody reported), proposed
    /// again at this ballot. Slots up to the highest chosen index reported are chosen.
    fn become_leader(&mut self) {
        let Some(campaign) = self.campaign.take() else { return };
        let forwarded = std::mem::take(&mut self.forwarded);
        let ballot = self.own_ballot;
        // Invariant: at least the candidate's own last slot (its promise is among these).
        let last_slot = campaign.complete_promisers().map(|p| p.last_slot).max().unwrap_or(0);
        debug_assert!(last_slot >= self.log.last_slot(), "an own slot past the adopted ones");
        let chosen = campaign.complete_promisers().map(|p| p.chosen).max().unwrap_or(0).min(last_slot);
        let mut adopted = campaign.adopted;
        let entries: Vec<Entry> = (campaign.from_slot..=last_slot)
            .map(|slot| {
                let (kind, data) = adopted.remove(&slot).map_or((EntryKind::NoOp, Bytes::new()), |e| (e.kind, e.data));
                Entry { index: slot, term: ballot.to_u64(), kind, data }
            })
            .collect();
        self.become_leader_state();
        self.init_progress(campaign.from_slot);
        let id = self.id;
        self.on_accept(id, ballot, campaign.from_slot, chosen, entries);
        // Counted after the accept: it marks the slots up to the reported chosen index chosen
        // at once, and those must not count against the budget (nothing would release them).
        self.recount_uncommitted_bytes();
        // Chosen before this leadership (by this node or as its promisers reported): the
        // back-pressure counts the slots after them.
        self.lead_start_chosen = self.log.chosen();
        self.lead_covered_to = last_slot;
        self.bcast_heartbeat();
        self.bcast_accepts();
        for (from, commands) in forwarded {
            self.propose_forwarded(from, commands);
        }
    }
}
