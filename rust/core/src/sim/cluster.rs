//! The driver of one seeded run: a cluster of `MemNode`s on a simulated network, under faults
//! and client load, checked after every step.
//!
//! Time is counted in ticks. Each tick of the fault phase runs, in this order: the fault
//! schedule (partitions, crashes, restarts, slow periods), the clients' requests, one tick of
//! every live node, and the delivery of every packet due. After any input to a node, its
//! `Ready`s are drained: the checker syncs with its persisted state, snapshots are restored,
//! committed entries applied, reads checked, and messages sent frame by frame through the
//! network's faults. One seeded `ChaCha8Rng` makes every choice, in a fixed order, so a seed
//! replays exactly.
//!
//! After the fault phase every fault heals, and the run proposes a marker entry that must be
//! applied on every node within [`LIVENESS_BOUND_TICKS`].

use crate::codec::{decode_message, DEFAULT_MAX_FRAME_BYTES};
use crate::error::RaftError;
use crate::raft::config::Config;
use crate::raft::mem_node::{EncodedReady, MemNode, StepError};
use crate::raft::message::{Index, NodeId, ENTRY_OVERHEAD_BYTES};
use crate::raft::ready::Role;
use crate::raft::storage::Storage;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Checker, Property, Violation};
use crate::sim::client::{ClientAction, Workload};
use crate::sim::faults::{chance, CrashPoint, FaultAction, FaultCounts, FaultProfile, FaultSchedule, PacketFate};
use crate::sim::network::{Network, Packet};
use crate::sim::trace::{Event, Trace};
use crate::sim::{SimOptions, SimReport};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::AssertUnwindSafe;

/// Largest cluster the simulator runs.
pub const MAX_SIM_NODES: usize = 9;
pub const ELECTION_TIMEOUT_TICKS: u64 = 10;
pub const HEARTBEAT_INTERVAL_TICKS: u64 = 1;
/// After healing, the marker must be applied everywhere within 10 election timeouts, each
/// counted at its longest (randomized timeouts lie in `[et, 2 et)`).
pub const LIVENESS_BOUND_TICKS: u64 = 10 * 2 * ELECTION_TIMEOUT_TICKS;
/// Packets delivered per tick at most; the rest wait for the next tick.
pub const MAX_DELIVERIES_PER_TICK: usize = 100_000;
/// `Ready`s without committed entries one input may produce before the node is declared stuck
/// in a loop.
pub const MAX_IDLE_READY_ROUNDS_PER_INPUT: usize = 64;
/// Bytes a client entry counts against the leader's uncommitted limit, on average (payload of
/// 8 to 64 bytes plus the per-entry overhead).
pub const TYPICAL_ENTRY_BYTES: usize = 36 + ENTRY_OVERHEAD_BYTES;
/// A slow node gets each of its ticks with this chance, and each delivery is put off by a tick
/// with `SLOW_NODE_DEFER_PER_MILLE`.
pub const SLOW_NODE_TICK_PER_MILLE: u32 = 300;
pub const SLOW_NODE_DEFER_PER_MILLE: u32 = 500;

/// One simulated node with its application.
struct SimNode {
    id: NodeId,
    node: MemNode,
    app: AppState,
    /// Crashed: takes no input until restarted.
    down: bool,
    /// Gets only some of its ticks and deliveries.
    slow: bool,
}

/// Counters of the run that are not faults.
#[derive(Clone, Copy, Debug, Default)]
struct RunStats {
    proposals_accepted: u64,
    reads_confirmed: u64,
    snapshots_restored: u64,
}

/// One seeded cluster under simulation.
pub struct SimCluster {
    seed: u64,
    rng: ChaCha8Rng,
    /// Ticks elapsed.
    tick: u64,
    nodes: Vec<SimNode>,
    network: Network,
    schedule: FaultSchedule,
    workload: Workload,
    checker: Checker,
    trace: Trace,
    faults: FaultCounts,
    stats: RunStats,
    /// The payload proposed after healing, and its index once some node applied it.
    marker: Bytes,
    marker_index: Option<Index>,
    /// The node last seen as leader, while it still is (by its own account).
    leader_hint: Option<usize>,
}

