//! Membership changes in Multi-Paxos with one continuous log: the configuration is a chosen
//! command that takes effect a window of α slots later (Lamport's α, as in *Paxos Made
//! Moderately Complex*), with no new instance and no fresh storage.
//!
//! **The rule.** A [`ConfChange`] (the type and codec Raft uses, so the driver, runtime and CLI
//! are protocol-neutral) is proposed to the leader and chosen in some slot `s` like any command
//! (`EntryKind::ConfChange`). The configuration that governs slot `t`, `K(t)`, is the initial one
//! moved on by every change chosen at a slot `<= t - α`, in slot order. `K(t)`'s voters are the
//! acceptors whose acceptances choose slot `t` (a majority of them) and whose promises a leader
//! needs before proposing at `t`; its learners get the log and count for nothing. A change
//! takes effect whole (no joint configuration: the window already keeps old and new apart);
//! one that does not apply to the configuration it follows is skipped by every node alike.
//!
//! **The window (invariant).** A leader proposes slot `t` only once every slot `<= t - α` is
//! chosen (`last_slot <= chosen + α`, `PaxosConfig::conf_window_slots`): it then knows `K(t)`
//! from chosen values alone, so no slot is ever proposed under a configuration that a later
//! leader could see differently. A change waits until the previous one is in force (at most one
//! change per α slots), and once a change is chosen the leader pads its window with no-ops, so a
//! change takes effect without waiting for traffic.
//!
//! **Phase 1 (the choice).** One promise per acceptor covers every slot, but only the voters of
//! `K(t)` count for slot `t`. A candidate whose chosen index is `c` wins once the complete
//! promises it holds (its own among them) include a phase 1 majority of *every* configuration
//! that governs a slot in `[c + 1, L + α]`, where `L` is the highest slot reported and the
//! configurations are computed from the values it adopts (`adopted_confs`). By induction over
//! slots this is sound: `K(t)` depends on slots `<= t - α`; a value chosen there was chosen by
//! a majority of a configuration the candidate already holds a majority of, so it is the value
//! the candidate adopts, and its `K(t)` is the true one. The leader of that ballot proposes only
//! in slots those configurations govern: when a change it proposed itself is chosen (one its
//! phase 1 did not see) it runs phase 1 again at a higher ballot, which covers the new
//! configuration, rather than extending the old ballot across the boundary. That costs one
//! round trip per change and keeps phase 1 to the configurations it saw.
//!
//! **Leaving.** A leader that is no voter of the latest configuration (its own removal chosen)
//! takes commands only into the slots the old configuration governs, pads them once its
//! followers know of the removal (`leave`), brings the new voters up to date, and once its
//! removal is in force hands leadership to the most caught-up of them and steps down;
//! followers forward it nothing more once they know it removed. A node that is no voter of the
//! latest configuration it knows campaigns only if it voted in the one that configuration
//! replaced, after twice the election timeout, and only to hand over (`may_lead`); others never
//! do.
//!
//! **Snapshots.** A snapshot at `i` records `K(i + 1)`; compaction is refused while a chosen
//! change at `s <= i` is not yet in force at `i + 1` (`s + α > i + 1`), so one configuration
//! describes every slot after any snapshot. A snapshot without a configuration (written before
//! membership changes existed) stands for the configured voters.

use crate::codec::{decode_conf_change, encode_conf_change};
use crate::driver::NodeRole;
use crate::error::{DropReason, RaftError, Result};
use crate::paxos::core::Paxos;
use crate::paxos::log::SlotLog;
use crate::paxos::message::{Body, Slot, MAX_SLOT};
use crate::raft::conf_change::{apply_conf_change, ConfChange};
use crate::raft::message::{ConfState, Entry, EntryKind, NodeId, SnapshotMeta, ENTRY_OVERHEAD_BYTES, NO_NODE};

/// The configuration `conf` moves to under `change` in Multi-Paxos: its single changes at once,
/// with Raft's checks (`apply_conf_change`), and never joint.
pub fn next_conf(conf: &ConfState, change: &ConfChange) -> std::result::Result<ConfState, String> {
    if change.is_leave_joint() {
        return Err("Multi-Paxos has no joint configuration to leave: a change takes effect whole".into());
    }
    let next = apply_conf_change(conf, change)?;
    let conf = ConfState { voters: next.voters, learners: next.learners, ..ConfState::default() };
    if conf.voters.is_empty() {
        return Err("a configuration needs at least one voter".into());
    }
    Ok(conf)
}

/// A majority of `conf`'s voters.
pub fn majority(conf: &ConfState) -> usize {
    conf.voters.len() / 2 + 1
}

