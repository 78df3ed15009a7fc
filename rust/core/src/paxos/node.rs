//! [`PaxosNode`]: a Multi-Paxos node over in-memory storage whose messages travel as encoded
//! frames, with the public shape of Raft's [`MemNode`](crate::raft::mem_node::MemNode): the
//! same [`EncodedReady`], [`PersistBatch`], [`PersistMode`]s and pipelining contract, so one
//! driver, one WAL and one simulator disk model serve both protocols.
//!
//! The `MemStorage` is the durable model: in [`PersistMode::InReady`] `ready` writes each
//! batch into it; in [`PersistMode::ByCaller`] the caller makes each `PersistBatch` durable and
//! `advance` copies it in. A crash restarts from it alone. Messages this node sends itself
//! (its own promise and acceptances) wait in the Ready's marks and are stepped on `advance`,
//! when what they assert is durable: a candidate or leader counts itself only then.

use crate::codec::{decode_paxos_message, encode_paxos_message, DecodeError};
use crate::driver::NodeRole;
use crate::error::{RaftError, Result, StorageError};
use crate::paxos::ballot::Ballot;
use crate::paxos::config::PaxosConfig;
use crate::paxos::core::Paxos;
use crate::paxos::message::{Body, PaxosMessage, Slot};
use crate::paxos::snapshot_send::decode_paxos_snapshot_head;
use crate::raft::conf_change::ConfChange;
use crate::raft::mem_node::{EncodedReady, PersistBatch, PersistMode, StepError, MAX_READIES_IN_FLIGHT};
use crate::raft::message::{ConfState, Entry, HardState, NodeId, Snapshot};
use crate::raft::ready::{Role, SoftState};
use crate::raft::snapshot_send::SnapshotSend;
use crate::raft::storage::{MemStorage, Storage};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// What a Ready handed out leaves for its `advance`.
#[derive(Debug, Default)]
struct ReadyMarks {
    /// `ByCaller` mode: the batch to copy into the storage once durable.
    batch: Option<Arc<PersistBatch>>,
    /// Messages to this node itself, stepped once the batch (and every one before) is
    /// durable.
    self_messages: Vec<PaxosMessage>,
}

/// A node's state at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosStatus {
    pub id: NodeId,
    pub role: NodeRole,
    pub leader: Option<NodeId>,
    /// The acceptor's promise (the leader's or candidate's own ballot while it runs).
    pub promised: Ballot,
    pub chosen: Slot,
    /// The highest slot handed to the application.
    pub applying: Slot,
    pub first_slot: Slot,
    pub last_slot: Slot,
    /// Peers heard from within the election timeout.
    pub connected_peers: usize,
    /// At the leader: `(peer, matched)` per peer, ascending by id, `matched` the highest slot
    /// up to which the peer holds every slot at the leader's ballot (0 until it answers this
    /// ballot); empty elsewhere. Promotion waits on it (as on Raft's match index).
    pub matched: Vec<(NodeId, Slot)>,
}

pub struct PaxosNode {
    core: Paxos,
    storage: MemStorage,
    persist_mode: PersistMode,
    /// Oldest first; at most `max_readies_in_flight`.
    in_flight: VecDeque<ReadyMarks>,
    /// (role, leader, promise) last reported in a `soft_state`.
    prev_soft: (NodeRole, NodeId, Ballot),
    /// The hard state last handed out.
    prev_hard: HardState,
    /// The promise last handed out for persisting (`ByCaller` mode): a batch that changes only
    /// the chosen index promises nothing and needs no fsync.
    promise_persisted: u64,
    /// InstallSnapshot messages leave as `EncodedReady::snapshot_sends`, for the caller to
    /// stream (`paxos::snapshot_send`), instead of as one frame among the messages.
    pub stream_snapshots: bool,
}

impl PaxosNode {
    /// A node at first boot whose `ready` persists into its own in-memory storage.
    pub fn new(config: &PaxosConfig) -> Result<PaxosNode> {
        config.validate()?;
        PaxosNode::with_mode(config, MemStorage::new(config.voters.clone()), PersistMode::InReady)
    }