/// Runs one seeded simulation and reports it; `trace_lines` last events are kept in words.
pub fn simulate(options: &SimOptions, trace_lines: usize) -> SimReport {
    let mut report =
        SimReport { nodes: options.nodes, seed: options.seed, ticks: options.ticks, ..SimReport::default() };
    if !(1..=MAX_SIM_NODES).contains(&options.nodes) {
        report.violations.push(format!("invalid options: nodes must be in 1..={MAX_SIM_NODES}, got {}", options.nodes));
        return report;
    }
    match SimCluster::new(options, trace_lines) {
        Ok(mut cluster) => {
            // A node that panics (a failed assertion in the core) ends the run as a violation
            // with its seed, like any other, instead of taking the caller down.
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| cluster.run(options.ticks)));
            let outcome = run.unwrap_or_else(|panic| {
                Err(Violation::new(Property::NodeError, format!("a node panicked: {}", panic_message(&*panic))))
            });
            cluster.into_report(report, outcome)
        }
        Err(violation) => {
            report.violations.push(format!("seed {}: {violation}", options.seed));
            report
        }
    }
}

impl SimCluster {
    /// A cluster of `options.nodes` fresh nodes whose configuration, faults and workload are
    /// drawn from `options.seed`.
    pub fn new(options: &SimOptions, trace_lines: usize) -> Result<SimCluster, Violation> {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let configs = draw_configs(options.nodes, &mut rng);
        let profile = FaultProfile::draw(&mut rng);
        let workload = Workload::draw(options.nodes, &mut rng);
        let mut nodes = Vec::with_capacity(configs.len());
        for config in &configs {
            let node = MemNode::new(config).map_err(|error| {
                Violation::new(Property::NodeError, format!("node {} failed to start: {error}", config.id))
            })?;
            nodes.push(SimNode { id: config.id, node, app: AppState::default(), down: false, slow: false });
        }
        let mut trace = Trace::new(trace_lines);
        trace.note(|| describe_setup(&configs[0], &profile));
        let ids: Vec<NodeId> = configs.iter().map(|c| c.id).collect();
        Ok(SimCluster {
            seed: options.seed,
            rng,
            tick: 0,
            nodes,
            network: Network::new(options.nodes),
            schedule: FaultSchedule::new(profile, options.nodes),
            workload,
            checker: Checker::new(&ids),
            trace,
            faults: FaultCounts::default(),
            stats: RunStats::default(),
            marker: Bytes::from(format!("liveness-marker/{}", options.seed)),
            marker_index: None,
            leader_hint: None,
        })
    }

    /// The fault phase for `fault_ticks`, then healing and the liveness check, then a full
    /// audit of every log.
    pub fn run(&mut self, fault_ticks: u64) -> Check {
        let mut faults = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..fault_ticks {
            self.fault_tick(&mut faults, &mut requests)?;
        }
        self.heal_and_await_liveness()?;
        self.final_audit()
    }

    fn fault_tick(&mut self, faults: &mut Vec<FaultAction>, requests: &mut Vec<ClientAction>) -> Check {
        self.begin_tick();
        self.schedule.plan_tick(self.tick, self.leader_hint, &mut self.rng, faults);
        for fault in faults.drain(..) {
            self.apply_fault(fault)?;
        }
        self.workload.plan_tick(self.leader_hint, &mut self.rng, requests);
        for request in requests.drain(..) {
            self.apply_request(request)?;
        }
        self.tick_nodes()?;
        self.deliver_due()
    }

    fn begin_tick(&mut self) {
        self.tick += 1;
        self.trace.record(Event::Tick, &[self.tick]);
    }

