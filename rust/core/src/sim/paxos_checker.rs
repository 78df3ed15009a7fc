//! The safety invariants of Multi-Paxos, checked incrementally after every step of a
//! simulation.
//!
//! Like Raft's [`Checker`](crate::sim::Checker), it sees each node from outside only: its
//! durable state (the `MemStorage` a crash leaves: slot `s` accepted at ballot `b` is
//! `Entry { index: s, term: b.to_u64() }`, the promise is `HardState.term`, the chosen index
//! `HardState.commit`), its role and promise, the values it applies, the snapshots it restores
//! and the reads it confirms. From these it keeps:
//! - a shadow of every acceptor's durable slots (ballot and value fingerprint per slot), and
//!   with it the record of every `(slot, ballot, value)` any acceptor ever durably accepted,
//!   with the acceptors that did;
//! - per slot, the value chosen: the first value a phase 2 quorum durably accepted at one
//!   ballot (Flexible Paxos: `phase2_quorum` acceptors). With membership changes
//!   ([`PaxosChecker::with_membership`]) the quorum of slot `t` is a majority of the voters of
//!   the configuration the chosen log gives it: the initial one moved on by every change the
//!   checker saw chosen at a slot `<= t - α`, computed here from the chosen values alone. A
//!   slot more than α past the chosen prefix is judged once the prefix reaches it;
//! - one global applied sequence (by value: the ballot a replica accepted a value at is no
//!   part of the replicated state) that every node's applied sequence must be a prefix of.
//!
//! The invariants, each a [`Property`]:
//! - `ChosenValue`: a second, different value chosen for a slot; two values at one ballot and
//!   slot; an acceptance above the chosen ballot with another value (Paxos's P2c, which keeps
//!   a chosen value chosen, so an applied, acknowledged command is never lost);
//! - `PromiseSafety`: a promise going down (durable, or in memory while the node is up); a
//!   durable acceptance above the durable promise;
//! - `AcceptorSafety`: a slot's accepted ballot going down, or an accepted slot lost from the
//!   durable log without a snapshot covering it;
//! - `StateMachineSafety`, `AppliedOrder`: every value a node applies is the one chosen for its
//!   slot, in slot order, and all replicas apply prefixes of one sequence; a value applied
//!   before the checker saw its slot chosen is judged when it is, and at the end at the latest;
//! - `CommitAgreement`: the value a node durably holds at a slot its durable chosen index
//!   covers is the chosen one;
//! - `ReadIndex`: a confirmed read's index covers every slot chosen before it was issued;
//! - `ElectionSafety`: a leader leads at its own ballot (one leader per ballot).
//!
//! A sync reads the durable slots above the node's durable chosen index (those below it are
//! chosen and never rewritten), and every [`AUDIT_EVERY_SYNCS`] syncs, and after a restart, all
//! of them. A check that fails returns a [`Violation`]; the checker never panics on a bad node.

use crate::codec::decode_conf_change;
use crate::driver::NodeRole;
use crate::paxos::ballot::Ballot;
use crate::paxos::message::Slot;
use crate::raft::conf_change::ConfChange;
use crate::raft::message::{ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot};
use crate::raft::ready::ReadState;
use crate::raft::storage::{MemStorage, Storage};
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation, AUDIT_EVERY_SYNCS};
use crate::sim::fingerprint::Fingerprint;
use crate::sim::protocol::SafetyChecker;
use std::collections::{BTreeMap, BTreeSet};

/// Nodes a checker tracks at most (acceptors are kept as bits of a `u32`).
pub const MAX_CHECKED_NODES: usize = 32;

/// The fingerprint of a slot's value: kind and data (not the ballot it was accepted at).
pub fn value_of(entry: &Entry) -> Fingerprint {
    Fingerprint::default().with_u64(entry.kind as u64).with_bytes(&entry.data)
}

/// The acceptors that durably accepted one value at one ballot for one slot.
#[derive(Clone, Copy, Debug)]
struct BallotRecord {
    ballot: u64,
    value: Fingerprint,
    /// Bit `p` set: the node at position `p` accepted it.
    acceptors: u32,
}

