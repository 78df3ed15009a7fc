//! The public node API: tick, step, propose, read_index, ready, advance.

use crate::error::Result;
use crate::raft::conf_change::ConfChange;
use crate::raft::config::Config;
use crate::raft::core::Raft;
use crate::raft::message::{ConfState, HardState, Index, Message, NodeId, Term};
use crate::raft::ready::{Ready, SoftState};
use crate::raft::status::{PeerStatus, Status};
use crate::raft::storage::Storage;
use bytes::Bytes;
use std::collections::VecDeque;

/// What a `Ready` handed out covers, so that its `advance` knows what became durable and
/// applied.
#[derive(Debug, Default)]
struct ReadyMarks {
    last_entry: Option<(Index, Term)>,
    snapshot_index: Option<Index>,
    applying: Option<Index>,
}

/// A Raft node. One thread or task drives it: inputs (`tick`, `step`, `propose`, ...) change
/// its state, `ready` hands out the work they caused, `advance` says the work is done.
///
/// Readies may be pipelined: `ready` may be called again before the earlier ones are
/// advanced, and each `advance` acknowledges the oldest Ready not yet advanced (their writes
/// complete in order). A caller that does so calls `apply_durable_only` first, so that a
/// Ready's committed entries are all durable here and may be applied at once.
pub struct RawNode<S: Storage> {
    raft: Raft<S>,
    prev_soft_state: SoftState,
    /// The hard state last handed out (durable once its Ready is advanced).
    prev_hard_state: HardState,
    /// `Raft::conf_switches` when a Ready last reported the configuration (or at start).
    prev_conf_switches: u64,
    /// The Readies handed out and not yet advanced, oldest first.
    in_flight: VecDeque<ReadyMarks>,
}

impl<S: Storage> RawNode<S> {
    /// A node over `storage` (which holds whatever was persisted before a restart).
    pub fn new(config: &Config, storage: S) -> Result<RawNode<S>> {
        let raft = Raft::new(config, storage)?;
        let prev_soft_state = SoftState { leader: raft.leader, role: raft.role };
        let prev_hard_state = raft.log.storage.initial_state().0;
        let prev_conf_switches = raft.conf_switches;
        Ok(RawNode { raft, prev_soft_state, prev_hard_state, prev_conf_switches, in_flight: VecDeque::new() })
    }

    /// Advances logical time by one tick (elections, heartbeats, check-quorum).
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Feeds one message received from a peer. Stale or irrelevant messages are ignored;
    /// a message from a node outside the cluster is `UnknownPeer`.
    pub fn step(&mut self, msg: Message) -> Result<()> {
        self.raft.step(msg)
    }

    /// Proposes one command. At a follower it is forwarded to the leader.
    pub fn propose(&mut self, data: Bytes) -> Result<()> {
        self.raft.propose(vec![data])
    }

    /// Proposes a batch of commands; at the leader they get consecutive indexes.
    pub fn propose_batch(&mut self, data: Vec<Bytes>) -> Result<()> {
        self.raft.propose(data)
    }