    fn tick_nodes(&mut self) -> Check {
        for position in 0..self.nodes.len() {
            let sim = &self.nodes[position];
            if sim.down || (sim.slow && !chance(&mut self.rng, SLOW_NODE_TICK_PER_MILLE)) {
                continue;
            }
            self.nodes[position].node.raw.tick();
            self.drain(position)?;
        }
        Ok(())
    }

    fn deliver_due(&mut self) -> Check {
        for _ in 0..MAX_DELIVERIES_PER_TICK {
            let Some(packet) = self.network.pop_due(self.tick) else { return Ok(()) };
            self.deliver(packet)?;
        }
        Ok(())
    }

    /// Hands one packet to its destination, unless the destination is down, the link is cut,
    /// or a slow destination puts it off to the next tick.
    fn deliver(&mut self, packet: Packet) -> Check {
        let position = (packet.to - 1) as usize;
        if self.nodes[position].down || self.network.is_cut(packet.from, packet.to) {
            return Ok(());
        }
        if self.nodes[position].slow && chance(&mut self.rng, SLOW_NODE_DEFER_PER_MILLE) {
            self.network.send(self.tick + 1, packet);
            return Ok(());
        }
        self.trace.record(Event::Deliver, &[packet.from, packet.to, packet.corrupted as u64]);
        self.trace.record_bytes(&packet.frame);
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: deliver {}", describe_packet(&packet)));
        let result = self.nodes[position].node.step_frames(&packet.frame);
        self.check_step(&packet, result)?;
        self.drain(position)
    }

    fn check_step(&mut self, packet: &Packet, result: Result<usize, StepError>) -> Check {
        let (from, to) = (packet.from, packet.to);
        match result {
            Ok(_) if packet.corrupted => {
                Err(Violation::new(Property::Codec, format!("node {to} accepted a corrupted frame from node {from}")))
            }
            Ok(_) => Ok(()),
            Err(StepError::Decode(_)) if packet.corrupted => Ok(()),
            Err(StepError::Decode(error)) => Err(Violation::new(
                Property::Codec,
                format!("node {to} could not decode a frame from node {from}: {error}"),
            )),
            Err(StepError::Raft(error)) => tolerate(to, "a message", Err(error)),
        }
    }

    /// Takes and handles every `Ready` node `position` has.
    fn drain(&mut self, position: usize) -> Check {
        // Rounds that apply entries make progress through a bounded log; only the others count.
        let mut idle_rounds = 0;
        while idle_rounds < MAX_IDLE_READY_ROUNDS_PER_INPUT {
            let Some(ready) = self.nodes[position].node.ready() else { return Ok(()) };
            idle_rounds += ready.committed_entries.is_empty() as usize;
            self.handle_ready(position, ready)?;
            self.nodes[position].node.advance();
        }
        Err(Violation::new(
            Property::NodeError,
            format!(
                "node {} still had a Ready after {MAX_IDLE_READY_ROUNDS_PER_INPUT} rounds that applied nothing",
                self.nodes[position].id
            ),
        ))
    }

    /// The duties of a `Ready` whose persistence `MemNode` did: check, restore, apply, read, send.
    fn handle_ready(&mut self, position: usize, ready: EncodedReady) -> Check {
        self.sync_checker(position)?;
        let id = self.nodes[position].id;
        if let Some(snapshot) = ready.snapshot.as_ref().filter(|s| !s.is_empty()) {
            self.checker.observe_restore(id, snapshot)?;
            // The checker verified the data decodes to the state at the snapshot's index.
            self.nodes[position].app = AppState::decode(&snapshot.data).unwrap_or_default();
            self.stats.snapshots_restored += 1;
        }
        for entry in &ready.committed_entries {
            self.checker.observe_apply(id, entry)?;
            self.nodes[position].app.apply(entry);
            self.trace.record(Event::Apply, &[id, entry.index]);
            if self.marker_index.is_none() && entry.data == self.marker {
                self.marker_index = Some(entry.index);
            }
        }
        for read in &ready.read_states {
            self.checker.observe_read_state(id, read)?;
            self.stats.reads_confirmed += 1;
        }
        for (to, frames) in ready.messages {
            self.send_frames(id, to, frames)?;
        }
        Ok(())
    }