/// What the checker knows of one slot.
#[derive(Clone, Debug, Default)]
struct SlotRecord {
    /// Every ballot some acceptor accepted this slot at, in the order first seen.
    ballots: Vec<BallotRecord>,
    /// The value chosen and the ballot it was first chosen at.
    chosen: Option<(u64, Fingerprint)>,
}

/// What the checker remembers of one acceptor.
#[derive(Clone, Debug)]
struct AcceptorTrack {
    id: NodeId,
    /// Durable state at the last sync.
    hard_state: HardState,
    /// The promise in memory at the last sync; reset by a restart.
    promised: u64,
    snapshot_index: Slot,
    /// `accepted[k]` is the durable slot `snapshot_index + 1 + k`: (ballot, value).
    accepted: Vec<(u64, Fingerprint)>,
    app: AppState,
    /// Syncs left before the next full audit; 0 = audit at the next sync.
    syncs_until_audit: u32,
}

impl AcceptorTrack {
    fn last_slot(&self) -> Slot {
        self.snapshot_index + self.accepted.len() as Slot
    }
}

/// A value a node applied (or holds under its durable chosen index) before its slot was seen
/// chosen: it must be the value chosen there.
#[derive(Clone, Copy, Debug)]
struct Unconfirmed {
    value: Fingerprint,
    node: NodeId,
    what: &'static str,
}

/// Incremental checker of the Multi-Paxos safety properties over one cluster's history.
#[derive(Clone, Debug)]
pub struct PaxosChecker {
    nodes: Vec<AcceptorTrack>,
    /// The configurations the chosen prefix decides: (first slot governed, voters as a mask of
    /// positions, phase 2 quorum, the configuration), ascending.
    eras: Vec<(Slot, u32, usize, ConfState)>,
    /// α of membership runs (`Slot::MAX` for a fixed cluster: every slot's quorum is known).
    window_slots: Slot,
    /// The membership changes among the values seen accepted, by slot and value.
    conf_changes: BTreeMap<(Slot, Fingerprint), ConfChange>,
    /// `slots[s - 1]` describes slot `s`.
    slots: Vec<SlotRecord>,
    /// Every slot in `[1, chosen_prefix]` is chosen.
    chosen_prefix: Slot,
    /// The highest slot chosen.
    max_chosen: Slot,
    unconfirmed: BTreeMap<Slot, Unconfirmed>,
    /// `applied[i - 1]`: the applied-sequence fingerprint after slot `i`, and the first node
    /// seen applying it.
    applied: Vec<(Fingerprint, NodeId)>,
    /// Read requests issued: request id → highest slot chosen when it was issued.
    reads_issued: BTreeMap<u64, Slot>,
    leader_ballots: BTreeSet<u64>,
    steps_checked: u64,
}

impl PaxosChecker {
    /// A checker for a cluster of the acceptors `ids`, all starting empty, in which
    /// `phase2_quorum` acceptances choose a value.
    pub fn new(ids: &[NodeId], phase2_quorum: usize) -> PaxosChecker {
        assert!(ids.len() <= MAX_CHECKED_NODES, "the Paxos checker tracks at most {MAX_CHECKED_NODES} nodes");
        assert!((1..=ids.len()).contains(&phase2_quorum), "a phase 2 quorum is 1 to {} acceptors", ids.len());
        let nodes = ids
            .iter()
            .map(|&id| AcceptorTrack {
                id,
                hard_state: HardState::default(),
                promised: 0,
                snapshot_index: 0,
                accepted: Vec::new(),
                app: AppState::default(),
                syncs_until_audit: AUDIT_EVERY_SYNCS,
            })
            .collect();
        let all = ids.iter().enumerate().fold(0u32, |mask, (position, _)| mask | 1 << position);
        PaxosChecker {
            nodes,
            eras: vec![(0, all, phase2_quorum, ConfState::from_voters(ids.to_vec()))],
            window_slots: Slot::MAX,
            conf_changes: BTreeMap::new(),
            slots: Vec::new(),
            chosen_prefix: 0,
            max_chosen: 0,
            unconfirmed: BTreeMap::new(),
            applied: Vec::new(),
            reads_issued: BTreeMap::new(),
            leader_ballots: BTreeSet::new(),
            steps_checked: 0,
        }
    }

