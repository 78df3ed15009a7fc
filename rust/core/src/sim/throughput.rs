//! The fault-free throughput run: how many entries a cluster commits per second when the only
//! costs are the core's and the driver's own (protocol, codec, Ready policy, in-memory
//! persistence).
//!
//! Either protocol runs (`ThroughputOptions::protocol`): Raft's [`MemNode`] or Multi-Paxos's
//! [`PaxosNode`], each over a `MemStorage` with persistence by the caller. The run is generic
//! over the core ([`ThroughputCore`]), so both take the very same rounds, drains and disk.
//!
//! Every node runs through the production [`Driver`] in the runtime's mode: persistence by
//! the caller (`durable`), so a Ready's entries travel as a write whose acknowledgements leave
//! only once it is durable. Here the "disk" completes every write at once, in order, as soon
//! as a poll hands it out: no latency, but the same path (write handed out, `writes_done`,
//! the persisted messages released, the core advanced) that a node over its log takes.
//!
//! Delivery is instant and in order: a FIFO of encoded frame buffers, drained to empty after
//! every proposal. The leader proposes `batch` entries at a time; each round replicates them,
//! commits them, and carries the previous round's commit index to the followers. Time is
//! simulated: each round takes [`ROUND_NS`], so the drivers count ticks (heartbeats carry the
//! last commit index once everything is proposed) and their slices and deadlines see a clock
//! that moves. The drivers snapshot every [`COMPACT_EVERY_ENTRIES`] applied entries (scaled by
//! their stagger), so memory stays flat however long the run.

use crate::driver::{Action, Consensus, Driver, DriverOptions, Nanos, Next, NodeRole, WriteId};
use crate::error::Result as CoreResult;
use crate::paxos::{PaxosConfig, PaxosNode};
use crate::protocol_id::ProtocolId;
use crate::raft::config::Config;
use crate::raft::mem_node::{MemNode, PersistMode, StepError};
use crate::raft::message::{EntryKind, Index, NodeId};
use crate::raft::storage::MemStorage;
use crate::sim::{ThroughputOptions, ThroughputReport};
use bytes::Bytes;
use std::collections::VecDeque;

/// Each node snapshots its application (and compacts its log) once it applied this many
/// entries past its last snapshot (times its stagger, in `[1, 1.25)`).
pub const COMPACT_EVERY_ENTRIES: Index = 1 << 15;
/// Rounds allowed to elect the first leader (one tick each).
pub const MAX_ELECTION_ROUNDS: usize = 1000;
/// Rounds allowed without any entry applied anywhere before the run is declared stalled.
pub const MAX_IDLE_ROUNDS: usize = 1000;
/// Simulated time per tick: the drivers' knobs (slices, stall, deadlines) derive from it.
pub const THROUGHPUT_TICK_NS: Nanos = 1_000_000;
/// Simulated time one round takes: a tenth of a tick, so a heartbeat goes out every ten
/// rounds (well within [`MAX_IDLE_ROUNDS`]) and costs little next to the rounds' appends.
pub const ROUND_NS: Nanos = THROUGHPUT_TICK_NS / 10;
/// Polls one drain may take before the node is declared stuck in a loop: far more than the
/// Readies a drained wire can cause.
pub const MAX_POLLS_PER_DRAIN: usize = 1 << 20;

/// Runs a fault-free cluster of `options.protocol` until `options.entries` payloads are
/// applied on every node.
pub fn run_throughput(options: &ThroughputOptions) -> ThroughputReport {
    let mut report = match options.protocol {
        ProtocolId::Raft => run_core::<MemNode>(options),
        ProtocolId::Paxos => run_core::<PaxosNode>(options),
    };
    report.protocol = options.protocol;
    report
}