    fn sync_checker(&mut self, position: usize) -> Check {
        let sim = &self.nodes[position];
        let status = sim.node.status();
        self.trace.record(Event::Role, &[sim.id, status.role as u64, status.term, status.commit]);
        if status.role == Role::Leader {
            self.leader_hint = Some(position);
        } else if self.leader_hint == Some(position) {
            self.leader_hint = None;
        }
        self.checker.sync_node(sim.id, sim.node.raw.storage(), status.role, status.term)
    }

    /// Splits one destination's frames into packets and sends each through the link faults.
    fn send_frames(&mut self, from: NodeId, to: NodeId, frames: Vec<u8>) -> Check {
        if to == 0 || to > self.nodes.len() as NodeId {
            return Err(Violation::new(Property::NodeError, format!("node {from} sent to unknown node {to}")));
        }
        let buffer = Bytes::from(frames);
        let mut offset = 0;
        while offset < buffer.len() {
            let rest = buffer.slice(offset..);
            let consumed = match decode_message(&rest, DEFAULT_MAX_FRAME_BYTES) {
                Ok(Some((_, consumed))) if consumed > 0 => consumed,
                Ok(_) => {
                    return Err(Violation::new(
                        Property::Codec,
                        format!("node {from} sent node {to} an incomplete frame ({} bytes left)", rest.len()),
                    ))
                }
                Err(error) => {
                    return Err(Violation::new(
                        Property::Codec,
                        format!("node {from} sent node {to} a frame that does not decode: {error}"),
                    ))
                }
            };
            self.transmit(from, to, rest.slice(..consumed));
            offset += consumed;
        }
        Ok(())
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, frame: Bytes) {
        let fate = PacketFate::draw(self.schedule.profile(), &mut self.rng);
        if fate.dropped {
            self.faults.drops += 1;
            return;
        }
        self.faults.delays += fate.extra_delay as u64;
        let frame = if fate.corrupted {
            self.faults.corruptions += 1;
            flip_one_bit(&frame, &mut self.rng)
        } else {
            frame
        };
        let packet = Packet { from, to, frame, corrupted: fate.corrupted };
        if let Some(delay_ticks) = fate.duplicate_delay_ticks {
            self.faults.duplicates += 1;
            self.network.send(self.tick + delay_ticks, packet.clone());
        }
        self.network.send(self.tick + fate.delay_ticks, packet);
    }

    fn apply_fault(&mut self, fault: FaultAction) -> Check {
        self.trace.record_bytes(format!("{fault:?}").as_bytes());
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: fault {fault:?}"));
        match fault {
            FaultAction::Partition { side_a, both_ways } => {
                self.network.partition(&side_a, both_ways);
                if both_ways {
                    self.faults.partitions += 1;
                } else {
                    self.faults.one_way_partitions += 1;
                }
                Ok(())
            }
            FaultAction::HealPartition => {
                self.network.heal();
                Ok(())
            }
            FaultAction::Crash { position, point } => self.crash(position, point),
            FaultAction::Restart { position, keep_app } => self.restart(position, keep_app),
            FaultAction::SlowStart { position } => {
                self.nodes[position].slow = true;
                self.faults.slow_periods += 1;
                Ok(())
            }
            FaultAction::SlowEnd { position } => {
                self.nodes[position].slow = false;
                Ok(())
            }
        }
    }

    fn crash(&mut self, position: usize, point: CrashPoint) -> Check {
        if self.nodes[position].down {
            return Ok(());
        }
        if point != CrashPoint::Idle {
            // One more input whose outcome dies with the node: a proposal and a tick.
            let payload = self.workload.payload(&mut self.rng);
            let node = &mut self.nodes[position].node;
            let _outcome_lost_in_crash = node.raw.propose(payload);
            node.raw.tick();
        }
        if point == CrashPoint::AfterPersist && self.nodes[position].node.ready().is_some() {
            // Persisted, but neither sent nor applied nor advanced.
            self.sync_checker(position)?;
        }
        self.nodes[position].down = true;
        if self.leader_hint == Some(position) {
            self.leader_hint = None;
        }
        self.faults.crashes += 1;
        Ok(())
    }