    /// A checker for a membership run over the nodes `ids`, of which `voters` are the initial
    /// configuration, with majority quorums and Lamport's α `window_slots`.
    pub fn with_membership(ids: &[NodeId], voters: &[NodeId], window_slots: Slot) -> PaxosChecker {
        let mut checker = PaxosChecker::new(ids, 1);
        let conf = ConfState::from_voters(voters.to_vec());
        let era = checker.era_of(conf);
        checker.eras = vec![era];
        checker.window_slots = window_slots;
        checker
    }

    fn era_of(&self, conf: ConfState) -> (Slot, u32, usize, ConfState) {
        let mask = conf.voters.iter().filter_map(|&id| self.position(id)).fold(0u32, |mask, p| mask | 1 << p);
        (0, mask, conf.voters.len() / 2 + 1, conf)
    }

    /// Whether `acceptors` hold a phase 2 quorum of slot `slot`'s configuration; `false` while
    /// the chosen prefix does not decide it yet.
    fn quorum_at(&self, slot: Slot, acceptors: u32) -> bool {
        if slot > self.chosen_prefix.saturating_add(self.window_slots) {
            return false;
        }
        let Some((_, mask, quorum, _)) = self.eras.iter().rev().find(|era| era.0 <= slot) else { return false };
        (acceptors & mask).count_ones() as usize >= *quorum
    }

    /// The chosen prefix grew from `before`: the changes it now holds start configurations α
    /// later, and the slots whose configuration it now decides are judged.
    fn prefix_grew(&mut self, before: Slot) -> Check {
        if self.window_slots == Slot::MAX {
            return Ok(());
        }
        for slot in before + 1..=self.chosen_prefix {
            let Some((_, value)) = self.slot(slot).and_then(|r| r.chosen) else { continue };
            let Some(change) = self.conf_changes.get(&(slot, value)) else { continue };
            let latest = &self.eras.last().expect("never empty").3;
            if let Ok(next) = crate::paxos::membership::next_conf(latest, change) {
                let (_, mask, quorum, conf) = self.era_of(next);
                self.eras.push((slot + self.window_slots, mask, quorum, conf));
            }
        }
        let (lo, hi) =
            (before.saturating_add(self.window_slots) + 1, self.chosen_prefix.saturating_add(self.window_slots));
        let mut newly = Vec::new();
        for slot in lo..=hi.min(self.slots.len() as Slot) {
            let record = &self.slots[(slot - 1) as usize];
            if record.chosen.is_some() {
                continue;
            }
            if let Some(b) = record.ballots.iter().find(|b| self.quorum_at(slot, b.acceptors)) {
                newly.push((slot, b.ballot, b.value));
            }
        }
        for (slot, ballot, value) in newly {
            if self.slot(slot).is_some_and(|r| r.chosen.is_none()) {
                self.choose(slot, ballot, value)?;
            }
        }
        Ok(())
    }

    /// The value chosen at `slot`, if the checker saw it chosen.
    pub fn chosen(&self, slot: Slot) -> Option<Fingerprint> {
        self.slot(slot).and_then(|r| r.chosen).map(|(_, value)| value)
    }

    /// Checks acceptor `id` after it handled a Ready: `storage` is its durable state, `role`
    /// and `promised` (a `Ballot::to_u64`) its state in memory.
    pub fn sync_node(&mut self, id: NodeId, storage: &MemStorage, role: NodeRole, promised: u64) -> Check {
        self.steps_checked += 1;
        let position = self.known_position(id)?;
        let hard_state = storage.hard_state();
        self.check_promise(position, hard_state, promised)?;
        self.follow_snapshot(position, storage)?;
        let previous_commit = self.nodes[position].hard_state.commit;
        self.sync_slots(position, storage, hard_state)?;
        self.check_chosen_index(position, previous_commit, hard_state.commit)?;
        self.nodes[position].hard_state = hard_state;
        self.check_leader(position, role, promised)
    }

