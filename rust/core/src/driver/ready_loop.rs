//! [`Driver`]: the policy that carries out a core's Readies, given the time as an argument.

use crate::codec::decode_conf_change;
use crate::driver::action::{Action, WriteId};
use crate::driver::apply_queue::ApplyQueue;
use crate::driver::options::{DriverOptions, Nanos, MAX_TICKS_PER_POLL};
use crate::driver::protocol::{Consensus, NodeRole};
use crate::driver::reads::Reads;
use crate::driver::restores::Restores;
use crate::driver::snapshots::Snapshots;
use crate::driver::writes::Writes;
use crate::error::Result;
use crate::raft::mem_node::{EncodedReady, StepError};
use crate::raft::message::{ConfState, Entry, EntryKind, Index, NodeId};
use bytes::Bytes;

/// The kind of Ready the rules allow taking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadyKind {
    /// Writes are below the limit: a Ready with everything.
    Full,
    /// A write is stalled at the limit: one Ready with everything per heartbeat interval.
    PastLimit,
    /// Writes are at the limit: what needs no write.
    WithoutWrite,
}

/// Why the driver stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The durable log failed a write: nothing after it is durable, and serving on would
    /// acknowledge what is not. The node stops.
    #[error("log write {id} failed: {message}")]
    WriteFailed { id: WriteId, message: String },
    /// The application could not restore the leader's snapshot: the log holds it durably and
    /// nothing before it, so the node cannot go on without it. The node stops (and restores
    /// it again at its next start).
    #[error("restoring the snapshot at index {index} failed: {message}")]
    RestoreFailed { index: Index, message: String },
}

/// What the caller does after carrying out the actions of a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing more to do until new input (a frame, a proposal, a read, a tick, a write or a
    /// snapshot done): wait for it.
    Idle,
    /// Poll again at once.
    Continue,
    /// Let the caller's loop run (sockets, timers), then poll again: the drive slice is used.
    Yield,
}

/// Runs one consensus core: takes its Readies when the rules below allow, and turns them into
/// [`Action`]s. Sans-IO: it never reads a clock (every call that needs the time takes
/// `now_ns`), never blocks and never does I/O.
///
/// The rules, each from a failure seen in production runs:
/// - Readies are pipelined: up to `max_writes_in_flight` may be writing at once, advanced in
///   order as each becomes durable, so a leader counts acknowledgements arriving while its own
///   write is in progress.
/// - At that limit, Readies that write nothing (committed entries, confirmed reads, messages
///   that may leave at once) are still taken, so a leader answers its callers as soon as a
///   quorum holds their entries. A leader's proposals wait for the next write, to share its
///   fsync.
/// - While a write is stalled (waiting `write_stall_ns` or more), one Ready per heartbeat
///   interval is taken past the limit, so heartbeats and their answers go on and a slow disk
///   does not cost the leadership.
/// - Work is sliced: after `drive_slice_ns` of polls the caller's loop runs; an `Apply` stops
///   at its deadline and the rest is applied after the loop ran.
/// - While a snapshot of an application that cannot capture its state is taken, nothing is
///   applied; past `max_apply_backlog_bytes` waiting, no Ready is taken until it is done.
/// - A snapshot from the leader is restored by the caller as a job while Readies go on being
///   taken: when it is handed out and what waits meanwhile is `driver::restores`' doc.
pub struct Driver<C: Consensus> {
    pub(super) core: C,
    pub(super) options: DriverOptions,
    pub(super) writes: Writes,
    pub(super) apply: ApplyQueue,
    pub(super) reads: Reads,
    pub(super) snapshots: Snapshots,
    /// The leader's snapshot waiting to be restored, and the one being restored.
    pub(super) restores: Restores,
    pub(super) applied_index: Index,
    /// Ticks handed to the core so far.
    pub(super) now_ticks: u64,
    /// Ticks due and not yet handed to the core.
    pub(super) ticks_due: u64,
    /// The time the last counted tick was due.
    pub(super) last_tick_ns: Nanos,
    /// The tick at which the last Ready past `max_writes_in_flight` was taken.
    pub(super) past_limit_tick: u64,
    /// When the current drive slice started; `None` after an `Idle` or `Yield`.
    pub(super) slice_started_ns: Option<Nanos>,
    pub(super) role: NodeRole,
    pub(super) leader: Option<NodeId>,
    pub(super) epoch: u64,
    /// The configuration in force last announced (`Action::ConfChanged`).
    pub(super) conf_state: ConfState,
    pub(super) error: Option<DriverError>,
    pub(super) stats: DriverStats,
}