    /// Proposes a membership change (at the leader only: elsewhere `NotLeader`). Refused with
    /// `ProposalDropped(ConfChangePending)` while another change is not yet applied, and with
    /// `InvalidConfig { field: "conf_change" }` when it does not apply to the configuration in
    /// force. It takes effect when its entry is handed out to apply; a `Ready` then reports the
    /// new configuration (`Ready::conf_state`).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        self.raft.propose_conf_change(change)
    }

    /// The configuration in force.
    pub fn conf_state(&self) -> &ConfState {
        &self.raft.conf_state
    }

    /// The index of the membership change (or of the snapshot) the configuration in force
    /// comes from: configurations are a function of the committed log, so two nodes with the
    /// same `conf_index` have the same configuration.
    pub fn conf_index(&self) -> Index {
        self.raft.conf_applied_index
    }

    /// Requests a linearizable read under `request_id`; a `ReadState` with that id comes out
    /// in a later `Ready` once leadership is confirmed. Requests lost with a leader change
    /// produce nothing: callers retry after a timeout.
    pub fn read_index(&mut self, request_id: u64) -> Result<()> {
        let id = self.raft.id;
        self.raft.read_index(id, request_id)
    }

    /// Asks the leader to hand leadership to `to` (forwarded from a follower).
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        self.raft.transfer_leader(to)
    }

    /// Starts an election now (with a pre-vote round when pre-vote is on). With lease reads,
    /// a node that may be backing its leader's lease asks the leader to hand over instead
    /// (see `Raft::campaign_requested`).
    pub fn campaign(&mut self) {
        self.raft.campaign_requested();
    }

    /// Tells the leader that messages to `id` could not be delivered.
    pub fn report_unreachable(&mut self, id: NodeId) {
        self.raft.report_unreachable(id);
    }

    fn soft_state(&self) -> SoftState {
        SoftState { leader: self.raft.leader, role: self.raft.role }
    }

    fn hard_state(&self) -> HardState {
        HardState {
            abstaining: self.raft.abstains(),
            ..HardState::new(self.raft.term, self.raft.vote, self.raft.log.committed)
        }
    }

    /// How many Readies were handed out and not yet advanced.
    pub fn readies_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Committed entries are handed out only once durable here (`advance`d), instead of once
    /// handed out for persisting: for callers that pipeline Readies, so that the committed
    /// entries of a Ready may be applied while its own write (and earlier ones) are in flight.
    pub fn apply_durable_only(&mut self) {
        self.raft.log.apply_durable_only = true;
    }

    /// True when `ready` would return something.
    pub fn has_ready(&self) -> bool {
        let r = &self.raft;
        self.has_ready_without_write()
            || self.hard_state() != self.prev_hard_state
            || r.log.unstable.next_snapshot().is_some()
            || !r.log.unstable.next_entries().is_empty()
            || !r.msgs_after_persist.is_empty()
    }

    /// True when `ready_without_write` would return something.
    pub fn has_ready_without_write(&self) -> bool {
        let r = &self.raft;
        self.soft_state() != self.prev_soft_state
            || r.conf_switches != self.prev_conf_switches
            || self.commit_only_change().is_some()
            || !r.msgs.is_empty()
            || !r.read_states.is_empty()
            || r.log.has_next_committed_entries()
            || r.has_reads_to_flush()
    }

    /// The hard state to hand out when only its commit index moved since the last one: it
    /// promises nothing, so it needs no write (`None` when it did not move, or when the term,
    /// vote or abstention moved too).
    fn commit_only_change(&self) -> Option<HardState> {
        let (hard, prev) = (self.hard_state(), self.prev_hard_state);
        let same_promises = hard.term == prev.term && hard.vote == prev.vote && hard.abstaining == prev.abstaining;
        (hard.commit != prev.commit && same_promises).then_some(hard)
    }

    /// Hands out the work accumulated since the last `Ready`. Each `Ready` is followed by one
    /// `advance`, in order; see the type's docs for pipelining.
    pub fn ready(&mut self) -> Ready {
        self.take_ready(true)
    }

    /// A `Ready` that asks for no write: what `ready` would hand out but for new entries, a
    /// snapshot, a changed term or vote, and the messages that wait for those to be durable;
    /// they stay for the next `ready`. For callers that pipeline Readies and have writes in
    /// flight: committed entries, confirmed reads and messages that may leave at once (the
    /// leader's appends to followers among them, thesis section 10.2.1) need not wait for
    /// those writes. Advanced in turn like any other.
    pub fn ready_without_write(&mut self) -> Ready {
        self.take_ready(false)
    }

    fn take_ready(&mut self, with_write: bool) -> Ready {
        self.raft.flush_reads();
        let mut rd = Ready::default();
        let mut marks = ReadyMarks::default();
        let soft = self.soft_state();
        if soft != self.prev_soft_state {
            rd.soft_state = Some(soft);
            self.prev_soft_state = soft;
        }
        let hard = if with_write { Some(self.hard_state()) } else { self.commit_only_change() };
        if let Some(hard) = hard.filter(|hard| *hard != self.prev_hard_state) {
            rd.hard_state = Some(hard);
            self.prev_hard_state = hard;
        }
        let log = &mut self.raft.log;
        if with_write {
            if let Some(snapshot) = log.unstable.next_snapshot() {
                marks.snapshot_index = Some(snapshot.meta.index);
                rd.snapshot = Some(snapshot.clone());
            }
            rd.entries = log.unstable.next_entries().to_vec();
            marks.last_entry = rd.entries.last().map(|e| (e.index, e.term));
            log.unstable.accept_in_progress();
        }
        let cfg = &self.raft.cfg;
        rd.committed_entries =
            log.next_committed_entries(cfg.max_committed_entries_per_ready, cfg.max_committed_bytes_per_ready);
        if let Some(last) = rd.committed_entries.last() {
            log.applying_to(last.index);
            marks.applying = Some(last.index);
            self.raft.reduce_uncommitted_bytes(&rd.committed_entries);
            self.raft.apply_conf_entries(&rd.committed_entries);
        }
        if self.raft.conf_switches != self.prev_conf_switches {
            self.prev_conf_switches = self.raft.conf_switches;
            rd.conf_state = Some(self.raft.conf_state.clone());
        }
        rd.messages = std::mem::take(&mut self.raft.msgs);
        if with_write {
            rd.persisted_messages = std::mem::take(&mut self.raft.msgs_after_persist);
        }
        rd.read_states = std::mem::take(&mut self.raft.read_states);
        self.in_flight.push_back(marks);
        rd
    }

    /// Tells the node that the oldest `Ready` not yet advanced was handled: its entries, hard
    /// state and snapshot are durable, its messages were sent and its committed entries
    /// applied. Does nothing when every Ready was advanced.
    pub fn advance(&mut self) {
        let Some(marks) = self.in_flight.pop_front() else { return };
        let log = &mut self.raft.log;
        if let Some(index) = marks.snapshot_index {
            log.stable_snap_to(index);
            log.applied_to(index);
        }
        if let Some((index, term)) = marks.last_entry {
            log.stable_to(index, term);
        }
        if let Some(index) = marks.applying {
            log.applied_to(index);
        }
        let persisted = log.persisted;
        self.raft.on_persisted(persisted);
    }

    pub fn status(&self) -> Status {
        let r = &self.raft;
        let peers = if r.role == crate::raft::ready::Role::Leader {
            r.progress
                .iter()
                .filter(|(id, _)| *id != r.id)
                .map(|(id, p)| PeerStatus {
                    id: *id,
                    match_index: p.match_index,
                    next_index: p.next_index,
                    state: p.state,
                    recent_active: p.recent_active,
                    lost_log_at: p.lost_log_at,
                })
                .collect()
        } else {
            Vec::new()
        };
        Status {
            id: r.id,
            role: r.role,
            term: r.term,
            vote: r.vote,
            leader: r.leader,
            commit: r.log.committed,
            applied: r.log.applied,
            first_index: r.log.first_index(),
            last_index: r.log.last_index(),
            peers,
            lead_transferee: r.lead_transferee,
            conf_state: r.conf_state.clone(),
            empty_disk: r.empty_disk,
        }
    }

    /// Whether this node came back with an empty disk (`raft::empty_disk`).
    pub fn empty_disk(&self) -> crate::raft::empty_disk::EmptyDisk {
        self.raft.empty_disk
    }

    /// Followers found to have lost their log (as a leader) since the start, and the last one.
    pub fn lost_logs_seen(&self) -> (u64, NodeId) {
        (self.raft.lost_logs_seen, self.raft.last_lost_log_peer)
    }

    /// The role, without building a `Status`.
    pub fn role(&self) -> crate::raft::ready::Role {
        self.raft.role
    }

    pub fn term(&self) -> Term {
        self.raft.term
    }

    /// The known leader, or `NO_NODE`.
    pub fn leader(&self) -> NodeId {
        self.raft.leader
    }

    pub fn storage(&self) -> &S {
        &self.raft.log.storage
    }

    /// Mutable access for writing what a `Ready` hands out and for compaction. Only entries
    /// at or below the applied index may be compacted.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.raft.log.storage
    }

    pub fn config(&self) -> &Config {
        &self.raft.cfg
    }

    pub fn id(&self) -> NodeId {
        self.raft.id
    }

    /// Highest committed index.
    pub fn commit_index(&self) -> Index {
        self.raft.log.committed
    }

    /// Highest index durable here and consistent with the in-memory log (entries past it may
    /// be in flight to the disk, or about to replace a durable suffix).
    pub fn persisted_index(&self) -> Index {
        self.raft.log.persisted
    }

    /// Highest index the application reported applied.
    pub fn applied_index(&self) -> Index {
        self.raft.log.applied
    }

    /// Highest index handed to the application in a `Ready` (applied, or being applied).
    pub fn applying_index(&self) -> Index {
        self.raft.log.applying
    }
}