    /// Promises only grow: the durable one across crashes, the one in memory while up.
    fn check_promise(&mut self, position: usize, hard_state: HardState, promised: u64) -> Check {
        let track = &mut self.nodes[position];
        let id = track.id;
        let fail = |detail: String| Err(Violation::new(Property::PromiseSafety, format!("node {id}: {detail}")));
        if hard_state.term < track.hard_state.term {
            let (from, to) = (Ballot::from_u64(track.hard_state.term), Ballot::from_u64(hard_state.term));
            return fail(format!("durable promise went down from {from} to {to}"));
        }
        if promised < track.promised {
            let (from, to) = (Ballot::from_u64(track.promised), Ballot::from_u64(promised));
            return fail(format!("promise went down from {from} to {to} while it was up"));
        }
        if hard_state.commit < track.hard_state.commit {
            return Err(Violation::new(
                Property::PersistentState,
                format!(
                    "node {id}: durable chosen index went down from {} to {}",
                    track.hard_state.commit, hard_state.commit
                ),
            ));
        }
        track.promised = promised;
        Ok(())
    }

    /// Moves the shadow's snapshot up to the storage's: the slots it covers leave the shadow.
    fn follow_snapshot(&mut self, position: usize, storage: &MemStorage) -> Check {
        let track = &mut self.nodes[position];
        let index = storage.first_index() - 1;
        if index < track.snapshot_index {
            return Err(Violation::new(
                Property::PersistentState,
                format!("node {}: snapshot index went down from {} to {index}", track.id, track.snapshot_index),
            ));
        }
        let covered = ((index - track.snapshot_index) as usize).min(track.accepted.len());
        track.accepted.drain(..covered);
        track.snapshot_index = index;
        Ok(())
    }

    /// Reads the durable slots that may have changed and records every new acceptance.
    fn sync_slots(&mut self, position: usize, storage: &MemStorage, hard_state: HardState) -> Check {
        let track = &mut self.nodes[position];
        let (id, first) = (track.id, track.snapshot_index + 1);
        let last = storage.last_index();
        if last < track.last_slot() {
            return Err(Violation::new(
                Property::AcceptorSafety,
                format!("node {id} lost its accepted slots {}..={} from its durable log", last + 1, track.last_slot()),
            ));
        }
        let full = track.syncs_until_audit == 0;
        track.syncs_until_audit = if full { AUDIT_EVERY_SYNCS } else { track.syncs_until_audit - 1 };
        // Slots up to the durable chosen index seen last time were chosen then: never
        // rewritten (the audits check it).
        let from = if full { first } else { (track.hard_state.commit + 1).min(track.last_slot() + 1).max(first) };
        if from > last {
            return Ok(());
        }
        let entries = storage.entries(from, last + 1, usize::MAX).map_err(|error| {
            Violation::new(Property::NodeError, format!("node {id}: reading its storage failed: {error}"))
        })?;
        for entry in &entries {
            self.sync_slot(position, entry, hard_state.term)?;
        }
        Ok(())
    }

    fn sync_slot(&mut self, position: usize, entry: &Entry, durable_promise: u64) -> Check {
        let track = &mut self.nodes[position];
        let (id, slot, ballot, value) = (track.id, entry.index, entry.term, value_of(entry));
        if ballot > durable_promise {
            return Err(Violation::new(
                Property::PromiseSafety,
                format!(
                    "node {id} durably accepted slot {slot} at {}, above its durable promise {}",
                    Ballot::from_u64(ballot),
                    Ballot::from_u64(durable_promise)
                ),
            ));
        }
        let offset = (slot - track.snapshot_index - 1) as usize;
        match track.accepted.get(offset).copied() {
            Some(held) if held == (ballot, value) => return Ok(()),
            Some((held_ballot, _)) if held_ballot > ballot => {
                return Err(Violation::new(
                    Property::AcceptorSafety,
                    format!(
                        "node {id} replaced its acceptance of slot {slot} at {} by one at the lower {}",
                        Ballot::from_u64(held_ballot),
                        Ballot::from_u64(ballot)
                    ),
                ))
            }
            Some(_) => track.accepted[offset] = (ballot, value),
            None => {
                debug_assert_eq!(offset, track.accepted.len(), "storage entries are contiguous");
                track.accepted.push((ballot, value));
            }
        }
        if entry.kind == EntryKind::ConfChange && self.window_slots != Slot::MAX {
            if let Ok(change) = decode_conf_change(&entry.data) {
                self.conf_changes.entry((slot, value)).or_insert(change);
            }
        }
        self.record_acceptance(position, slot, ballot, value)
    }