/// Counters of a driver's work (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    pub readies: u64,
    pub readies_without_write: u64,
    pub readies_past_limit: u64,
    pub writes: u64,
    pub entries_applied: u64,
    pub snapshots_taken: u64,
    pub snapshots_restored: u64,
}

impl<C: Consensus> Driver<C> {
    /// A driver for `core`, whose application has applied up to `applied_index` (restored from
    /// a snapshot at that index, or 0), starting at time `now_ns`.
    pub fn new(core: C, options: DriverOptions, applied_index: Index, now_ns: Nanos) -> Result<Driver<C>> {
        options.validate(core.max_readies_in_flight())?;
        let (role, leader, epoch) = (core.role(), core.leader(), core.epoch());
        let conf_state = core.conf_state().clone();
        let first_read_id = options.first_read_id;
        Ok(Driver {
            core,
            options,
            writes: Writes::default(),
            apply: ApplyQueue::default(),
            reads: Reads::starting_at(first_read_id),
            snapshots: Snapshots { snapshot_index: applied_index, ..Snapshots::default() },
            restores: Restores::default(),
            applied_index,
            now_ticks: 0,
            ticks_due: 0,
            last_tick_ns: now_ns,
            past_limit_tick: 0,
            slice_started_ns: None,
            role,
            leader,
            epoch,
            conf_state,
            error: None,
            stats: DriverStats::default(),
        })
    }

    pub fn core(&self) -> &C {
        &self.core
    }

    /// The core, for inputs the driver has no policy for (leadership transfer, campaign).
    pub fn core_mut(&mut self) -> &mut C {
        &mut self.core
    }

    pub fn options(&self) -> &DriverOptions {
        &self.options
    }

    pub fn applied_index(&self) -> Index {
        self.applied_index
    }

    pub fn snapshot_index(&self) -> Index {
        self.snapshots.snapshot_index
    }

    pub fn role(&self) -> NodeRole {
        self.role
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn now_ticks(&self) -> u64 {
        self.now_ticks
    }

    pub fn writes_in_flight(&self) -> usize {
        self.writes.in_flight()
    }

    pub fn readies_unadvanced(&self) -> usize {
        self.writes.unadvanced()
    }

    /// Payload bytes of committed entries waiting to be applied.
    pub fn apply_backlog_bytes(&self) -> usize {
        self.apply.bytes()
    }

    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    // --- input ---------------------------------------------------------------------------

    /// The tick timer fired at `now_ns`: counts the ticks due since the last one (a timer may
    /// fire up to `slack_ns` early) and returns when the next is due. The caller arms its
    /// timer for that time and polls when ticks are due (`ticks_due() > 0`).
    pub fn on_timer(&mut self, now_ns: Nanos, slack_ns: Nanos) -> Nanos {
        let period = self.options.tick_ns;
        let elapsed = (now_ns + slack_ns).saturating_sub(self.last_tick_ns) / period;
        if elapsed > 0 {
            self.ticks_due += elapsed;
            self.last_tick_ns += elapsed * period;
        }
        self.last_tick_ns + period
    }

    /// Counts `n` ticks due, for a caller that keeps its own tick clock (the simulator, where
    /// a slow node is a slow clock).
    pub fn add_ticks(&mut self, n: u64) {
        self.ticks_due += n;
    }

    pub fn ticks_due(&self) -> u64 {
        self.ticks_due
    }

    /// Steps a snapshot message that arrived out of band (see [`Consensus::step_snapshot`]).
    pub fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        self.core.step_snapshot(from, head, data)
    }