/// One configuration and the slots it governs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Era {
    /// The first slot it governs: its change's slot + α (0 for the base configuration).
    from_slot: Slot,
    /// The slot of the change that made it (0: the base, from the configured voters or a
    /// snapshot).
    change_slot: Slot,
    conf: ConfState,
}

/// The configurations of the chosen log: `K(t)` for every slot after the chosen index that the
/// chosen values decide.
#[derive(Clone, Debug)]
pub struct Membership {
    window_slots: Slot,
    /// Ascending by `from_slot`, never empty; the first governs the log's first slot.
    eras: Vec<Era>,
    /// Chosen slots up to here were read for changes.
    scanned_to: Slot,
    /// A configuration was added or replaced since `take_changed` last said so.
    changed: bool,
    /// The configuration the latest one replaced (`None` after a snapshot or at the base).
    previous: Option<ConfState>,
}

impl Membership {
    /// The configuration of a node recovered from `snapshot` (its configuration, or the
    /// configured `voters` for a snapshot without one, or no snapshot).
    pub fn new(voters: &[NodeId], snapshot: &SnapshotMeta, window_slots: Slot) -> Membership {
        let mut membership =
            Membership { window_slots, eras: Vec::new(), scanned_to: 0, changed: true, previous: None };
        membership.reset_to_snapshot(snapshot, voters);
        membership
    }

    /// A snapshot at `meta.index` replaces what the chosen log said up to there.
    pub fn reset_to_snapshot(&mut self, meta: &SnapshotMeta, voters: &[NodeId]) {
        let conf = if meta.index > 0 && !meta.conf_state.voters.is_empty() {
            ConfState {
                voters: meta.conf_state.voters.clone(),
                learners: meta.conf_state.learners.clone(),
                ..Default::default()
            }
        } else {
            ConfState::from_voters(voters.to_vec())
        };
        self.eras = vec![Era { from_slot: 0, change_slot: 0, conf }];
        self.scanned_to = meta.index;
        self.changed = true;
        self.previous = None;
    }

    /// Whether a configuration was added or replaced since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    pub fn window_slots(&self) -> Slot {
        self.window_slots
    }

    fn era_index(&self, slot: Slot) -> usize {
        self.eras.iter().rposition(|era| era.from_slot <= slot).unwrap_or(0)
    }

    /// `K(slot)`, for `slot` after the chosen index and at most α past it.
    pub fn conf_at(&self, slot: Slot) -> &ConfState {
        &self.eras[self.era_index(slot)].conf
    }

    /// The last slot `K(slot)` governs as far as the chosen log says (`Slot::MAX`: every later
    /// one).
    pub fn last_slot_of(&self, slot: Slot) -> Slot {
        self.eras.get(self.era_index(slot) + 1).map_or(Slot::MAX, |next| next.from_slot - 1)
    }

    /// Whether `id` voted in the configuration the latest one replaced.
    pub fn previous_voter(&self, id: NodeId) -> bool {
        self.previous.as_ref().is_some_and(|conf| conf.voters.contains(&id))
    }

    /// The configuration after every chosen change.
    pub fn latest(&self) -> &ConfState {
        &self.eras.last().expect("never empty").conf
    }

    /// The slot of the latest chosen change (0: none since the base).
    pub fn latest_change_slot(&self) -> Slot {
        self.eras.last().expect("never empty").change_slot
    }

    /// The first slot the latest configuration governs.
    pub fn latest_from_slot(&self) -> Slot {
        self.eras.last().expect("never empty").from_slot
    }

    /// The configuration in force at `chosen + 1` and the last slot the one before it governed
    /// (0 for the base): what `conf_state` reports, and the simulation's `conf_index`.
    pub fn in_force(&self, chosen: Slot) -> (&ConfState, Slot) {
        let era = &self.eras[self.era_index(chosen + 1)];
        (&era.conf, era.from_slot.saturating_sub(1))
    }

    /// Every configuration that governs a slot from `slot` on, as far as the chosen log says.
    pub fn confs_from(&self, slot: Slot) -> impl Iterator<Item = &ConfState> {
        self.eras[self.era_index(slot)..].iter().map(|era| &era.conf)
    }

    /// Reads the changes among the chosen slots not read yet (in `log`), in slot order; returns
    /// whether a configuration was added. Drops the eras that govern no slot from the log's
    /// first on (a snapshot at a held slot `i` records `K(i + 1)`).
    pub fn learn_chosen(&mut self, log: &SlotLog) -> bool {
        let chosen = log.chosen();
        let mut added = false;
        let from = (self.scanned_to + 1).max(log.first_slot());
        for slot in from..=chosen {
            let Some(entry) = log.get(slot).filter(|e| e.kind == EntryKind::ConfChange) else { continue };
            let next = decode_conf_change(&entry.data).ok().and_then(|change| next_conf(self.latest(), &change).ok());
            if let Some(conf) = next {
                self.previous = Some(self.latest().clone());
                self.eras.push(Era { from_slot: slot + self.window_slots, change_slot: slot, conf });
                added = true;
            }
        }
        self.scanned_to = self.scanned_to.max(chosen);
        self.changed |= added;
        while self.eras.len() > 1 && self.eras[1].from_slot <= log.first_slot() {
            self.eras.remove(0);
        }
        added
    }

    /// The configurations that govern slots `[from_slot, last + α]` when slots `(chosen, last]`
    /// hold `tail` (a candidate's adopted values, ascending, a slot missing being a no-op):
    /// the chosen log's configurations moved on by the changes in the tail.
    pub fn adopted_confs<'a>(&self, from_slot: Slot, tail: impl Iterator<Item = &'a Entry>) -> Vec<ConfState> {
        let mut confs: Vec<ConfState> = self.confs_from(from_slot).cloned().collect();
        let mut latest = self.latest().clone();
        for entry in tail.filter(|e| e.kind == EntryKind::ConfChange && e.index > self.scanned_to) {
            let next = decode_conf_change(&entry.data).ok().and_then(|change| next_conf(&latest, &change).ok());
            if let Some(conf) = next {
                latest = conf.clone();
                confs.push(conf);
            }
        }
        confs.dedup();
        confs
    }
}