    /// Acceptor `position` durably accepted `value` at `ballot` for `slot`.
    fn record_acceptance(&mut self, position: usize, slot: Slot, ballot: u64, value: Fingerprint) -> Check {
        let id = self.nodes[position].id;
        if self.slots.len() < slot as usize {
            self.slots.resize_with(slot as usize, SlotRecord::default);
        }
        let record = &mut self.slots[(slot - 1) as usize];
        let at = match record.ballots.iter().position(|r| r.ballot == ballot) {
            Some(at) => at,
            None => {
                record.ballots.push(BallotRecord { ballot, value, acceptors: 0 });
                record.ballots.len() - 1
            }
        };
        let ballot_record = &mut record.ballots[at];
        if ballot_record.value != value {
            return Err(Violation::new(
                Property::ChosenValue,
                format!(
                    "node {id} accepted at slot {slot} a value other acceptors accepted another one for at {}",
                    Ballot::from_u64(ballot)
                ),
            ));
        }
        ballot_record.acceptors |= 1 << position;
        let acceptors = ballot_record.acceptors;
        let quorum = self.quorum_at(slot, acceptors);
        let record = &mut self.slots[(slot - 1) as usize];
        if let Some((chosen_ballot, chosen_value)) = record.chosen {
            if value != chosen_value && (ballot > chosen_ballot || quorum) {
                let how =
                    if quorum { "was chosen too".to_string() } else { format!("was accepted by node {id} above it") };
                return Err(Violation::new(
                    Property::ChosenValue,
                    format!(
                        "slot {slot}: chosen at {}, another value {how} at {}",
                        Ballot::from_u64(chosen_ballot),
                        Ballot::from_u64(ballot)
                    ),
                ));
            }
            return Ok(());
        }
        if quorum {
            return self.choose(slot, ballot, value);
        }
        Ok(())
    }

    /// `value` is chosen at `slot`: a phase 2 quorum accepted it at `ballot`.
    fn choose(&mut self, slot: Slot, ballot: u64, value: Fingerprint) -> Check {
        let record = &mut self.slots[(slot - 1) as usize];
        record.chosen = Some((ballot, value));
        if let Some(other) = record.ballots.iter().find(|r| r.ballot > ballot && r.value != value) {
            return Err(Violation::new(
                Property::ChosenValue,
                format!(
                    "slot {slot}: chosen at {}, yet another value was accepted at the higher {}",
                    Ballot::from_u64(ballot),
                    Ballot::from_u64(other.ballot)
                ),
            ));
        }
        self.max_chosen = self.max_chosen.max(slot);
        let before = self.chosen_prefix;
        while self.slot(self.chosen_prefix + 1).is_some_and(|r| r.chosen.is_some()) {
            self.chosen_prefix += 1;
        }
        match self.unconfirmed.remove(&slot) {
            Some(seen) if seen.value != value => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {} {} slot {slot} with a value that is not the one chosen there", seen.node, seen.what),
            )),
            _ => self.prefix_grew(before),
        }
    }

    /// A value seen at `slot` where only the chosen value may be: checked now, or once the
    /// slot is seen chosen.
    fn expect_chosen(&mut self, slot: Slot, seen: Unconfirmed, property: Property) -> Check {
        match self.chosen(slot) {
            Some(chosen) if chosen != seen.value => Err(Violation::new(
                property,
                format!("node {} {} slot {slot} with a value that is not the one chosen there", seen.node, seen.what),
            )),
            Some(_) => Ok(()),
            None => {
                self.unconfirmed.entry(slot).or_insert(seen);
                Ok(())
            }
        }
    }

    /// The slots a node's durable chosen index newly covers must hold the chosen values.
    fn check_chosen_index(&mut self, position: usize, previous: Slot, commit: Slot) -> Check {
        let track = &self.nodes[position];
        let id = track.id;
        if commit > track.last_slot() {
            return Err(Violation::new(
                Property::PersistentState,
                format!("node {id}: durable chosen index {commit} is past its last slot {}", track.last_slot()),
            ));
        }
        let from = previous.max(track.snapshot_index) + 1;
        let values: Vec<(Slot, Fingerprint)> =
            (from..=commit).map(|slot| (slot, track.accepted[(slot - track.snapshot_index - 1) as usize].1)).collect();
        for (slot, value) in values {
            let seen = Unconfirmed { value, node: id, what: "durably holds as chosen" };
            self.expect_chosen(slot, seen, Property::CommitAgreement)?;
        }
        Ok(())
    }

    /// A leader leads at its own ballot.
    fn check_leader(&mut self, position: usize, role: NodeRole, promised: u64) -> Check {
        if role != NodeRole::Leader {
            return Ok(());
        }
        let id = self.nodes[position].id;
        let ballot = Ballot::from_u64(promised);
        if ballot.node != id {
            return Err(Violation::new(
                Property::ElectionSafety,
                format!("node {id} leads at {ballot}, a ballot of node {}", ballot.node),
            ));
        }
        self.leader_ballots.insert(promised);
        Ok(())
    }

    /// An application state at slot `i` must equal the global applied state at `i`.
    fn check_app_state(&self, id: NodeId, app: &AppState, how: &str) -> Check {
        let index = app.applied_index;
        if index == 0 {
            return Ok(());
        }
        match self.applied.get((index - 1) as usize) {
            Some(&(fingerprint, _)) if fingerprint == app.fingerprint => Ok(()),
            Some(&(_, first_node)) => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {id} {how} at slot {index} with a state that differs from node {first_node}'s"),
            )),
            None => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {id} {how} at slot {index}, past every applied slot ({})", self.applied.len()),
            )),
        }
    }

    fn slot(&self, slot: Slot) -> Option<&SlotRecord> {
        self.slots.get(slot.checked_sub(1)? as usize)
    }

    fn position(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|t| t.id == id)
    }

    fn known_position(&self, id: NodeId) -> Result<usize, Violation> {
        self.position(id)
            .ok_or_else(|| Violation::new(Property::NodeError, format!("node {id} is not a member of the cluster")))
    }
}