fn run_core<C: ThroughputCore>(options: &ThroughputOptions) -> ThroughputReport {
    let mut cluster = match ThroughputCluster::<C>::new(options.nodes) {
        Ok(cluster) => cluster,
        Err(error) => return ThroughputReport { error: Some(error), ..ThroughputReport::default() },
    };
    let outcome = cluster.run(options);
    let mut report = cluster.report;
    report.committed_entries = cluster.nodes.iter().map(|n| n.applied_payloads).min().unwrap_or(0);
    report.error = outcome.err();
    report
}

/// What the run needs of a core beyond the driver's [`Consensus`]: a fresh node in the
/// runtime's persistence mode, a campaign now, and a buffer of whole frames stepped.
pub trait ThroughputCore: Consensus + Sized {
    /// Node `id` of `voters` at first boot over an empty `MemStorage`, persistence by the caller.
    fn start(id: NodeId, voters: &[NodeId]) -> CoreResult<Self>;
    /// Campaigns at once (the first election).
    fn campaign_now(&mut self);
    /// Steps every frame in `frames` (which end on a frame boundary); returns how many.
    fn step_whole_frames(&mut self, frames: &Bytes) -> Result<usize, StepError>;
}

impl ThroughputCore for MemNode {
    fn start(id: NodeId, voters: &[NodeId]) -> CoreResult<MemNode> {
        let config = Config::new(id, voters.to_vec());
        MemNode::with_mode(&config, MemStorage::new(voters.to_vec()), PersistMode::ByCaller)
    }

    fn campaign_now(&mut self) {
        self.raw.campaign();
    }

    fn step_whole_frames(&mut self, frames: &Bytes) -> Result<usize, StepError> {
        self.step_frames(frames)
    }
}

impl ThroughputCore for PaxosNode {
    fn start(id: NodeId, voters: &[NodeId]) -> CoreResult<PaxosNode> {
        let config = PaxosConfig::new(id, voters.to_vec());
        config.validate()?;
        PaxosNode::with_mode(&config, MemStorage::new(voters.to_vec()), PersistMode::ByCaller)
    }

    fn campaign_now(&mut self) {
        self.campaign();
    }

    fn step_whole_frames(&mut self, frames: &Bytes) -> Result<usize, StepError> {
        self.step_frames(frames)
    }
}

/// One node: its driver and its application, whose whole state is a payload count.
struct ThroughputNode<C: Consensus> {
    driver: Driver<C>,
    /// Payload entries applied.
    applied_payloads: u64,
}

struct ThroughputCluster<C: Consensus> {
    nodes: Vec<ThroughputNode<C>>,
    /// The simulated monotonic clock every driver is given.
    now_ns: Nanos,
    /// Frame buffers on their way: (destination position, frames), delivered in order.
    wire: VecDeque<(usize, Bytes)>,
    /// The actions of the poll being carried out (kept to reuse its allocation).
    actions: Vec<Action>,
    report: ThroughputReport,
}

impl<C: ThroughputCore> ThroughputCluster<C> {
    fn new(nodes: usize) -> Result<ThroughputCluster<C>, String> {
        if nodes == 0 {
            return Err("a cluster needs at least one node".to_string());
        }
        let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let mut members = Vec::with_capacity(nodes);
        for &id in &voters {
            let start = |e: crate::error::RaftError| format!("node {id} failed to start: {e}");
            let node = C::start(id, &voters).map_err(start)?;
            let mut options = DriverOptions::derive(node.timing(), THROUGHPUT_TICK_NS, id);
            options.durable = true;
            options.snapshot_entries = COMPACT_EVERY_ENTRIES;
            let driver = Driver::new(node, options, 0, 0).map_err(start)?;
            members.push(ThroughputNode { driver, applied_payloads: 0 });
        }
        Ok(ThroughputCluster {
            nodes: members,
            now_ns: 0,
            wire: VecDeque::new(),
            actions: Vec::new(),
            report: ThroughputReport::default(),
        })
    }