    /// Steps a peer's byte stream (see [`Consensus::step_stream`]).
    pub fn step_stream(&mut self, data: &Bytes) -> std::result::Result<usize, StepError> {
        self.core.step_stream(data)
    }

    pub fn report_unreachable(&mut self, id: NodeId) {
        self.core.report_unreachable(id);
    }

    /// Whether proposals may go to the core now: a leader's wait while its writes are at the
    /// limit, to go into the Ready that writes them (one fsync for all that arrived
    /// meanwhile) instead of out one by one; a follower forwards them at once.
    pub fn may_propose(&self) -> bool {
        self.role != NodeRole::Leader || self.writes.in_flight() < self.options.max_writes_in_flight
    }

    /// Proposes commands (at most `max_batch_proposals`; the caller keeps the rest for the
    /// next call). `NotLeader`: keep them and retry; `ProposalDropped`: they are refused.
    pub fn propose_batch(&mut self, commands: Vec<Bytes>) -> Result<()> {
        debug_assert!(commands.len() <= self.options.max_batch_proposals);
        self.core.propose_batch(commands)
    }

    /// A linearizable read: returns the id of the batch it joined; an `Action::ServeReads`
    /// names that id once the read may be served.
    pub fn request_read(&mut self) -> u64 {
        self.reads.request()
    }

    /// Nobody waits for read batch `id` any more.
    pub fn cancel_read(&mut self, id: u64) {
        self.reads.cancel(id);
    }

    /// Writes up to `id` are durable (writes complete in the order handed out). Appends the
    /// messages that waited for them.
    pub fn writes_done(&mut self, id: WriteId, now_ns: Nanos, out: &mut Vec<Action>) {
        self.writes.complete(id, now_ns, self.options.slow_write_ns, out);
    }

    /// Write `id` failed: nothing after it is durable either. The next poll fails.
    pub fn write_failed(&mut self, id: WriteId, message: String) {
        self.error.get_or_insert(DriverError::WriteFailed { id, message });
    }

    /// The caller applied the last `Apply`'s entries up to `index` (inclusive).
    pub fn applied_to(&mut self, index: Index) {
        let freed = self.apply.applied_to(index);
        if index > self.applied_index {
            self.stats.entries_applied += index - self.applied_index;
            self.applied_index = index;
        }
        self.snapshots.bytes_since += freed as u64;
    }

    /// Everything in flight is lost (the process crashed); the core restarts separately. The
    /// application restarts at `applied_index`.
    pub fn crash(&mut self, applied_index: Index, now_ns: Nanos) {
        self.writes.clear();
        self.apply.clear();
        // Read ids go on counting: answers to rounds issued before the crash may still come.
        self.reads = Reads::starting_at(self.reads.next_id());
        let snapshot_index = self.snapshots.snapshot_index.min(applied_index);
        self.snapshots = Snapshots { snapshot_index, ..Snapshots::default() };
        self.restores = Restores::default();
        self.applied_index = applied_index;
        self.ticks_due = 0;
        self.last_tick_ns = now_ns;
        self.slice_started_ns = None;
        self.error = None;
        self.role = self.core.role();
        self.leader = self.core.leader();
        self.epoch = self.core.epoch();
        self.conf_state = self.core.conf_state().clone();
    }

    /// Every read batch not yet served, forgotten (the node stops: their readers fail).
    pub fn take_unserved_reads(&mut self) -> Vec<u64> {
        self.reads.clear()
    }

    // --- the loop ------------------------------------------------------------------------