impl SafetyChecker for PaxosChecker {
    fn steps_checked(&self) -> u64 {
        self.steps_checked
    }

    fn committed_index(&self) -> Index {
        self.chosen_prefix
    }

    fn leader_terms(&self) -> usize {
        self.leader_ballots.len()
    }

    fn request_audit(&mut self, id: NodeId) {
        if let Some(position) = self.position(id) {
            self.nodes[position].syncs_until_audit = 0;
        }
    }

    /// Checks one value node `id` applies, in slot order.
    fn observe_apply(&mut self, id: NodeId, entry: &Entry) -> Check {
        let position = self.known_position(id)?;
        let slot = entry.index;
        let expected = self.nodes[position].app.applied_index + 1;
        if slot != expected {
            return Err(Violation::new(
                Property::AppliedOrder,
                format!("node {id} applied slot {slot} when {expected} was next"),
            ));
        }
        let seen = Unconfirmed { value: value_of(entry), node: id, what: "applied" };
        self.expect_chosen(slot, seen, Property::StateMachineSafety)?;
        let track = &mut self.nodes[position];
        track.app.apply_value(entry);
        let fingerprint = track.app.fingerprint;
        match self.applied.get((slot - 1) as usize) {
            Some(&(global, first_node)) if global != fingerprint => Err(Violation::new(
                Property::StateMachineSafety,
                format!("nodes {first_node} and {id} applied different values at slot {slot}"),
            )),
            Some(_) => Ok(()),
            None => {
                self.applied.push((fingerprint, id));
                Ok(())
            }
        }
    }

    fn observe_restore(&mut self, id: NodeId, snapshot: &Snapshot) -> Check {
        let position = self.known_position(id)?;
        let index = snapshot.meta.index;
        let Some(app) = AppState::decode(&snapshot.data) else {
            return Err(Violation::new(
                Property::NodeError,
                format!("node {id} got a snapshot at slot {index} whose data is not an application state"),
            ));
        };
        if app.applied_index != index {
            return Err(Violation::new(
                Property::NodeError,
                format!("node {id} got a snapshot at slot {index} holding the state at {}", app.applied_index),
            ));
        }
        let applied = self.nodes[position].app.applied_index;
        if index < applied {
            return Err(Violation::new(
                Property::AppliedOrder,
                format!("node {id} restored a snapshot at slot {index} after applying up to {applied}"),
            ));
        }
        self.check_app_state(id, &app, "restored from a snapshot")?;
        self.nodes[position].app = app;
        Ok(())
    }

