//! The driver of one seeded run: a cluster of nodes of one protocol ([`SimProtocol`]: Raft's
//! `MemNode`s or Multi-Paxos's `PaxosNode`s) on a simulated network, under faults and client
//! load, checked after every step by the protocol's checker.
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

use crate::driver::{Action, Consensus, Driver, Nanos, Next, NodeRole};
use crate::error::RaftError;
use crate::raft::mem_node::StepError;
use crate::raft::message::{Index, NodeId, Snapshot, ENTRY_OVERHEAD_BYTES};
use crate::raft::ready::ReadState;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation};
use crate::sim::client::{ClientAction, Workload};
use crate::sim::disk::SimDisk;
use crate::sim::faults::{chance, FaultAction, FaultCounts, FaultProfile, FaultSchedule, PacketFate};
use crate::sim::network::{Network, Packet};
use crate::sim::protocol::{SafetyChecker, SimProtocol};
use crate::sim::trace::{Event, Trace};
use crate::sim::{SimOptions, SimReport};
use bytes::Bytes;
use describe::describe_packet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::AssertUnwindSafe;

mod actions;
mod describe;
mod liveness;
pub mod membership;
mod setup;

/// Largest cluster the simulator runs.
pub const MAX_SIM_NODES: usize = 9;
pub const ELECTION_TIMEOUT_TICKS: u64 = 10;
pub const HEARTBEAT_INTERVAL_TICKS: u64 = 1;
/// After healing, the marker must be applied everywhere within 10 election timeouts, each
/// counted at its longest (randomized timeouts lie in `[et, 2 et)`).
pub const LIVENESS_BOUND_TICKS: u64 = 10 * 2 * ELECTION_TIMEOUT_TICKS;
/// Packets delivered per tick at most; the rest wait for the next tick.
pub const MAX_DELIVERIES_PER_TICK: usize = 100_000;
/// Driver rounds that neither apply nor queue anything to apply one input may cause before the
/// node is declared stuck in a loop.
pub const MAX_IDLE_READY_ROUNDS_PER_INPUT: usize = 256;
/// Simulated time per tick: the driver's knobs (write stall, slices) derive from it.
pub const SIM_TICK_NS: Nanos = 1_000_000;
/// A snapshot being taken completes within `[0, MAX_SNAPSHOT_TICKS]` ticks.
pub const MAX_SNAPSHOT_TICKS: u64 = 4;
/// A restore of the leader's snapshot completes within `[0, MAX_RESTORE_TICKS]` ticks (0: at
/// once, as the action is carried out).
pub const MAX_RESTORE_TICKS: u64 = 4;
/// Bytes a client entry counts against the leader's uncommitted limit, on average (payload of
/// 8 to 64 bytes plus the per-entry overhead).
pub const TYPICAL_ENTRY_BYTES: usize = 36 + ENTRY_OVERHEAD_BYTES;
/// A slow node gets each of its ticks with this chance, and each delivery is put off by a tick
/// with `SLOW_NODE_DEFER_PER_MILLE`.
pub const SLOW_NODE_TICK_PER_MILLE: u32 = 300;
pub const SLOW_NODE_DEFER_PER_MILLE: u32 = 500;

/// A snapshot of the application being taken: the state at `index`, ready at `due_tick`.
struct PendingSnapshot {
    index: Index,
    data: Bytes,
    due_tick: u64,
}

/// The leader's snapshot being restored (in the background, as the runtime does in a worker
/// thread): the application takes its state at `due_tick`.
struct PendingRestore {
    snapshot: Snapshot,
    due_tick: u64,
}

/// One simulated node with its application: a core persisting by the caller, run by the
/// production driver over a simulated disk.
struct SimNode<C: Consensus> {
    id: NodeId,
    driver: Driver<C>,
    disk: SimDisk,
    snapshot: Option<PendingSnapshot>,
    restore: Option<PendingRestore>,
    app: AppState,
    /// Crashed: takes no input until restarted.
    down: bool,
    /// Gets only some of its ticks and deliveries.
    slow: bool,
    /// Removed from the configuration and shut down for good (membership runs): stays down.
    retired: bool,
}

/// Counters of the run that are not faults.
#[derive(Clone, Copy, Debug, Default)]
struct RunStats {
    proposals_accepted: u64,
    reads_confirmed: u64,
    snapshots_restored: u64,
}