    /// Does one round of work at `now_ns` and appends the actions it calls for to `out`, to be
    /// carried out in order. At most one `Apply` per poll, and it comes last: report it with
    /// `applied_to` before the next poll.
    pub fn poll(&mut self, now_ns: Nanos, out: &mut Vec<Action>) -> std::result::Result<Next, DriverError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let slice_started = *self.slice_started_ns.get_or_insert(now_ns);
        if now_ns.saturating_sub(slice_started) >= self.options.drive_slice_ns {
            self.slice_started_ns = None;
            return Ok(Next::Yield);
        }
        let next = self.round(now_ns, out);
        if next == Next::Idle {
            self.slice_started_ns = None;
        }
        Ok(next)
    }

    fn round(&mut self, now_ns: Nanos, out: &mut Vec<Action>) -> Next {
        self.settle_snapshot(out);
        self.settle_restore();
        self.advance_durable();
        self.take_ticks();
        if self.reads.has_to_issue() {
            self.reads.issue(&mut self.core, self.now_ticks);
        }
        let took_ready =
            if self.restores.pending.is_some() { self.try_restore(out) } else { self.take_ready(now_ns, out) };
        self.serve_reads(out);
        // `due` is false while a snapshot is being taken; none is taken of a state about to be
        // replaced.
        if !self.restores.busy() && self.snapshots.due(&self.options, self.applied_index) {
            self.start_snapshot(out);
            return Next::Continue;
        }
        let applying = self.hand_out_apply(now_ns, out);
        if took_ready || applying || self.ready_allowed(now_ns).is_some() {
            Next::Continue
        } else {
            Next::Idle
        }
    }

    fn advance_durable(&mut self) {
        for _ in 0..self.writes.take_advance_due() {
            self.core.advance();
        }
    }

    fn take_ticks(&mut self) {
        if self.ticks_due == 0 {
            return;
        }
        let n = self.ticks_due.min(MAX_TICKS_PER_POLL);
        self.ticks_due = 0;
        for _ in 0..n {
            self.core.tick();
        }
        self.now_ticks += n;
        let horizon = self.now_ticks.saturating_sub(self.options.read_retry_ticks);
        self.reads.retry_older_than(horizon);
    }

    /// The kind of Ready the rules of the type's docs allow taking now, if any.
    fn ready_allowed(&self, now_ns: Nanos) -> Option<ReadyKind> {
        if !self.core.has_ready()
            || self.restores.pending.is_some()
            || self.writes.unadvanced() >= self.core.max_readies_in_flight()
            || self.holds_applies() && self.apply.bytes() > self.options.max_apply_backlog_bytes
        {
            return None;
        }
        if self.writes.in_flight() < self.options.max_writes_in_flight {
            return Some(ReadyKind::Full);
        }
        if self.writes.oldest_waited(now_ns, self.options.write_stall_ns) {
            let due = self.now_ticks >= self.past_limit_tick + self.options.past_limit_interval_ticks;
            return due.then_some(ReadyKind::PastLimit);
        }
        self.core.has_ready_without_write().then_some(ReadyKind::WithoutWrite)
    }

    /// Takes one Ready if the rules allow; returns whether it did.
    fn take_ready(&mut self, now_ns: Nanos, out: &mut Vec<Action>) -> bool {
        let ready = match self.ready_allowed(now_ns) {
            None => return false,
            Some(ReadyKind::Full) => self.core.ready(),
            Some(ReadyKind::PastLimit) => {
                self.past_limit_tick = self.now_ticks;
                self.stats.readies_past_limit += 1;
                self.core.ready()
            }
            Some(ReadyKind::WithoutWrite) => {
                self.stats.readies_without_write += 1;
                self.core.ready_without_write()
            }
        };
        let Some(ready) = ready else { return false };
        self.handle_ready(ready, now_ns, out);
        true
    }

    fn handle_ready(&mut self, ready: EncodedReady, now_ns: Nanos, out: &mut Vec<Action>) {
        self.stats.readies += 1;
        let EncodedReady {
            soft_state,
            snapshot,
            messages,
            persisted_messages,
            persist,
            committed_entries,
            read_states,
            conf_state,
            snapshot_sends,
            ..
        } = ready;
        if soft_state.is_some() {
            self.note_role(out);
        }
        self.note_conf_change(conf_state.is_some(), &committed_entries, out);
        out.extend(messages.into_iter().map(|(to, frames)| Action::Send { to, frames }));
        out.extend(snapshot_sends.into_iter().map(|send| Action::SendSnapshot { send }));
        // A batch that only moved the commit index (not `must_sync`) is not written at all:
        // the commit index is volatile state (Raft paper, figure 2); after a restart the
        // leader tells it again.
        let write_id = match persist {
            Some(batch) if batch.must_sync && self.options.durable => {
                let id = self.writes.next_write_id();
                self.stats.writes += 1;
                out.push(Action::Write { id, batch });
                Some(id)
            }
            _ => None,
        };
        // Durable here already: over a durable log the core hands out only entries whose
        // writes completed. The Ready's own write was handed out first, so its fsync runs
        // while the caller applies.
        self.apply.push(committed_entries);
        // `round` advanced past every durable Ready before taking this one, so the core is
        // advanced in order.
        if write_id.is_none() && self.writes.unadvanced() == 0 {
            out.extend(persisted_messages.into_iter().map(|(to, frames)| Action::Send { to, frames }));
            self.core.advance();
        } else {
            self.writes.push(write_id, persisted_messages, now_ns);
        }
        for read in read_states {
            self.reads.confirm(read.request_id, read.index);
        }
        if let Some(snapshot) = snapshot.filter(|s| s.meta.index > 0) {
            self.restores.pending = Some(snapshot);
        }
    }

    fn note_role(&mut self, out: &mut Vec<Action>) {
        let (role, leader, epoch) = (self.core.role(), self.core.leader(), self.core.epoch());
        if (role, leader, epoch) != (self.role, self.leader, self.epoch) {
            (self.role, self.leader, self.epoch) = (role, leader, epoch);
            out.push(Action::Role { role, leader, epoch });
        }
    }

    /// Tells the caller the configuration in force when it changed, or when committed
    /// membership changes are handed out (a restart replays them before handing them out
    /// again: their addresses are news to the caller all the same). A protocol whose changes
    /// take effect later than they commit (Multi-Paxos: α slots on) moves the configuration
    /// in a Ready without any: it is compared whenever entries commit.
    fn note_conf_change(&mut self, changed: bool, committed: &[Entry], out: &mut Vec<Action>) {
        if !changed && committed.is_empty() {
            return;
        }
        let addresses: Vec<(NodeId, String)> = committed
            .iter()
            .filter(|entry| entry.kind == EntryKind::ConfChange)
            .filter_map(|entry| decode_conf_change(&entry.data).ok())
            .flat_map(|change| change.changes)
            .filter(|single| !single.address.is_empty())
            .map(|single| (single.node_id, single.address))
            .collect();
        let conf_state = self.core.conf_state();
        if changed || !addresses.is_empty() || *conf_state != self.conf_state {
            self.conf_state = conf_state.clone();
            out.push(Action::ConfChanged { conf_state: self.conf_state.clone(), addresses });
        }
    }

    fn serve_reads(&mut self, out: &mut Vec<Action>) {
        let mut reads = Vec::new();
        self.reads.take_servable(self.applied_index, &mut reads);
        if !reads.is_empty() {
            out.push(Action::ServeReads { reads });
        }
    }

    /// Whether committed entries wait: a frozen snapshot is being taken, or the leader's
    /// snapshot is being restored.
    pub(super) fn holds_applies(&self) -> bool {
        self.snapshots.holds_applies() || self.restores.holds_applies()
    }

    /// Hands out the oldest batch of committed entries, unless a frozen snapshot or a restore
    /// holds them or one handed out was not reported yet. Returns whether it did.
    fn hand_out_apply(&mut self, now_ns: Nanos, out: &mut Vec<Action>) -> bool {
        if self.holds_applies() {
            return false;
        }
        let Some(entries) = self.apply.hand_out() else { return false };
        out.push(Action::Apply { entries, deadline_ns: now_ns + self.options.apply_slice_ns });
        true
    }
}
