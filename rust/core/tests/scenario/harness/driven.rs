//! Nodes run by the production `Driver<MemNode>` with asynchronous writes, as etcd raft's
//! `async-storage-writes` scripts run theirs: a Ready's write is handed out and held by the
//! harness until the script completes it (`write-done`), so what waits for the disk (a
//! follower's acknowledgement, a candidate's vote requests, the leader's own count towards the
//! commit, the application of entries not yet durable here) shows, and a crash with writes held
//! loses them.
//!
//! The scripts' clock stands still (`now_ns` is always 0): time in a script is the ticks handed
//! to the core, so the driver's time rules (write stall, drive slices, apply deadlines) never
//! fire, and a write is held exactly as long as the script says.

use super::{decode_app, Cluster, Process};
use bytes::Bytes;
use senate_core::codec::{decode_message, DEFAULT_MAX_FRAME_BYTES};
use senate_core::driver::{Action, Consensus, Driver, DriverOptions, Next, WriteId};
use senate_core::{Config, Index, MemNode, MemStorage, Message, NodeId, PersistBatch, PersistMode};
use std::collections::VecDeque;
use std::sync::Arc;

/// The scripts' tick period: only the driver's knobs derive from it (the clock stands still).
const SCENARIO_TICK_NS: u64 = 1_000_000;
/// Polls one `process-ready` of a driven node may take before the node is declared stuck.
const MAX_POLLS_PER_PROCESS: usize = 1000;

/// How the nodes of a script persist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// The harness persists each Ready before it handles the next (the classic scripts).
    InReady,
    /// Through the driver; writes are held until `write-done`, up to `max_writes_in_flight`.
    Async { max_writes_in_flight: usize },
}

pub struct DrivenNode {
    pub driver: Driver<MemNode>,
    /// Writes handed out and not yet completed, oldest first. Invariant: as many as the
    /// driver's `writes_in_flight`.
    held: VecDeque<(WriteId, Arc<PersistBatch>)>,
}

impl DrivenNode {
    /// A node over `disk` (persistence by the caller) whose application applied up to
    /// `applied_index`.
    pub fn start(cfg: &Config, disk: MemStorage, max_writes_in_flight: usize, applied_index: Index) -> DrivenNode {
        let node =
            MemNode::with_mode(cfg, disk, PersistMode::ByCaller).unwrap_or_else(|e| panic!("node {}: {e}", cfg.id));
        let mut options = DriverOptions::derive(node.timing(), SCENARIO_TICK_NS, cfg.id);
        options.durable = true;
        options.max_writes_in_flight = max_writes_in_flight;
        // Snapshots only when a script says so (`compact`).
        options.snapshot_entries = 0;
        let driver = Driver::new(node, options, applied_index, 0).unwrap_or_else(|e| panic!("node {}: {e}", cfg.id));
        DrivenNode { driver, held: VecDeque::new() }
    }
}

impl Cluster {
    fn driven(&mut self, id: NodeId) -> &mut DrivenNode {
        match &mut self.node_mut(id).process {
            Process::Driven(driven) => driven,
            _ => panic!("node {id} does not run with async writes"),
        }
    }

    /// Polls node `id`'s driver until it is idle, printing and carrying out each poll's
    /// actions under a `handling Ready` block (the writes are held). Returns whether any poll
    /// asked for something.
    pub(super) fn drive(&mut self, id: NodeId) -> bool {
        let mut busy = false;
        for _ in 0..MAX_POLLS_PER_PROCESS {
            let mut actions = Vec::new();
            let next = self.driven(id).driver.poll(0, &mut actions).unwrap_or_else(|e| panic!("node {id}: {e}"));
            if !actions.is_empty() {
                busy = true;
                self.block(format!("> {id} handling Ready"), |c| c.carry_out(id, actions));
            }
            self.observe(id);
            // The clock stands still, so a poll never yields: Continue means more to do.
            if next == Next::Idle {
                return busy;
            }
        }
        panic!("node {id}: still busy after {MAX_POLLS_PER_PROCESS} polls");
    }

    /// Completes node `id`'s oldest `count` held writes (all when `None`): the messages that
    /// waited for them leave, and the node is driven on (the core advances past them, which
    /// puts them in its storage). Returns whether a write completed.
    pub fn write_done(&mut self, id: NodeId, count: Option<usize>) -> bool {
        if !self.node(id).is_up() || !self.is_driven(id) {
            return false;
        }
        let driven = self.driven(id);
        let count = count.unwrap_or(driven.held.len()).min(driven.held.len());
        if count == 0 {
            return false;
        }
        let done: Vec<WriteId> = driven.held.drain(..count).map(|(write_id, _)| write_id).collect();
        let last = *done.last().expect("count > 0");
        let mut actions = Vec::new();
        driven.driver.writes_done(last, 0, &mut actions);
        let names: Vec<String> = done.iter().map(|w| w.to_string()).collect();
        let what = if names.len() == 1 { "write" } else { "writes" };
        self.block(format!("> {id} {what} {} done", names.join(", ")), |c| c.carry_out(id, actions));
        self.check_held(id);
        self.drive(id);
        true
    }