/// One seeded cluster of protocol `P` under simulation.
pub struct SimCluster<'p, P: SimProtocol> {
    protocol: &'p P,
    seed: u64,
    rng: ChaCha8Rng,
    /// Ticks elapsed.
    tick: u64,
    nodes: Vec<SimNode<P::Core>>,
    network: Network,
    schedule: FaultSchedule,
    workload: Workload,
    checker: P::Checker,
    trace: Trace,
    faults: FaultCounts,
    stats: RunStats,
    /// The payload proposed after healing, and its index once some node applied it.
    marker: Bytes,
    marker_index: Option<Index>,
    /// The node last seen as leader, while it still is (by its own account).
    leader_hint: Option<usize>,
    membership: membership::MembershipPlan,
}

/// Runs one seeded simulation of `protocol` and reports it; `trace_lines` last events are kept
/// in words.
pub fn simulate<P: SimProtocol>(protocol: &P, options: &SimOptions, trace_lines: usize) -> SimReport {
    let mut report = SimReport {
        protocol: protocol.name(),
        nodes: options.nodes,
        seed: options.seed,
        ticks: options.ticks,
        ..SimReport::default()
    };
    if !(1..=MAX_SIM_NODES).contains(&options.nodes) {
        report.violations.push(format!("invalid options: nodes must be in 1..={MAX_SIM_NODES}, got {}", options.nodes));
        return report;
    }
    match SimCluster::new(protocol, options, trace_lines) {
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

impl<'p, P: SimProtocol> SimCluster<'p, P> {
    /// A cluster of `options.nodes` fresh nodes whose configuration, faults and workload are
    /// drawn from `options.seed`.
    pub fn new(protocol: &'p P, options: &SimOptions, trace_lines: usize) -> Result<Self, Violation> {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let setup = if options.membership {
            protocol.draw_setup_members(options.nodes, membership::initial_voters(options.nodes), &mut rng)?
        } else {
            protocol.draw_setup(options.nodes, &mut rng)?
        };
        let mut profile = FaultProfile::draw(&mut rng);
        if setup.lease_reads {
            // A lease assumes the nodes' clocks (ticks) run at about the same rate; a slow node
            // is a slow clock, which leases do not tolerate by design (thesis 6.4.1).
            profile.slow_per_mille = 0;
        }
        let workload = Workload::draw(options.nodes, &mut rng);
        let driving = setup::draw_driving(&mut rng);
        let checker = protocol.checker(&setup.cores.iter().collect::<Vec<_>>());
        let mut nodes = Vec::with_capacity(setup.cores.len());
        for core in setup.cores {
            let id = core.id();
            let options = driving.options(&core, id);
            let driver = Driver::new(core, options, 0, 0).map_err(|error: RaftError| {
                Violation::new(Property::NodeError, format!("node {id} failed to start: {error}"))
            })?;
            nodes.push(SimNode {
                id,
                driver,
                disk: SimDisk::default(),
                snapshot: None,
                restore: None,
                app: AppState::default(),
                down: false,
                slow: false,
                retired: false,
            });
        }
        let mut trace = Trace::new(trace_lines);
        trace.note(|| format!("setup: {}, faults {profile:?}", setup.summary));
        trace.note(|| format!("driver: {driving:?}"));
        Ok(SimCluster {
            protocol,
            seed: options.seed,
            rng,
            tick: 0,
            nodes,
            network: Network::new(options.nodes),
            schedule: FaultSchedule::new(profile, options.nodes),
            workload,
            checker,
            trace,
            faults: FaultCounts::default(),
            stats: RunStats::default(),
            marker: Bytes::from(format!("liveness-marker/{}", options.seed)),
            marker_index: None,
            leader_hint: None,
            membership: membership::MembershipPlan::new(options.membership, options.nodes),
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
        self.plan_membership()?;
        self.workload.plan_tick(self.leader_hint, &mut self.rng, requests);
        for request in requests.drain(..) {
            self.apply_request(request)?;
        }
        self.tick_nodes()?;
        self.deliver_due()?;
        self.retire_removed();
        Ok(())
    }

    fn begin_tick(&mut self) {
        self.tick += 1;
        self.trace.record(Event::Tick, &[self.tick]);
    }

    fn tick_nodes(&mut self) -> Check {
        for position in 0..self.nodes.len() {
            if self.nodes[position].down {
                continue;
            }
            self.finish_background_work(position)?;
            let sim = &self.nodes[position];
            if sim.slow && !chance(&mut self.rng, SLOW_NODE_TICK_PER_MILLE) {
                continue;
            }
            self.nodes[position].driver.add_ticks(1);
            self.drain(position)?;
        }
        Ok(())
    }

    /// Completes the node's disk writes and snapshot due by now, and drives it on.
    fn finish_background_work(&mut self, position: usize) -> Check {
        let tick = self.tick;
        let sim = &mut self.nodes[position];
        if let Some(job) = sim.snapshot.take_if(|job| job.due_tick <= tick) {
            sim.driver.snapshot_taken(job.index, job.data);
        }
        if let Some(job) = sim.restore.take_if(|job| job.due_tick <= tick) {
            self.finish_restore(position, job.snapshot)?;
        }
        self.complete_writes(position)?;
        self.drain(position)
    }

    /// Reports the writes the node's disk completed by now to its driver and carries out
    /// what waited for them; returns whether any completed.
    fn complete_writes(&mut self, position: usize) -> Result<bool, Violation> {
        let now_ns = self.now_ns();
        let sim = &mut self.nodes[position];
        let Some(id) = sim.disk.take_completed(self.tick) else { return Ok(false) };
        let mut actions = Vec::new();
        sim.driver.writes_done(id, now_ns, &mut actions);
        self.carry_out(position, actions)?;
        Ok(true)
    }

    fn now_ns(&self) -> Nanos {
        self.tick * SIM_TICK_NS
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
        let protocol = self.protocol;
        self.trace.note(|| format!("tick {tick}: deliver {}", describe_packet(protocol, &packet)));
        let result = self.protocol.step_frames(self.nodes[position].driver.core_mut(), &packet.frame);
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

    /// Drives node `position` until its driver is idle: carries out every action, completing
    /// the writes its disk makes durable in the same step.
    fn drain(&mut self, position: usize) -> Check {
        // Rounds that apply entries, or queue committed ones for the application, make progress
        // through a bounded log; only the others count. (While a snapshot being taken holds
        // applies, a node far behind moves its committed entries into the driver's apply queue
        // one Ready per round, up to `max_apply_backlog_bytes`: hundreds of rounds that apply
        // nothing, and no loop.)
        let mut idle_rounds = 0;
        let mut actions = Vec::new();
        while idle_rounds < MAX_IDLE_READY_ROUNDS_PER_INPUT {
            let now_ns = self.now_ns();
            let applied_before = self.nodes[position].app.applied_index;
            let queued_before = self.nodes[position].driver.apply_backlog_bytes();
            let next = self.nodes[position].driver.poll(now_ns, &mut actions).map_err(|error| {
                Violation::new(Property::NodeError, format!("node {}: {error}", self.nodes[position].id))
            })?;
            self.carry_out(position, std::mem::take(&mut actions))?;
            let wrote = self.complete_writes(position)?;
            if next == Next::Idle && !wrote {
                return Ok(());
            }
            let node = &self.nodes[position];
            let progressed =
                node.app.applied_index > applied_before || node.driver.apply_backlog_bytes() > queued_before;
            idle_rounds += (!progressed) as usize;
        }
        Err(Violation::new(
            Property::NodeError,
            format!(
                "node {} still had work after {MAX_IDLE_READY_ROUNDS_PER_INPUT} rounds that applied and queued nothing",
                self.nodes[position].id
            ),
        ))
    }

    /// Carries out a driver's actions for node `position`, in order.
    fn carry_out(&mut self, position: usize, actions: Vec<Action>) -> Check {
        if actions.is_empty() {
            return Ok(());
        }
        self.sync_checker(position)?;
        let id = self.nodes[position].id;
        for action in actions {
            match action {
                Action::Role { .. } | Action::Durable { .. } | Action::SnapshotSkipped { .. } => {}
                Action::ConfChanged { .. } => {}
                Action::Send { to, frames } => self.send_frames(id, to, frames)?,
                Action::Write { id: write_id, .. } => {
                    let sim = &mut self.nodes[position];
                    sim.disk.submit(write_id, self.tick, sim.slow, &mut self.rng);
                }
                Action::Apply { entries, .. } => {
                    let last = entries.last().map(|e| e.index);
                    for entry in &entries {
                        self.checker.observe_apply(id, entry)?;
                        self.protocol.apply(&mut self.nodes[position].app, entry);
                        self.trace.record(Event::Apply, &[id, entry.index]);
                        if self.marker_index.is_none() && entry.data == self.marker {
                            self.marker_index = Some(entry.index);
                        }
                    }
                    if let Some(last) = last {
                        self.nodes[position].driver.applied_to(last);
                    }
                }
                Action::ServeReads { reads } => {
                    for (batch, index) in reads {
                        let read = ReadState { index, request_id: read_key(id, batch) };
                        self.checker.observe_read_state(id, &read)?;
                        self.stats.reads_confirmed += 1;
                    }
                }
                Action::TakeSnapshot { index } => self.start_snapshot(position, index),
                Action::Compact { .. } => self.nodes[position].driver.compaction_done(),
                Action::SendSnapshot { .. } => {
                    unreachable!("SendSnapshot: simulated nodes send snapshots in frames")
                }
                Action::Restore { snapshot } => self.start_restore(position, snapshot)?,
            }
        }
        Ok(())
    }

    /// The application is snapshotted at `index` (its applied index): the snapshot is ready
    /// after up to `MAX_SNAPSHOT_TICKS`, and applies wait for it unless the application
    /// "captured" its state (drawn).
    fn start_snapshot(&mut self, position: usize, index: Index) {
        let frozen = self.rng.gen_bool(0.5);
        let due_tick = self.tick + self.rng.gen_range(0..=MAX_SNAPSHOT_TICKS);
        let sim = &mut self.nodes[position];
        debug_assert_eq!(sim.app.applied_index, index, "a snapshot is taken at the applied index");
        sim.driver.snapshot_started(index, frozen);
        sim.snapshot = Some(PendingSnapshot { index, data: sim.app.encode(), due_tick });
    }

    /// The leader's snapshot is restored at once or within `MAX_RESTORE_TICKS` (drawn); the
    /// driver holds applies and the reads past the old state meanwhile.
    fn start_restore(&mut self, position: usize, snapshot: Snapshot) -> Check {
        let delay_ticks = self.rng.gen_range(0..=MAX_RESTORE_TICKS);
        if delay_ticks == 0 {
            return self.finish_restore(position, snapshot);
        }
        self.nodes[position].restore = Some(PendingRestore { snapshot, due_tick: self.tick + delay_ticks });
        Ok(())
    }

    /// The application takes the restored state, and the driver hears it.
    fn finish_restore(&mut self, position: usize, snapshot: Snapshot) -> Check {
        let id = self.nodes[position].id;
        self.checker.observe_restore(id, &snapshot)?;
        // The checker verified the data decodes to the state at the snapshot's index.
        let sim = &mut self.nodes[position];
        sim.app = AppState::decode(&snapshot.data).unwrap_or_default();
        sim.driver.restore_done(snapshot.meta.index);
        self.stats.snapshots_restored += 1;
        Ok(())
    }

    fn sync_checker(&mut self, position: usize) -> Check {
        let sim = &self.nodes[position];
        let view = self.protocol.view(sim.driver.core());
        self.trace.record(Event::Role, &[sim.id, view.role_code, view.epoch, view.commit]);
        if view.role == NodeRole::Leader {
            self.leader_hint = Some(position);
        } else if self.leader_hint == Some(position) {
            self.leader_hint = None;
        }
        self.protocol.sync_checker(&mut self.checker, sim.driver.core())
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
            let consumed = match self.protocol.frame_bytes(&rest) {
                Ok(Some(consumed)) if consumed > 0 => consumed,
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
        report.conf_changes_proposed = self.membership.proposed;
        report.nodes_retired = self.membership.retired;
        report.trace_fingerprint = self.trace.fingerprint().value();
        report.trace = self.trace.into_lines();
        report
    }
}

/// The key under which the checker knows read batch `batch` of node `id` (batch ids are per
/// node).
pub(super) fn read_key(id: NodeId, batch: u64) -> u64 {
    (id << 48) | batch
}

/// Refusals a client or peer must expect (not the leader, proposal dropped) are fine; any other
/// error is a bug of the node.
fn tolerate(id: NodeId, what: &str, outcome: Result<(), RaftError>) -> Check {
    match outcome {
        Ok(()) | Err(RaftError::NotLeader { .. }) | Err(RaftError::ProposalDropped { .. }) => Ok(()),
        Err(error) => Err(Violation::new(Property::NodeError, format!("node {id} failed on {what}: {error}"))),
    }
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