    fn observe_restart(&mut self, id: NodeId, app: AppState) -> Check {
        let position = self.known_position(id)?;
        self.check_app_state(id, &app, "restarted")?;
        let track = &mut self.nodes[position];
        track.app = app;
        // The promise in memory restarts from the durable one, which may be lower.
        track.promised = 0;
        track.syncs_until_audit = 0;
        Ok(())
    }

    fn observe_read_issued(&mut self, request_id: u64) {
        self.reads_issued.insert(request_id, self.max_chosen);
    }

    /// A confirmed read must cover every slot chosen before it was issued. (Its index may lie
    /// above the slots chosen so far: it is the highest slot its leader had assigned.)
    fn observe_read_state(&self, id: NodeId, read: &ReadState) -> Check {
        let Some(&chosen_then) = self.reads_issued.get(&read.request_id) else {
            return Err(Violation::new(
                Property::ReadIndex,
                format!("node {id} confirmed read {} that was never issued", read.request_id),
            ));
        };
        if read.index < chosen_then {
            return Err(Violation::new(
                Property::ReadIndex,
                format!(
                    "node {id} confirmed read {} at slot {}; slot {chosen_then} was chosen when it was issued",
                    read.request_id, read.index
                ),
            ));
        }
        Ok(())
    }

    /// Every value applied, or held as chosen, must by now be seen chosen.
    fn finish(&mut self) -> Check {
        match self.unconfirmed.iter().next() {
            Some((&slot, seen)) => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {} {} slot {slot}, which no phase 2 quorum was seen accepting", seen.node, seen.what),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Slot `slot` accepted at ballot `(round, node)` with `data`.
    fn accepted(slot: Slot, round: u64, node: NodeId, data: &'static [u8]) -> Entry {
        let term = Ballot::new(round, node).to_u64();
        Entry { index: slot, term, kind: EntryKind::Normal, data: Bytes::from_static(data) }
    }

    /// A durable state: `entries` accepted, promise `(round, node)`, chosen index `commit`.
    fn storage(entries: &[Entry], round: u64, node: NodeId, commit: Slot) -> MemStorage {
        let mut storage = MemStorage::new(vec![1, 2, 3]);
        storage.append(entries);
        storage.set_hard_state(HardState::new(Ballot::new(round, node).to_u64(), 0, commit));
        storage
    }

    fn violated(result: Check) -> Property {
        match result {
            Ok(()) => panic!("the checker accepted a broken history"),
            Err(violation) => violation.property,
        }
    }

    fn sync(checker: &mut PaxosChecker, id: NodeId, storage: &MemStorage) -> Check {
        let promised = storage.hard_state().term;
        checker.sync_node(id, storage, NodeRole::Follower, promised)
    }

    #[test]
    fn a_value_is_chosen_once_a_phase_2_quorum_accepted_it() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        let a = accepted(1, 1, 1, b"a");
        sync(&mut checker, 1, &storage(std::slice::from_ref(&a), 1, 1, 0)).unwrap();
        assert_eq!(checker.chosen(1), None);
        sync(&mut checker, 2, &storage(std::slice::from_ref(&a), 1, 1, 0)).unwrap();
        assert_eq!(checker.chosen(1), Some(value_of(&a)));
        assert_eq!(checker.committed_index(), 1);
        checker.observe_apply(1, &a).unwrap();
        // A later ballot re-proposing the chosen value is fine.
        sync(&mut checker, 3, &storage(&[accepted(1, 2, 3, b"a")], 2, 3, 0)).unwrap();
        checker.finish().unwrap();
    }

    #[test]
    fn catches_two_values_chosen_for_one_slot() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        sync(&mut checker, 1, &storage(&[accepted(1, 1, 1, b"a")], 1, 1, 0)).unwrap();
        sync(&mut checker, 2, &storage(&[accepted(1, 1, 1, b"a")], 1, 1, 0)).unwrap();
        // Nodes 2 and 3 then accept another value at a higher ballot: chosen twice.
        let result = sync(&mut checker, 3, &storage(&[accepted(1, 2, 3, b"b")], 2, 3, 0));
        assert_eq!(violated(result), Property::ChosenValue, "P2c: above the chosen ballot");
        let mut checker = PaxosChecker::new(&[1, 2, 3], 1);
        sync(&mut checker, 1, &storage(&[accepted(1, 1, 1, b"a")], 1, 1, 0)).unwrap();
        let result = sync(&mut checker, 2, &storage(&[accepted(1, 0, 2, b"b")], 0, 2, 0));
        assert_eq!(violated(result), Property::ChosenValue, "a second quorum, at a lower ballot");
    }