    /// A node over `storage` (what was durable before) with the given persistence duty. In
    /// `ByCaller` mode `storage` must hold exactly what the durable log recovered.
    pub fn with_mode(config: &PaxosConfig, storage: MemStorage, persist_mode: PersistMode) -> Result<PaxosNode> {
        let core = Paxos::new(config, &storage)?;
        let hard = storage.hard_state();
        let prev_soft = (core.role, core.leader, core.promised);
        Ok(PaxosNode {
            core,
            storage,
            persist_mode,
            in_flight: VecDeque::new(),
            prev_soft,
            prev_hard: hard,
            promise_persisted: hard.term,
            stream_snapshots: false,
        })
    }

    pub fn id(&self) -> NodeId {
        self.core.id
    }

    pub fn config(&self) -> &PaxosConfig {
        &self.core.cfg
    }

    pub fn persist_mode(&self) -> PersistMode {
        self.persist_mode
    }

    /// The durable model (what a crash leaves).
    pub fn storage(&self) -> &MemStorage {
        &self.storage
    }

    pub fn tick(&mut self) {
        self.core.tick();
    }

    /// Steps every complete frame at the start of `buf` and returns the bytes they took; a
    /// partial frame at the end waits for more input. Only Multi-Paxos frames.
    pub fn step_stream(&mut self, buf: &Bytes) -> std::result::Result<usize, StepError> {
        Ok(self.step_prefix(buf)?.0)
    }

    /// Steps every frame in `frames` (which must end on a frame boundary); returns how many.
    pub fn step_frames(&mut self, frames: &Bytes) -> std::result::Result<usize, StepError> {
        let (consumed, stepped) = self.step_prefix(frames)?;
        if consumed < frames.len() {
            return Err(StepError::Decode(DecodeError::Truncated));
        }
        Ok(stepped)
    }