    fn run(&mut self, options: &ThroughputOptions) -> Result<(), String> {
        let leader = self.elect()?;
        let payload = Bytes::from(vec![0x5a; options.payload_bytes]);
        let batch = options.batch.max(1) as u64;
        let mut proposed = 0u64;
        let mut idle_rounds = 0;
        while self.min_applied_payloads() < options.entries {
            let applied_before = self.total_applied_payloads();
            self.advance_clock(ROUND_NS)?;
            if proposed < options.entries {
                // Every write completed in the last drain, so the leader may propose.
                debug_assert!(self.nodes[leader].driver.may_propose());
                let count = batch.min(options.entries - proposed);
                self.propose(leader, &payload, count)?;
                proposed += count;
                self.drain(leader)?;
            }
            self.deliver_all()?;
            idle_rounds = if self.total_applied_payloads() > applied_before { 0 } else { idle_rounds + 1 };
            if idle_rounds > MAX_IDLE_ROUNDS {
                return Err(format!(
                    "stalled: {} of {} entries applied everywhere",
                    self.min_applied_payloads(),
                    options.entries
                ));
            }
        }
        // Exactly what was proposed, on every node: none lost (the loop), none twice.
        match self.nodes.iter().position(|n| n.applied_payloads != proposed) {
            Some(position) => Err(format!(
                "node {} applied {} entries of {proposed} proposed",
                position + 1,
                self.nodes[position].applied_payloads
            )),
            None => Ok(()),
        }
    }

    /// Proposes `count` copies of `payload` at node `position`, in calls of at most the
    /// driver's `max_batch_proposals` (one round's batch may be larger).
    fn propose(&mut self, position: usize, payload: &Bytes, count: u64) -> Result<(), String> {
        let driver = &mut self.nodes[position].driver;
        let max_batch = driver.options().max_batch_proposals as u64;
        let mut left = count;
        while left > 0 {
            let chunk = left.min(max_batch);
            let commands = vec![payload.clone(); chunk as usize];
            driver.propose_batch(commands).map_err(|error| format!("the leader refused a batch: {error}"))?;
            left -= chunk;
        }
        Ok(())
    }

    /// Node 1 campaigns; time passes a tick per round until one node leads. Returns the
    /// leader's position.
    fn elect(&mut self) -> Result<usize, String> {
        self.nodes[0].driver.core_mut().campaign_now();
        for _ in 0..MAX_ELECTION_ROUNDS {
            self.drain_all()?;
            self.deliver_all()?;
            if let Some(leader) = self.nodes.iter().position(|n| n.driver.role() == NodeRole::Leader) {
                return Ok(leader);
            }
            self.advance_clock(THROUGHPUT_TICK_NS)?;
        }
        Err(format!("no leader after {MAX_ELECTION_ROUNDS} rounds"))
    }

    /// Moves the clock on by `step_ns`; nodes with ticks due take them (a leader's heartbeats
    /// go on the wire).
    fn advance_clock(&mut self, step_ns: Nanos) -> Result<(), String> {
        self.now_ns += step_ns;
        for position in 0..self.nodes.len() {
            let driver = &mut self.nodes[position].driver;
            driver.on_timer(self.now_ns, 0);
            if driver.ticks_due() > 0 {
                self.drain(position)?;
            }
        }
        Ok(())
    }

    fn drain_all(&mut self) -> Result<(), String> {
        (0..self.nodes.len()).try_for_each(|position| self.drain(position))
    }

    /// Polls node `position`'s driver until it is idle, carrying out its actions; the writes a
    /// poll hands out complete at once, in order.
    fn drain(&mut self, position: usize) -> Result<(), String> {
        for _ in 0..MAX_POLLS_PER_DRAIN {
            let driver = &mut self.nodes[position].driver;
            let next =
                driver.poll(self.now_ns, &mut self.actions).map_err(|e| format!("node {}: {e}", position + 1))?;
            let last_write = self.carry_out(position)?;
            if let Some(id) = last_write {
                // Releases the messages that waited for the writes; the next poll advances.
                self.nodes[position].driver.writes_done(id, self.now_ns, &mut self.actions);
                self.carry_out(position)?;
            }
            // Continue and Yield alike: poll again (this loop is the caller's whole loop).
            if next == Next::Idle && last_write.is_none() {
                return Ok(());
            }
        }
        Err(format!("node {} still had work after {MAX_POLLS_PER_DRAIN} polls", position + 1))
    }