    /// Restarts a crashed node from its storage. Its application either survived (`keep_app`)
    /// or is rebuilt from the latest snapshot.
    fn restart(&mut self, position: usize, keep_app: bool) -> Check {
        let sim = &mut self.nodes[position];
        if !sim.down {
            return Ok(());
        }
        let id = sim.id;
        if !keep_app {
            let snapshot = sim.node.raw.storage().snapshot();
            sim.app = if snapshot.is_empty() {
                AppState::default()
            } else {
                AppState::decode(&snapshot.data).ok_or_else(|| {
                    Violation::new(
                        Property::NodeError,
                        format!("node {id}: stored snapshot at {} has no application state", snapshot.meta.index),
                    )
                })?
            };
        }
        sim.node
            .crash_restart(sim.app.applied_index)
            .map_err(|error| Violation::new(Property::NodeError, format!("node {id} failed to restart: {error}")))?;
        sim.down = false;
        let app = sim.app;
        self.checker.observe_restart(id, app)?;
        self.sync_checker(position)?;
        self.drain(position)
    }

    fn apply_request(&mut self, request: ClientAction) -> Check {
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: client {}", describe_request(&request)));
        let position = match &request {
            ClientAction::Propose { position, .. }
            | ClientAction::ReadIndex { position, .. }
            | ClientAction::TransferLeader { position, .. }
            | ClientAction::Campaign { position }
            | ClientAction::Compact { position } => *position,
        };
        if self.nodes[position].down {
            return Ok(());
        }
        let id = self.nodes[position].id;
        let raw = &mut self.nodes[position].node.raw;
        let outcome = match request {
            ClientAction::Propose { mut payloads, .. } => {
                let outcome =
                    if payloads.len() == 1 { raw.propose(payloads.remove(0)) } else { raw.propose_batch(payloads) };
                self.stats.proposals_accepted += outcome.is_ok() as u64;
                tolerate(id, "a proposal", outcome)
            }
            ClientAction::ReadIndex { request_id, .. } => {
                self.checker.observe_read_issued(request_id);
                tolerate(id, "a read", raw.read_index(request_id))
            }
            ClientAction::TransferLeader { to, .. } => tolerate(id, "a leadership transfer", raw.transfer_leader(to)),
            ClientAction::Campaign { .. } => {
                raw.campaign();
                Ok(())
            }
            ClientAction::Compact { .. } => self.compact(position),
        };
        self.trace.record(Event::Client, &[id, outcome.is_ok() as u64]);
        outcome?;
        self.drain(position)
    }

    /// The application snapshots its state at its applied index and compacts the log there.
    fn compact(&mut self, position: usize) -> Check {
        let sim = &mut self.nodes[position];
        let applied = sim.app.applied_index;
        if applied < sim.node.raw.storage().first_index() {
            return Ok(());
        }
        sim.node.compact(applied, sim.app.encode()).map_err(|error| {
            Violation::new(
                Property::NodeError,
                format!("node {} failed to compact at its applied index {applied}: {error}", sim.id),
            )
        })
    }

    /// Ends every fault, then proposes the marker (again every two election timeouts until some
    /// node applies it) and waits for every node to apply it.
    fn heal_and_await_liveness(&mut self) -> Check {
        let mut heals = Vec::new();
        self.schedule.heal(&mut heals);
        for heal in heals {
            self.apply_fault(heal)?;
        }
        self.network.heal();
        let healed_tick = self.tick;
        let mut next_marker_tick = self.tick;
        while self.tick < healed_tick + LIVENESS_BOUND_TICKS {
            if self.marker_index.is_none() && self.tick >= next_marker_tick {
                self.propose_marker()?;
                next_marker_tick = self.tick + 2 * ELECTION_TIMEOUT_TICKS;
            }
            self.begin_tick();
            self.tick_nodes()?;
            self.deliver_due()?;
            if self.marker_applied_everywhere() {
                return Ok(());
            }
        }
        Err(self.liveness_violation(healed_tick))
    }