impl Paxos {
    /// Proposes a membership change (leader only). Refused while another change is not in
    /// force yet (`ConfChangePending`), with flexible quorums (they name fixed sizes), or when
    /// it does not apply to the latest configuration (`InvalidConfig`).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        if self.role != NodeRole::Leader {
            return Err(self.not_leader());
        }
        if self.cfg.phase1_quorum.is_some() || self.cfg.phase2_quorum.is_some() {
            let problem = "membership changes need majority quorums (phase1_quorum and phase2_quorum unset)".into();
            return Err(RaftError::InvalidConfig { field: "conf_change", problem });
        }
        if self.conf_change_pending() {
            return Err(RaftError::ProposalDropped { reason: DropReason::ConfChangePending });
        }
        next_conf(self.membership.latest(), change)
            .map_err(|problem| RaftError::InvalidConfig { field: "conf_change", problem })?;
        let data = encode_conf_change(change);
        let bytes = data.len() + ENTRY_OVERHEAD_BYTES;
        self.propose_as_leader(vec![data], bytes, EntryKind::ConfChange)
    }

    /// A change is in the log past the chosen index, or chosen and not in force yet.
    fn conf_change_pending(&self) -> bool {
        let (chosen, last) = (self.log.chosen(), self.log.last_slot());
        self.membership.latest_from_slot() > chosen + 1
            || (chosen + 1..=last).any(|slot| self.log.get(slot).is_some_and(|e| e.kind == EntryKind::ConfChange))
    }

    /// Whether `id` votes in the latest configuration this node knows.
    pub fn is_latest_voter(&self, id: NodeId) -> bool {
        self.membership.latest().voters.contains(&id)
    }

    /// Whether this node may campaign: it votes in the latest configuration, or it voted in
    /// the one that configuration replaced. Such a node (a removed leader that restarted, say)
    /// may be the only one that can tell the new voters they are voters: it leads only to bring
    /// them up to date and hand over (`hand_over_leadership`), and acceptors that hear from a
    /// live leader refuse it (stickiness), so it does not disrupt a cluster that has one.
    pub fn may_lead(&self) -> bool {
        self.is_latest_voter(self.id) || self.membership.previous_voter(self.id)
    }

    /// After anything that may have moved the chosen index: read the changes newly chosen,
    /// follow the peers they name, and, leading, run phase 1 again for a configuration this
    /// ballot's phase 1 did not cover, hand over when no longer a voter, and pad the window of
    /// a chosen change with no-ops.
    pub fn refresh_membership(&mut self) {
        self.membership.learn_chosen(&self.log);
        if self.membership.take_changed() {
            self.update_peers();
        }
        if self.role != NodeRole::Leader {
            return;
        }
        let own_change = self.membership.latest_change_slot() > self.lead_covered_to;
        if own_change && self.is_latest_voter(self.id) {
            // A change this ballot proposed is chosen: its configuration was no part of this
            // ballot's phase 1. Campaign again (acceptors grant it: it comes from their leader).
            let ballot = self.own_ballot;
            self.campaign(Some(ballot));
            return;
        }
        if self.is_latest_voter(self.id) {
            self.pad_conf_window();
        } else {
            self.leave();
        }
    }

    /// A leader that is no voter of the latest configuration (removed): it tells its followers,
    /// pads the window once they know, and hands over once its removal is in force.
    ///
    /// Not padded at once: commands the followers forwarded before they learned of the removal
    /// are on their way, and the slots before the boundary take them; refused, they would be
    /// lost, their callers waiting out their timeout. A follower that knows its leader removed
    /// forwards nothing more to it (`Paxos::propose`: its runtime keeps the calls until it
    /// hears the next leader). So the leader proposes one no-op past its log at once (its
    /// Accept carries the chosen index, which tells of the removal) and pads the rest once
    /// every follower it hears accepted past it: each follower's earlier forwards travelled
    /// before that answer (one ordered connection per pair of nodes). A follower it does not
    /// hear from (within the election timeout) is not waited for.
    ///
    /// The wait is bounded (invariant: the window is padded at most one election timeout after
    /// the removal is chosen here, `removal_told_at_ticks`). The removed leader hands over only
    /// once the window is chosen, and the followers that know of the removal forward nothing
    /// more to it, nor campaign while they hear it: a follower that answers heartbeats but
    /// cannot accept past the no-op (one catching up by snapshot, `snapshot_sent`, which may
    /// take long or never finish) would otherwise keep the cluster without a leader that takes
    /// commands. Past the bound such a follower is treated as one not heard: a command it
    /// forwards later is refused, and its caller retries on its own deadline.
    fn leave(&mut self) {
        let now_ticks = self.election.now_ticks();
        let told_after = *self.removal_told_after.get_or_insert(self.log.last_slot());
        let told_at_ticks = *self.removal_told_at_ticks.get_or_insert(now_ticks);
        if self.log.last_slot() == told_after && told_after + 1 < self.membership.latest_from_slot() {
            let _ = self.propose_as_leader(vec![bytes::Bytes::new()], ENTRY_OVERHEAD_BYTES, EntryKind::NoOp);
        }
        let waited_out = now_ticks.saturating_sub(told_at_ticks) >= u64::from(self.cfg.election_timeout_ticks);
        let waiting: Vec<NodeId> =
            self.progress.iter().filter(|(_, p)| p.matched <= told_after).map(|(id, _)| *id).collect();
        if waited_out || self.election.connected_among(&waiting) == 0 {
            self.pad_conf_window();
        }
        self.hand_over_leadership();
    }

    /// At each heartbeat of a removed leader: followers it no longer hears are no longer
    /// waited for (`leave`).
    pub fn tick_removed_leader(&mut self) {
        if self.role == NodeRole::Leader && !self.is_latest_voter(self.id) {
            self.leave();
        }
    }

    /// Every member of a configuration that governs a slot after the chosen index, or of the
    /// latest, is a peer; also for a node that is none of them (it waits to be added, or was
    /// removed): its heartbeats let a removed leader that restarted see the new voters it must
    /// bring up to date (`may_lead`).
    pub fn update_peers(&mut self) {
        let from = self.log.chosen() + 1;
        let mut peers: Vec<NodeId> = self.membership.confs_from(from).flat_map(|c| c.members()).collect();
        peers.sort_unstable();
        peers.dedup();
        peers.retain(|&id| id != self.id);
        self.election.set_peers(&peers);
        self.peers = peers;
        if self.role == NodeRole::Leader {
            self.sync_progress();
        }
    }

    /// A leader that is no voter of the latest configuration (removed) leads on, padding the
    /// window and bringing the new voters up to date, until its removal is in force here
    /// (every slot before the new configuration's first chosen) and one of the new voters
    /// holds every slot chosen: then it tells that voter the chosen index, sends it a
    /// `TimeoutNow` (the most caught-up one) and steps down. Its ballot proposes nothing the
    /// new configuration governs (`max_proposable_slot`).
    ///
    /// In force first: this node then applies its own removal, so a caller waiting here for
    /// it is answered. Handed over earlier, it would learn the window's slots chosen only
    /// from the new leader, which stops talking to it once the removal is in force there (the
    /// runtime closes the connections to non-members): the caller would wait out its timeout
    /// though the change is done. Choosing the window needs a majority of the old
    /// configuration, which any set of nodes that holds a majority of the new one plus this
    /// node has. Handing over to a voter that lacks chosen slots would be handed back: its
    /// campaign finds this node more than a page ahead and asks it to campaign instead
    /// (`candidate.rs`), and the two would duel forever.
    fn hand_over_leadership(&mut self) {
        let chosen = self.log.chosen();
        if chosen + 1 < self.membership.latest_from_slot() {
            return;
        }
        let voters = self.membership.latest().voters.clone();
        let best = self
            .progress
            .iter()
            .filter(|(id, p)| voters.contains(id) && p.matched >= chosen)
            .max_by_key(|(id, p)| (p.matched, std::cmp::Reverse(*id)))
            .map(|(id, _)| *id);
        let Some(to) = best else { return };
        let (ballot, chosen, read_round) = (self.own_ballot, self.log.chosen(), self.reads.round());
        self.send(to, ballot, Body::Heartbeat { leader: true, chosen, read_round });
        self.send(to, ballot, Body::TimeoutNow);
        self.become_follower(NO_NODE);
    }

    /// The last slot this leader's ballot may propose: α past its chosen index, and before a
    /// configuration its phase 1 did not cover (a change of its own chosen, while it is no
    /// voter of it and hands over).
    pub fn max_proposable_slot(&self) -> Slot {
        // Never past `MAX_SLOT`, which every node refuses (a forged snapshot may have put the
        // chosen index near it): proposals there are dropped as at the uncommitted limit.
        let window = (self.log.chosen() + self.membership.window_slots()).min(MAX_SLOT);
        if self.membership.latest_change_slot() > self.lead_covered_to {
            window.min(self.membership.latest_from_slot() - 1)
        } else {
            window
        }
    }

    /// Once a change at `s` is chosen, no-ops up to `s + α - 1` (as the window allows), so
    /// its configuration comes into force without waiting for commands.
    fn pad_conf_window(&mut self) {
        let boundary = self.membership.latest_from_slot();
        let limit = (self.log.chosen() + self.membership.window_slots()).min(boundary.saturating_sub(1));
        let last = self.log.last_slot();
        if limit <= last {
            return;
        }
        // As many as the proposal budget takes now (the rest at a later refresh).
        let budget = self.cfg.max_uncommitted_bytes;
        let used = self.uncommitted_bytes + self.unreplicated_chosen_bytes(budget);
        let count = ((limit - last) as usize).min(budget.saturating_sub(used) / ENTRY_OVERHEAD_BYTES);
        if count > 0 {
            let _ =
                self.propose_as_leader(vec![bytes::Bytes::new(); count], count * ENTRY_OVERHEAD_BYTES, EntryKind::NoOp);
        }
    }

    /// Whether the complete promises of `promisers` hold a phase 1 quorum of every one of
    /// `confs`.
    pub fn promises_cover(&self, confs: &[ConfState], promisers: &[NodeId]) -> bool {
        confs.iter().all(|conf| {
            let quorum = self.cfg.phase1_quorum.unwrap_or_else(|| majority(conf));
            conf.voters.iter().filter(|id| promisers.contains(id)).count() >= quorum
        })
    }

    /// The phase 2 quorum of `conf`.
    pub fn q2_of(&self, conf: &ConfState) -> usize {
        self.cfg.phase2_quorum.unwrap_or_else(|| majority(conf))
    }

    /// Whether this node and the voters it heard from within the election timeout form a
    /// quorum (phase 1 or 2) of the configuration in force after the chosen index. (Not the
    /// latest: a voter just added says nothing until a leader brings it up to date, and
    /// waiting to hear from it would keep anyone from leading.)
    pub fn connected_to_quorum(&self, phase1: bool) -> bool {
        let conf = self.membership.conf_at(self.log.chosen() + 1);
        let quorum = if phase1 { self.cfg.phase1_quorum } else { self.cfg.phase2_quorum };
        let quorum = quorum.unwrap_or_else(|| majority(conf));
        let own = conf.voters.contains(&self.id) as usize;
        own + self.election.connected_among(&conf.voters) >= quorum
    }

    /// The configuration in force after the chosen index, for `conf_state`.
    pub fn conf_in_force(&self) -> (&ConfState, Slot) {
        self.membership.in_force(self.log.chosen())
    }

    /// Whether a snapshot at `index` would cut a change out of the log before it is in force.
    pub fn snapshot_cuts_change(&self, index: Slot) -> bool {
        let window = self.membership.window_slots();
        let lo = index.saturating_sub(window).saturating_add(1).max(self.log.first_slot());
        (lo..=index).any(|slot| {
            self.log.get(slot).is_some_and(|e| e.kind == EntryKind::ConfChange && slot + window > index + 1)
        })
    }
}