    /// A crash: the writes held never complete. Prints what is lost.
    pub(super) fn lose_held_writes(&mut self, id: NodeId) {
        self.check_held(id);
        let held: Vec<(WriteId, Arc<PersistBatch>)> = self.driven(id).held.drain(..).collect();
        for (write_id, batch) in &held {
            self.print(format!("lost: write {write_id}: {}", describe_batch(batch)));
        }
    }

    /// `1: 2 writes in flight, 3 Readies not advanced` and one line per write held.
    pub fn writes_in_flight(&mut self, id: NodeId) -> String {
        if !self.node(id).is_up() {
            return format!("{id}: down");
        }
        self.check_held(id);
        let driven = self.driven(id);
        let mut s = format!(
            "{id}: {} writes in flight, {} Readies not advanced",
            driven.held.len(),
            driven.driver.readies_unadvanced()
        );
        for (write_id, batch) in &driven.held {
            s.push_str(&format!("\nwrite {write_id}: {}", describe_batch(batch)));
        }
        s
    }

    fn check_held(&mut self, id: NodeId) {
        let driven = self.driven(id);
        assert_eq!(
            driven.held.len(),
            driven.driver.writes_in_flight(),
            "node {id}: held writes and the driver's disagree"
        );
    }

    /// Prints `header`, then what `f` prints, indented.
    fn block(&mut self, header: String, f: impl FnOnce(&mut Cluster)) {
        let saved_indent = self.indent;
        self.print(header);
        self.indent = "  ";
        f(self);
        self.indent = saved_indent;
    }

    /// Carries out a poll's actions in order, printing each.
    fn carry_out(&mut self, id: NodeId, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Role { role, leader, epoch } => {
                    self.print(format!("role: {} lead={} term={epoch}", role.as_str(), leader.unwrap_or(0)));
                }
                Action::Send { to, frames } => {
                    for m in decode_frames(id, to, frames) {
                        self.print(format!("send: {}", super::format::message(&m)));
                        self.queue.push(m);
                    }
                }
                Action::Write { id: write_id, batch } => {
                    self.print(format!("write {write_id}: {}", describe_batch(&batch)));
                    self.driven(id).held.push_back((write_id, batch));
                }
                Action::Durable { id: write_id, .. } => self.print(format!("durable: write {write_id}")),
                Action::Apply { entries, .. } => {
                    self.print(format!("apply: {}", super::format::entries(&entries)));
                    for e in &entries {
                        self.apply(id, e);
                    }
                    if let Some(last) = entries.last() {
                        self.driven(id).driver.applied_to(last.index);
                    }
                }
                Action::ServeReads { reads } => {
                    for (batch, index) in reads {
                        self.print(format!("read state: batch={batch} index={index}"));
                    }
                }
                Action::TakeSnapshot { index } => panic!("node {id}: automatic snapshot at {index} (they are off)"),
                Action::Compact { snapshot } => self.print(format!("compact: {}", super::format::snapshot(&snapshot))),
                Action::SnapshotSkipped { index, reason } => {
                    self.print(format!("snapshot at {index} skipped: {reason}"))
                }
                // The driven scenarios change no membership (the raw harness covers changes).
                Action::ConfChanged { .. } => {}
                Action::SendSnapshot { send } => {
                    // Streamed out of band in production; here head and data arrive together.
                    let head = Bytes::from(send.head);
                    let data = send.snapshot.data.clone();
                    let m =
                        senate_core::raft::snapshot_send::decode_snapshot_head(&head, data, DEFAULT_MAX_FRAME_BYTES)
                            .expect("the core's own head decodes");
                    self.print(format!("send snapshot: {}", super::format::message(&m)));
                    self.queue.push(m);
                }
                Action::Restore { snapshot } => {
                    self.print(format!("restore app from snapshot at {}", snapshot.meta.index));
                    let node = self.node_mut(id);
                    node.app = decode_app(&snapshot.data);
                    node.applied_index = snapshot.meta.index;
                    // Restored at once: the driver's job is done before its next poll.
                    self.driven(id).driver.restore_done(snapshot.meta.index);
                }
            }
        }
    }
}

/// The messages in one buffer of concatenated frames `from` sends `to`.
fn decode_frames(from: NodeId, to: NodeId, frames: Vec<u8>) -> Vec<Message> {
    let buffer = Bytes::from(frames);
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < buffer.len() {
        let (m, consumed) = decode_message(&buffer.slice(offset..), DEFAULT_MAX_FRAME_BYTES)
            .unwrap_or_else(|e| panic!("node {from} sent node {to} a frame that does not decode: {e}"))
            .unwrap_or_else(|| panic!("node {from} sent node {to} an incomplete frame"));
        assert_eq!((m.from, m.to), (from, to), "a frame in node {from}'s buffer for {to} names other nodes");
        messages.push(m);
        offset += consumed;
    }
    messages
}

/// `term=2 vote=1 commit=3 entries=[4/2 "x"]`: what a write makes durable.
fn describe_batch(batch: &PersistBatch) -> String {
    let mut parts = Vec::new();
    if let Some(snapshot) = &batch.snapshot {
        parts.push(format!("snapshot={}", super::format::snapshot(snapshot)));
    }
    if !batch.entries.is_empty() {
        parts.push(format!("entries={}", super::format::entries(&batch.entries)));
    }
    if let Some(hs) = batch.hard_state {
        parts.push(format!("hard state term={} vote={} commit={}", hs.term, hs.vote, hs.commit));
    }
    parts.join(" ")
}