    /// Carries out the pending actions of node `position`, in order; returns the last write
    /// they handed out, if any.
    fn carry_out(&mut self, position: usize) -> Result<Option<WriteId>, String> {
        let mut actions = std::mem::take(&mut self.actions);
        let mut last_write = None;
        for action in actions.drain(..) {
            match action {
                Action::Role { .. } | Action::Durable { .. } | Action::ServeReads { .. } => {}
                Action::SnapshotSkipped { .. } | Action::ConfChanged { .. } => {}
                Action::Send { to, frames } => self.send(position, to, frames)?,
                // The batch is dropped here, so the core's advance takes it without a copy.
                Action::Write { id, .. } => last_write = Some(id),
                Action::Apply { entries, .. } => {
                    let node = &mut self.nodes[position];
                    let payloads = entries.iter().filter(|e| e.kind == EntryKind::Normal).count();
                    node.applied_payloads += payloads as u64;
                    if let Some(last) = entries.last() {
                        node.driver.applied_to(last.index);
                    }
                }
                Action::TakeSnapshot { index } => {
                    // The state is one counter: captured and taken at once.
                    let node = &mut self.nodes[position];
                    debug_assert_eq!(node.driver.applied_index(), index, "a snapshot is taken at the applied index");
                    node.driver.snapshot_started(index, false);
                    node.driver.snapshot_taken(index, Bytes::copy_from_slice(&node.applied_payloads.to_le_bytes()));
                }
                // The core compacted its storage, which is this node's whole durable log.
                Action::Compact { .. } => self.nodes[position].driver.compaction_done(),
                Action::SendSnapshot { .. } => {
                    unreachable!("SendSnapshot: simulated nodes send snapshots in frames")
                }
                Action::Restore { snapshot } => {
                    let node = &mut self.nodes[position];
                    node.applied_payloads = decode_count(&snapshot.data);
                    node.driver.restore_done(snapshot.meta.index);
                }
            }
        }
        self.actions = actions;
        Ok(last_write)
    }

    fn send(&mut self, position: usize, to: NodeId, frames: Vec<u8>) -> Result<(), String> {
        let destination = (to as usize).checked_sub(1).filter(|&d| d < self.nodes.len());
        let destination = destination.ok_or_else(|| format!("node {} sent to unknown node {to}", position + 1))?;
        self.report.bytes += frames.len() as u64;
        self.wire.push_back((destination, Bytes::from(frames)));
        Ok(())
    }

    /// Delivers every queued buffer, and what the deliveries produce, until the wire is empty.
    fn deliver_all(&mut self) -> Result<(), String> {
        while let Some((position, frames)) = self.wire.pop_front() {
            match self.nodes[position].driver.core_mut().step_whole_frames(&frames) {
                Ok(count) => self.report.messages += count as u64,
                Err(error) => return Err(format!("node {} failed to step frames: {error}", position + 1)),
            }
            self.drain(position)?;
        }
        Ok(())
    }

    fn total_applied_payloads(&self) -> u64 {
        self.nodes.iter().map(|n| n.applied_payloads).sum()
    }

    fn min_applied_payloads(&self) -> u64 {
        self.nodes.iter().map(|n| n.applied_payloads).min().unwrap_or(0)
    }
}

fn decode_count(data: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let len = data.len().min(8);
    word[..len].copy_from_slice(&data[..len]);
    u64::from_le_bytes(word)
}