    /// Proposes the marker at the node claiming leadership in the highest term, or at a random
    /// node (which forwards it) when none does.
    fn propose_marker(&mut self) -> Check {
        let leader = (0..self.nodes.len())
            .filter(|&p| self.nodes[p].node.status().role == Role::Leader)
            .max_by_key(|&p| self.nodes[p].node.status().term);
        let position = leader.unwrap_or_else(|| self.rng.gen_range(0..self.nodes.len()));
        let id = self.nodes[position].id;
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: propose the liveness marker at node {id}"));
        let outcome = self.nodes[position].node.raw.propose(self.marker.clone());
        tolerate(id, "the liveness marker", outcome)?;
        self.drain(position)
    }

    fn marker_applied_everywhere(&self) -> bool {
        self.marker_index.is_some_and(|m| self.nodes.iter().all(|n| n.app.applied_index >= m))
    }

    fn liveness_violation(&self, healed_tick: u64) -> Violation {
        let marker = match self.marker_index {
            Some(index) => format!("the marker (index {index}) was not applied everywhere"),
            None => "the marker was never committed".to_string(),
        };
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                let s = n.node.status();
                format!(
                    "{}: {} term {} commit {} applied {}",
                    n.id,
                    s.role.as_str(),
                    s.term,
                    s.commit,
                    n.app.applied_index
                )
            })
            .collect();
        Violation::new(
            Property::Liveness,
            format!(
                "healed at tick {healed_tick}, {marker} within {LIVENESS_BOUND_TICKS} ticks; nodes [{}]",
                nodes.join("; ")
            ),
        )
    }

    /// A full comparison of every node's log with its shadow, at the end of the run.
    fn final_audit(&mut self) -> Check {
        for position in 0..self.nodes.len() {
            self.checker.request_audit(self.nodes[position].id);
            self.sync_checker(position)?;
        }
        Ok(())
    }

    /// The report of the run, with `outcome`'s violation (if any) located by seed, tick and step.
    pub fn into_report(self, mut report: SimReport, outcome: Check) -> SimReport {
        if let Err(violation) = outcome {
            report.violations.push(format!(
                "seed {}, {} nodes, tick {}, step {}: {violation}",
                self.seed,
                self.nodes.len(),
                self.tick,
                self.checker.steps_checked()
            ));
        }
        report.ticks_run = self.tick;
        report.steps_checked = self.checker.steps_checked();
        report.faults_injected = self.faults.total();
        report.faults = self.faults;
        report.committed_entries = self.checker.committed_index();
        report.proposals_accepted = self.stats.proposals_accepted;
        report.leader_terms = self.checker.leader_terms() as u64;
        report.snapshots_restored = self.stats.snapshots_restored;
        report.reads_confirmed = self.stats.reads_confirmed;
        report.trace_fingerprint = self.trace.fingerprint().value();
        report.trace = self.trace.into_lines();
        report
    }
}

/// Refusals a client or peer must expect (not the leader, proposal dropped) are fine; any other
/// error is a bug of the node.
fn tolerate(id: NodeId, what: &str, outcome: Result<(), RaftError>) -> Check {
    match outcome {
        Ok(()) | Err(RaftError::NotLeader { .. }) | Err(RaftError::ProposalDropped { .. }) => Ok(()),
        Err(error) => Err(Violation::new(Property::NodeError, format!("node {id} failed on {what}: {error}"))),
    }
}