    /// Steps an InstallSnapshot that arrived out of band from peer `from` (the stream's
    /// sender, as its hello and TLS identity name it): `head` as the sender's core encoded it
    /// (`SnapshotSend::head`) and the snapshot's `data`, received whole and checked by the
    /// caller; then it is stepped as if it had arrived whole. A malformed head, or one that
    /// claims another sender than `from` (a member speaking for another at its ballot), is an
    /// error and changes nothing (the caller drops that stream).
    pub fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        let msg = decode_paxos_snapshot_head(head, data, self.core.cfg.max_frame_bytes)?;
        if msg.from != from {
            let problem = format!("a snapshot head claims node {} on node {from}'s stream", msg.from);
            return Err(RaftError::InvalidMessage { from, problem }.into());
        }
        Ok(self.step(msg)?)
    }

    fn step_prefix(&mut self, buf: &Bytes) -> std::result::Result<(usize, usize), StepError> {
        let (mut consumed, mut stepped) = (0, 0);
        while consumed < buf.len() {
            let Some((msg, frame_bytes)) = decode_paxos_message(&buf.slice(consumed..), self.core.cfg.max_frame_bytes)?
            else {
                break;
            };
            consumed += frame_bytes;
            self.step(msg)?;
            stepped += 1;
        }
        Ok((consumed, stepped))
    }

    /// Steps one decoded message from a peer. A message claiming to come from this node is
    /// refused: this node's messages to itself never travel.
    pub fn step(&mut self, msg: PaxosMessage) -> Result<()> {
        if msg.from == self.core.id {
            return Err(RaftError::InvalidMessage { from: msg.from, problem: "a peer claims this node's id".into() });
        }
        self.core.step(msg)
    }

    pub fn propose(&mut self, data: Bytes) -> Result<()> {
        self.core.propose(vec![data])
    }

    pub fn propose_batch(&mut self, commands: Vec<Bytes>) -> Result<()> {
        self.core.propose(commands)
    }

    pub fn read_index(&mut self, request_id: u64) -> Result<()> {
        self.core.read_index(request_id)
    }

    /// Proposes a membership change (at the leader); see `paxos/membership.rs`.
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        self.core.propose_conf_change(change)
    }

    /// The configuration in force for the slot after the chosen index (voters and learners).
    pub fn conf_state(&self) -> &ConfState {
        self.core.conf_in_force().0
    }

    /// The last slot the configuration before the one in force governed (0: the initial
    /// configuration is in force): the configuration is in force on every node whose chosen
    /// index reached it.
    pub fn conf_index(&self) -> Slot {
        self.core.conf_in_force().1
    }

    /// The configuration after every chosen change, in force or not yet.
    pub fn latest_conf_state(&self) -> ConfState {
        self.core.membership.latest().clone()
    }

    /// The highest slot the leader knows `id` holds at its ballot (`None`: not leading, or
    /// not a peer).
    pub fn matched(&self, id: NodeId) -> Option<Slot> {
        self.core.progress.iter().find(|(peer, _)| *peer == id).map(|(_, p)| p.matched)
    }

    pub fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        self.core.transfer_leader(to)
    }

    /// Campaigns now, connected to a quorum or not (with leases, not while it hears from a
    /// live leader: `transfer_leader` to itself then).
    pub fn campaign(&mut self) {
        self.core.campaign(None);
    }

    /// Messages to `id` could not be delivered: the leader probes it again instead of
    /// pipelining (see `Paxos::report_unreachable`).
    pub fn report_unreachable(&mut self, id: NodeId) {
        self.core.report_unreachable(id);
    }

    pub fn role(&self) -> NodeRole {
        self.core.role
    }

    pub fn leader(&self) -> Option<NodeId> {
        Some(self.core.leader).filter(|&id| id != crate::raft::message::NO_NODE)
    }

    pub fn promised(&self) -> Ballot {
        self.core.promised
    }

    pub fn chosen(&self) -> Slot {
        self.core.log.chosen()
    }

    pub fn status(&self) -> PaxosStatus {
        PaxosStatus {
            id: self.core.id,
            role: self.core.role,
            leader: self.leader(),
            promised: self.core.promised,
            chosen: self.core.log.chosen(),
            applying: self.core.log.applying(),
            first_slot: self.core.log.first_slot(),
            last_slot: self.core.log.last_slot(),
            connected_peers: self.core.election.connected_peers(),
            matched: self.core.progress.iter().map(|(id, p)| (*id, p.matched)).collect(),
        }
    }

    pub fn max_readies_in_flight(&self) -> usize {
        match self.persist_mode {
            PersistMode::InReady => 1,
            PersistMode::ByCaller => MAX_READIES_IN_FLIGHT,
        }
    }

    pub fn readies_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn hard_state(&self) -> HardState {
        HardState::new(self.core.promised.to_u64(), 0, self.core.log.chosen())
    }

    fn soft(&self) -> (NodeRole, NodeId, Ballot) {
        (self.core.role, self.core.leader, self.core.promised)
    }

    /// The hard state when only its chosen index moved: it needs no write.
    fn commit_only_change(&self) -> Option<HardState> {
        let (hard, prev) = (self.hard_state(), self.prev_hard);
        (hard.commit != prev.commit && hard.term == prev.term).then_some(hard)
    }

    /// Whether the stored copy of `entry`'s slot is this very entry (same slot, same ballot:
    /// one value per slot and ballot).
    fn durable(storage: &MemStorage, entry: &Entry) -> bool {
        storage.term(entry.index) == Ok(entry.term)
    }

    pub fn has_ready(&self) -> bool {
        self.has_ready_without_write()
            || self.hard_state() != self.prev_hard
            || self.core.pending_snapshot.is_some()
            || self.core.log.has_dirty()
            || !self.core.msgs_after_persist.is_empty()
    }

    pub fn has_ready_without_write(&self) -> bool {
        self.soft() != self.prev_soft
            || self.commit_only_change().is_some()
            || !self.core.msgs.is_empty()
            || !self.core.read_states.is_empty()
            || self.snapshot_durable() && self.core.log.has_next_chosen(|e| Self::durable(&self.storage, e))
    }

    /// Whether the storage holds the log's snapshot: while a snapshot installed from a peer is
    /// not durable (or is being handed out), nothing after it is handed out to apply, so the
    /// application restores it before it applies the slots that follow.
    fn snapshot_durable(&self) -> bool {
        self.core.pending_snapshot.is_none() && self.storage.first_index() > self.core.log.snapshot_index()
    }

    /// Takes the next Ready (see `MemNode::ready` for the contract); `None` when there is
    /// nothing to do.
    pub fn ready(&mut self) -> Option<EncodedReady> {
        self.has_ready().then(|| self.take_ready(true))
    }

    /// A Ready that asks for no write (see `MemNode::ready_without_write`).
    pub fn ready_without_write(&mut self) -> Option<EncodedReady> {
        self.has_ready_without_write().then(|| self.take_ready(false))
    }

    /// `ready`, refused with `ReadyNotAdvanced` when `max_readies_in_flight` are out.
    pub fn try_ready(&mut self) -> Result<Option<EncodedReady>> {
        let limit = self.max_readies_in_flight();
        if self.in_flight.len() >= limit {
            return Err(RaftError::ReadyNotAdvanced { limit });
        }
        Ok(self.ready())
    }

    fn take_ready(&mut self, with_write: bool) -> EncodedReady {
        let mut out = EncodedReady::default();
        let soft = self.soft();
        if soft != self.prev_soft {
            self.prev_soft = soft;
            out.soft_state = Some(SoftState { leader: soft.1, role: raft_role(soft.0) });
        }
        let mut marks = ReadyMarks::default();
        let mut at_once = std::mem::take(&mut self.core.msgs);
        out.snapshot_sends = self.take_snapshot_sends(&mut at_once);
        if with_write {
            self.take_write(&mut out, &mut marks);
            let mut after = std::mem::take(&mut self.core.msgs_after_persist);
            // None today (an InstallSnapshot asserts nothing durable), taken all the same.
            out.snapshot_sends.extend(self.take_snapshot_sends(&mut after));
            match self.persist_mode {
                PersistMode::InReady => at_once.extend(after),
                PersistMode::ByCaller => {
                    out.persisted_messages = self.encode_by_destination(after, &mut marks.self_messages);
                }
            }
        } else if let Some(hard) = self.commit_only_change() {
            out.hard_state = Some(hard);
            self.prev_hard = hard;
        }
        out.messages = self.encode_by_destination(at_once, &mut marks.self_messages);
        let cfg = &self.core.cfg;
        let (max_entries, max_bytes) = (cfg.max_committed_entries_per_ready, cfg.max_committed_bytes_per_ready);
        let storage = &self.storage;
        if out.snapshot.is_none() && self.snapshot_durable() {
            out.committed_entries = self.core.log.next_chosen(|e| Self::durable(storage, e), max_entries, max_bytes);
        }
        if let Some(last) = out.committed_entries.last() {
            self.core.log.applying_to(last.index);
        }
        out.read_states = std::mem::take(&mut self.core.read_states);
        self.in_flight.push_back(marks);
        out
    }

    /// Duty 1 of a Ready with a write: snapshot, slots to write (the tail rewrite of
    /// `log.rs`), hard state; written into the storage at once (`InReady`) or handed out.
    fn take_write(&mut self, out: &mut EncodedReady, marks: &mut ReadyMarks) {
        let snapshot = self.core.pending_snapshot.take();
        let entries = self.core.log.take_dirty();
        let hard = self.hard_state();
        // A snapshot replaces the stored hard state's chosen index: always write the hard state
        // after it.
        let hard_state = (hard != self.prev_hard || snapshot.is_some()).then_some(hard);
        self.prev_hard = hard;
        out.hard_state = hard_state;
        out.snapshot = snapshot.clone();
        if hard_state.is_none() && snapshot.is_none() && entries.is_empty() {
            return;
        }
        match self.persist_mode {
            PersistMode::InReady => {
                let written = self.storage.persist(snapshot.as_ref(), entries, hard_state);
                debug_assert!(written.is_ok(), "a snapshot handed out is newer than the stored one: {written:?}");
            }
            PersistMode::ByCaller => {
                let promises = snapshot.is_some() || !entries.is_empty() || hard.term != self.promise_persisted;
                self.promise_persisted = hard.term;
                let batch = Arc::new(PersistBatch { snapshot, entries, hard_state, must_sync: promises });
                marks.batch = Some(batch.clone());
                out.persist = Some(batch);
            }
        }
    }

    /// With `stream_snapshots`, takes the InstallSnapshot messages out of `msgs` (the rest
    /// keep their order) as sends out of band; they may leave at once.
    fn take_snapshot_sends(&self, msgs: &mut Vec<PaxosMessage>) -> Vec<SnapshotSend> {
        if !self.stream_snapshots {
            return Vec::new();
        }
        let mut sends = Vec::new();
        msgs.retain(|m| {
            let streamed = matches!(m.body, Body::Snapshot { .. }) && m.to != self.core.id;
            if streamed {
                sends.push(SnapshotSend::from_paxos_message(m));
            }
            !streamed
        });
        sends
    }

    /// Encodes `msgs` into one buffer per destination (ascending), keeping each destination's
    /// order; messages to this node go to `to_self` instead.
    fn encode_by_destination(
        &self,
        msgs: Vec<PaxosMessage>,
        to_self: &mut Vec<PaxosMessage>,
    ) -> Vec<(NodeId, Vec<u8>)> {
        let mut out: Vec<(NodeId, Vec<u8>)> = Vec::new();
        for m in msgs {
            if m.to == self.core.id {
                to_self.push(m);
                continue;
            }
            let pos = match out.binary_search_by_key(&m.to, |(id, _)| *id) {
                Ok(pos) => pos,
                Err(pos) => {
                    out.insert(pos, (m.to, Vec::new()));
                    pos
                }
            };
            encode_paxos_message(&m, &mut out[pos].1);
        }
        out
    }

    /// The oldest Ready not yet advanced was carried out: its batch is durable (`ByCaller`:
    /// copied into the storage now), so the messages this node sent itself are stepped.
    pub fn advance(&mut self) {
        let Some(marks) = self.in_flight.pop_front() else { return };
        // A batch that only moved the chosen index is not written by the caller (it is
        // volatile), so the durable model does not get it either.
        if let Some(batch) = marks.batch.filter(|batch| batch.must_sync) {
            let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
            let written = self.storage.persist(batch.snapshot.as_ref(), batch.entries, batch.hard_state);
            debug_assert!(written.is_ok(), "a snapshot handed out is newer than the stored one: {written:?}");
        }
        for m in marks.self_messages {
            // Built by this node: always valid.
            let stepped = self.core.step(m);
            debug_assert!(stepped.is_ok(), "a message to self was refused: {stepped:?}");
        }
    }

    /// Simulates a crash and restart: everything not in the storage is lost; `applied` is the
    /// slot the application had applied (its state survives or is rebuilt).
    pub fn crash_restart(&mut self, applied: Slot) -> Result<()> {
        let mut config = self.core.cfg.clone();
        config.applied = applied;
        // A fresh seed stream: a restarted process does not replay its old timeouts.
        config.seed = config.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let stream_snapshots = self.stream_snapshots;
        *self = PaxosNode::with_mode(&config, self.storage.clone(), self.persist_mode)?;
        self.stream_snapshots = stream_snapshots;
        Ok(())
    }

    /// Records an application snapshot at `index` (at most the slot handed out to apply, which
    /// is chosen and durable) and compacts the log up to it. Returns the snapshot.
    pub fn compact(&mut self, index: Slot, data: Bytes) -> Result<Snapshot> {
        let applying = self.core.log.applying();
        if index > applying {
            return Err(RaftError::Storage(StorageError::Unavailable { index, last_index: applying }));
        }
        let current = self.core.log.snapshot_index();
        if index <= current {
            return Err(RaftError::Storage(StorageError::SnapshotOutOfDate { index, current }));
        }
        if self.core.snapshot_cuts_change(index) {
            // One configuration must describe every slot after a snapshot (`membership.rs`).
            return Err(RaftError::ProposalDropped { reason: crate::error::DropReason::ConfChangePending });
        }
        let conf_state = self.core.membership.conf_at(index + 1).clone();
        self.storage.create_snapshot(index, data)?;
        self.storage.set_snapshot_conf_state(conf_state);
        let snapshot = self.storage.snapshot();
        self.core.log.compact(index, snapshot.meta.term);
        self.core.latest_snapshot = snapshot.clone();
        Ok(snapshot)
    }
}

fn raft_role(role: NodeRole) -> Role {
    match role {
        NodeRole::Follower => Role::Follower,
        NodeRole::Candidate => Role::Candidate,
        NodeRole::Leader => Role::Leader,
    }
}