    #[test]
    fn catches_a_promise_going_down() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        sync(&mut checker, 2, &storage(&[], 5, 1, 0)).unwrap();
        // A restart resets the promise in memory, not the durable one.
        checker.observe_restart(2, AppState::default()).unwrap();
        assert_eq!(violated(sync(&mut checker, 2, &storage(&[], 4, 3, 0))), Property::PromiseSafety);
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        let durable = storage(&[], 5, 1, 0);
        checker.sync_node(2, &durable, NodeRole::Follower, Ballot::new(6, 1).to_u64()).unwrap();
        let result = checker.sync_node(2, &durable, NodeRole::Follower, Ballot::new(5, 1).to_u64());
        assert_eq!(violated(result), Property::PromiseSafety, "in memory, while up");
    }

    #[test]
    fn catches_an_acceptance_above_the_durable_promise() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        let result = sync(&mut checker, 1, &storage(&[accepted(1, 3, 2, b"a")], 2, 2, 0));
        assert_eq!(violated(result), Property::PromiseSafety);
    }

    #[test]
    fn catches_an_acceptance_lost_or_replaced_by_a_lower_ballot() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        sync(&mut checker, 1, &storage(&[accepted(1, 2, 1, b"a"), accepted(2, 2, 1, b"b")], 2, 1, 0)).unwrap();
        let lower = storage(&[accepted(1, 2, 1, b"a"), accepted(2, 1, 3, b"c")], 2, 1, 0);
        assert_eq!(violated(sync(&mut checker, 1, &lower)), Property::AcceptorSafety);
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        sync(&mut checker, 1, &storage(&[accepted(1, 2, 1, b"a"), accepted(2, 2, 1, b"b")], 2, 1, 0)).unwrap();
        let lost = storage(&[accepted(1, 2, 1, b"a")], 2, 1, 0);
        assert_eq!(violated(sync(&mut checker, 1, &lost)), Property::AcceptorSafety);
    }

    #[test]
    fn catches_a_value_applied_that_was_not_chosen() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        sync(&mut checker, 1, &storage(&[accepted(1, 1, 1, b"a")], 1, 1, 0)).unwrap();
        sync(&mut checker, 2, &storage(&[accepted(1, 1, 1, b"a")], 1, 1, 0)).unwrap();
        let result = checker.observe_apply(3, &accepted(1, 1, 1, b"forged"));
        assert_eq!(violated(result), Property::StateMachineSafety);
        // Applied before any quorum is seen: judged at the end.
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        checker.observe_apply(1, &accepted(1, 1, 1, b"a")).unwrap();
        assert_eq!(violated(checker.finish()), Property::StateMachineSafety);
    }

    #[test]
    fn catches_a_stale_read() {
        let mut checker = PaxosChecker::new(&[1, 2, 3], 2);
        let log = [accepted(1, 1, 1, b"a"), accepted(2, 1, 1, b"b")];
        sync(&mut checker, 1, &storage(&log, 1, 1, 0)).unwrap();
        sync(&mut checker, 2, &storage(&log, 1, 1, 0)).unwrap();
        checker.observe_read_issued(9);
        let result = checker.observe_read_state(1, &ReadState { index: 1, request_id: 9 });
        assert_eq!(violated(result), Property::ReadIndex);
        checker.observe_read_state(1, &ReadState { index: 2, request_id: 9 }).unwrap();
    }
}