/// The configurations of one run: the defaults of the brief (election timeout 10 ticks,
/// heartbeat 1) with pre-vote, check-quorum and the flow-control limits varied by seed.
fn draw_configs(nodes: usize, rng: &mut ChaCha8Rng) -> Vec<Config> {
    let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let pre_vote = rng.gen_ratio(3, 4);
    let check_quorum = rng.gen_ratio(3, 4);
    let small_limits = rng.gen_ratio(1, 2);
    // One entry per message most often: it splits a new leader's no-op from the older entries
    // before it, the window in which commit-rule bugs (Raft paper, figure 8) show.
    const ENTRIES_PER_MSG: [usize; 6] = [1, 1, 1, 2, 4, 8];
    let max_entries_per_msg = ENTRIES_PER_MSG[rng.gen_range(0..ENTRIES_PER_MSG.len())];
    let max_inflight_msgs = rng.gen_range(1..=4);
    let max_committed_entries_per_ready = rng.gen_range(1..=8);
    // With tiny messages and windows, replication moves a few entries per round trip; the
    // leader's backlog is capped at a few round trips' worth so that, once faults heal,
    // everything pending can commit within the liveness bound.
    let max_uncommitted_bytes = 8 * max_entries_per_msg * max_inflight_msgs * TYPICAL_ENTRY_BYTES;
    voters
        .iter()
        .map(|&id| {
            let mut config = Config::new(id, voters.clone());
            config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
            config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
            config.pre_vote = pre_vote;
            config.check_quorum = check_quorum;
            if small_limits {
                config.max_entries_per_msg = max_entries_per_msg;
                config.max_inflight_msgs = max_inflight_msgs;
                config.max_committed_entries_per_ready = max_committed_entries_per_ready;
                config.max_uncommitted_bytes = max_uncommitted_bytes;
            }
            config.seed = rng.gen();
            config
        })
        .collect()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        return (*message).to_string();
    }
    panic.downcast_ref::<String>().cloned().unwrap_or_else(|| "(no message)".to_string())
}

fn flip_one_bit(frame: &Bytes, rng: &mut ChaCha8Rng) -> Bytes {
    let mut corrupted = frame.to_vec();
    if !corrupted.is_empty() {
        let bit = rng.gen_range(0..corrupted.len() * 8);
        corrupted[bit / 8] ^= 1 << (bit % 8);
    }
    Bytes::from(corrupted)
}

fn describe_setup(config: &Config, profile: &FaultProfile) -> String {
    format!(
        "setup: {} nodes, pre_vote {}, check_quorum {}, max_entries_per_msg {}, max_inflight_msgs {}, faults {profile:?}",
        config.voters.len(),
        config.pre_vote,
        config.check_quorum,
        config.max_entries_per_msg,
        config.max_inflight_msgs
    )
}

fn describe_packet(packet: &Packet) -> String {
    let route = format!("{} -> {}", packet.from, packet.to);
    if packet.corrupted {
        return format!("{route} corrupted frame");
    }
    match decode_message(&packet.frame, DEFAULT_MAX_FRAME_BYTES) {
        Ok(Some((m, _))) => format!(
            "{route} {:?} term {} log_term {} index {} commit {} entries {} reject {} hint {} context {}{}",
            m.msg_type,
            m.term,
            m.log_term,
            m.index,
            m.commit,
            m.entries.len(),
            m.reject,
            m.reject_hint,
            m.context,
            m.snapshot.as_ref().map_or(String::new(), |s| format!(" snapshot {}/{}", s.meta.index, s.meta.term))
        ),
        _ => format!("{route} undecodable frame"),
    }
}

fn describe_request(request: &ClientAction) -> String {
    match request {
        ClientAction::Propose { position, payloads } => {
            format!("propose {} entries at node {}", payloads.len(), position + 1)
        }
        ClientAction::ReadIndex { position, request_id } => format!("read {request_id} at node {}", position + 1),
        ClientAction::TransferLeader { position, to } => {
            format!("transfer leadership to {to} via node {}", position + 1)
        }
        ClientAction::Campaign { position } => format!("campaign at node {}", position + 1),
        ClientAction::Compact { position } => format!("compact node {}", position + 1),
    }
}
