//! [`ScenarioCluster`]: one seeded run of a scenario, for any [`SimProtocol`]. Every node
//! runs through the production [`Driver`] in the runtime's mode (persistence by the caller);
//! writes complete at once, in order, and packets take 0 or 1 tick (drawn), so the only
//! faults are the scenario's cut links. The phases are those of the module docs of `partial`.

use crate::driver::{Action, Consensus, Driver, DriverOptions, Next, NodeRole, WriteId};
use crate::error::RaftError;
use crate::raft::mem_node::StepError;
use crate::raft::message::{EntryKind, NodeId};
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation};
use crate::sim::cluster::SIM_TICK_NS;
use crate::sim::faults::{FaultProfile, PacketFate};
use crate::sim::network::{Network, Packet};
use crate::sim::partial::recovery::{Recovery, RecoveryMeter};
use crate::sim::partial::scenario::{Roles, Scenario};
use crate::sim::partial::topology::Topology;
use crate::sim::protocol::{SafetyChecker, SimProtocol};
use crate::sim::trace::{Event, Trace};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Entries committed on every node before the cut (after the leader's own first entry).
pub const WARMUP_ENTRIES: u64 = 5;
/// Entries committed without the hub while it lags (constrained-election).
pub const LAG_ENTRIES: u64 = 5;
/// Ticks the warm-up and the lag phase may each take before the run is declared broken: far
/// more than a first election and a few round trips on a healthy network need.
pub const MAX_SETUP_TICKS: u64 = 500;
/// Polls one drain may take before the node is declared stuck in a loop.
pub const MAX_POLLS_PER_DRAIN: usize = 4096;

/// One node and its application.
struct ScenarioNode<C: Consensus> {
    id: NodeId,
    driver: Driver<C>,
    app: AppState,
    /// Entries with a payload applied (no-ops not counted): how the setup phases know their
    /// entries reached a node.
    applied_payloads: u64,
}

/// What a run found besides the recovery measure (see `ScenarioReport`).
#[derive(Clone, Debug, Default)]
pub struct RunFacts {
    pub roles: Option<Roles>,
    /// Entries the leader had applied and the hub had not, at the cut.
    pub hub_lag_entries: u64,
    pub cut_tick: u64,
    pub recovery: Recovery,
    /// The node claiming leadership in the highest epoch at the end, if any.
    pub leader_at_end: Option<NodeId>,
}

/// One seeded cluster running one scenario.
pub struct ScenarioCluster<'p, P: SimProtocol> {
    protocol: &'p P,
    rng: ChaCha8Rng,
    /// Ticks elapsed.
    tick: u64,
    nodes: Vec<ScenarioNode<P::Core>>,
    network: Network,
    checker: P::Checker,
    /// Set at the cut.
    meter: Option<RecoveryMeter>,
    pub(super) trace: Trace,
    pub(super) facts: RunFacts,
}

impl<'p, P: SimProtocol> ScenarioCluster<'p, P> {
    /// A cluster of `nodes` fresh nodes whose randomness comes from `seed`.
    pub fn new(protocol: &'p P, nodes: usize, seed: u64, trace_lines: usize) -> Result<Self, Violation> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let mut members = Vec::with_capacity(nodes);
        for &id in &voters {
            let start =
                |error: RaftError| Violation::new(Property::NodeError, format!("node {id} failed to start: {error}"));
            let core = protocol.start(id, &voters, rng.gen()).map_err(start)?;
            let mut options = DriverOptions::derive(core.timing(), SIM_TICK_NS, id);
            options.durable = true;
            let driver = Driver::new(core, options, 0, 0).map_err(start)?;
            members.push(ScenarioNode { id, driver, app: AppState::default(), applied_payloads: 0 });
        }
        let checker = protocol.checker(&members.iter().map(|m| m.driver.core()).collect::<Vec<_>>());
        Ok(ScenarioCluster {
            protocol,
            rng,
            tick: 0,
            nodes: members,
            network: Network::new(nodes),
            checker,
            meter: None,
            trace: Trace::new(trace_lines),
            facts: RunFacts::default(),
        })
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }

    pub fn steps_checked(&self) -> u64 {
        self.checker.steps_checked()
    }

    /// The election timeout of the nodes, in ticks.
    pub fn election_timeout_ticks(&self) -> u64 {
        self.nodes[0].driver.core().timing().election_timeout_ticks as u64
    }

    /// Runs `scenario` through its phases, measuring recovery for `deadline_ticks` after the
    /// cut, then audits every log.
    pub fn run(&mut self, scenario: Scenario, deadline_ticks: u64) -> Check {
        let leader = self.warm_up()?;
        let followers: Vec<usize> = (0..self.nodes.len()).filter(|&p| p != leader).collect();
        let hub = followers[self.rng.gen_range(0..followers.len())];
        let roles = Roles { leader, hub };
        self.facts.roles = Some(roles);
        self.note(|| format!("roles: leader {}, hub {}", leader + 1, hub + 1));
        if scenario.hub_lags() {
            self.lag(scenario, roles)?;
        }
        self.cut(scenario, roles, deadline_ticks)?;
        while self.tick < self.meter.as_ref().map_or(0, |m| m.deadline_tick()) {
            self.propose_probe()?;
            self.step_tick()?;
        }
        let meter = self.meter.as_ref().expect("the cut sets the meter");
        self.facts.recovery = meter.outcome();
        self.facts.leader_at_end = self.claimed_leader().map(|p| self.nodes[p].id);
        self.final_audit()
    }

    /// All links up until a leader is elected and [`WARMUP_ENTRIES`] proposed at it are applied
    /// everywhere. Returns the leader's position. A leader deposed before its entries were
    /// chosen may take them along (Multi-Paxos forgets a value no phase 2 quorum accepted), so
    /// they are proposed again at its successor.
    fn warm_up(&mut self) -> Result<usize, Violation> {
        let mut proposed_at = None;
        while self.tick < MAX_SETUP_TICKS {
            self.step_tick()?;
            let leader = self.claimed_leader();
            let deposed = proposed_at.is_some_and(|p| leader.is_some_and(|l| l != p));
            if (proposed_at.is_none() || deposed) && leader.is_some_and(|p| self.nodes[p].driver.may_propose()) {
                let leader = leader.expect("checked");
                self.propose_setup_entries(leader, "warm-up", WARMUP_ENTRIES)?;
                proposed_at = Some(leader);
            }
            let done = self.nodes.iter().all(|n| n.applied_payloads >= WARMUP_ENTRIES);
            if let (true, Some(leader)) = (done, proposed_at) {
                if self.claimed_leader() == Some(leader) {
                    return Ok(leader);
                }
            }
        }
        Err(self.setup_failure("warm-up: no leader with its entries applied everywhere"))
    }

    /// The hub is cut off while [`LAG_ENTRIES`] proposed at the leader are applied by every
    /// other node.
    fn lag(&mut self, scenario: Scenario, roles: Roles) -> Check {
        self.impose(&scenario.lagging_links(roles), "the hub lags");
        let deadline_tick = self.tick + MAX_SETUP_TICKS;
        self.propose_setup_entries(roles.leader, "lag", LAG_ENTRIES)?;
        let target = WARMUP_ENTRIES + LAG_ENTRIES;
        while self.tick < deadline_tick {
            self.step_tick()?;
            let done = self.nodes.iter().enumerate().all(|(p, n)| p == roles.hub || n.applied_payloads >= target);
            if done {
                return Ok(());
            }
        }
        Err(self.setup_failure("lag: the entries proposed while the hub lags were not applied by the others"))
    }

    /// Imposes the scenario's links; the leader must still lead.
    fn cut(&mut self, scenario: Scenario, roles: Roles, deadline_ticks: u64) -> Check {
        if self.claimed_leader() != Some(roles.leader) {
            return Err(self.setup_failure("the cut: the leader lost its leadership before it"));
        }
        let leader = &self.nodes[roles.leader].driver;
        let incumbent = (self.protocol.epoch_number(leader.epoch()), self.nodes[roles.leader].id);
        let lag = leader.applied_index().saturating_sub(self.nodes[roles.hub].driver.applied_index());
        self.facts.hub_lag_entries = lag;
        self.facts.cut_tick = self.tick;
        self.impose(&scenario.links_after_cut(roles), "the cut");
        self.meter = Some(RecoveryMeter::new(self.tick, deadline_ticks, incumbent, self.highest_epoch()));
        Ok(())
    }

    fn impose(&mut self, topology: &Topology, what: &str) {
        topology.apply_to(&mut self.network);
        let tick = self.tick;
        self.note(|| format!("tick {tick}: {what}: links up {topology}"));
    }

    /// One tick: every node ticks, then every packet due is delivered.
    fn step_tick(&mut self) -> Check {
        self.tick += 1;
        self.trace.record(Event::Tick, &[self.tick]);
        for position in 0..self.nodes.len() {
            self.nodes[position].driver.add_ticks(1);
            self.drain(position)?;
        }
        while let Some(packet) = self.network.pop_due(self.tick) {
            self.deliver(packet)?;
        }
        Ok(())
    }

    /// A client proposes the next probe at the node claiming leadership in the highest epoch
    /// (clients talk to the leader; a node that can reach it would forward it there).
    fn propose_probe(&mut self) -> Check {
        let Some(position) = self.claimed_leader() else { return Ok(()) };
        if !self.nodes[position].driver.may_propose() {
            return Ok(());
        }
        let probe = self.meter.as_mut().expect("probes follow the cut").next_probe();
        let outcome = self.nodes[position].driver.propose_batch(vec![probe]);
        self.tolerate(position, "a probe", outcome)?;
        self.drain(position)
    }

    fn propose_setup_entries(&mut self, position: usize, what: &str, count: u64) -> Check {
        let payloads = (0..count).map(|k| Bytes::from(format!("{what}/{k}"))).collect();
        let outcome = self.nodes[position].driver.propose_batch(payloads);
        if let Err(error) = outcome {
            let id = self.nodes[position].id;
            return Err(self.setup_failure(&format!("{what}: leader {id} refused its entries: {error}")));
        }
        self.drain(position)
    }

    fn deliver(&mut self, packet: Packet) -> Check {
        if self.network.is_cut(packet.from, packet.to) {
            return Ok(());
        }
        self.trace.record(Event::Deliver, &[packet.from, packet.to]);
        let position = (packet.to - 1) as usize;
        match self.nodes[position].driver.step_stream(&packet.frame) {
            Ok(taken) if taken == packet.frame.len() => {}
            Ok(taken) => {
                return Err(Violation::new(
                    Property::Codec,
                    format!(
                        "node {} took {taken} of {} bytes from node {}",
                        packet.to,
                        packet.frame.len(),
                        packet.from
                    ),
                ))
            }
            Err(StepError::Raft(error)) => self.tolerate(position, "a message", Err(error))?,
            Err(StepError::Decode(error)) => {
                return Err(Violation::new(
                    Property::Codec,
                    format!("node {} could not decode frames from node {}: {error}", packet.to, packet.from),
                ))
            }
        }
        self.drain(position)
    }

    /// Polls node `position`'s driver until it is idle, carrying out its actions; the writes a
    /// poll hands out complete at once, in order.
    fn drain(&mut self, position: usize) -> Check {
        let mut actions = Vec::new();
        for _ in 0..MAX_POLLS_PER_DRAIN {
            let now_ns = self.tick * SIM_TICK_NS;
            let next = self.nodes[position].driver.poll(now_ns, &mut actions).map_err(|error| {
                Violation::new(Property::NodeError, format!("node {}: {error}", self.nodes[position].id))
            })?;
            let last_write = self.carry_out(position, std::mem::take(&mut actions))?;
            if let Some(id) = last_write {
                self.nodes[position].driver.writes_done(id, now_ns, &mut actions);
                self.carry_out(position, std::mem::take(&mut actions))?;
            }
            if next == Next::Idle && last_write.is_none() {
                let epoch = self.protocol.epoch_number(self.nodes[position].driver.epoch());
                if let Some(meter) = self.meter.as_mut() {
                    meter.observe_epoch(epoch);
                }
                return Ok(());
            }
        }
        let id = self.nodes[position].id;
        Err(Violation::new(Property::NodeError, format!("node {id} still had work after {MAX_POLLS_PER_DRAIN} polls")))
    }

    /// Carries out the actions of node `position` in order; returns the last write they handed
    /// out, if any.
    fn carry_out(&mut self, position: usize, actions: Vec<Action>) -> Result<Option<WriteId>, Violation> {
        if actions.is_empty() {
            return Ok(None);
        }
        self.protocol.sync_checker(&mut self.checker, self.nodes[position].driver.core())?;
        let id = self.nodes[position].id;
        let mut last_write = None;
        for action in actions {
            match action {
                Action::Durable { .. } | Action::ServeReads { .. } | Action::SnapshotSkipped { .. } => {}
                Action::ConfChanged { .. } => {}
                Action::Role { role, leader, epoch } => self.observe_role(id, role, leader, epoch),
                Action::Send { to, frames } => self.send(id, to, frames)?,
                Action::Write { id: write_id, .. } => last_write = Some(write_id),
                Action::Apply { entries, .. } => {
                    for entry in entries.iter() {
                        self.checker.observe_apply(id, entry)?;
                        let node = &mut self.nodes[position];
                        self.protocol.apply(&mut node.app, entry);
                        node.applied_payloads += (entry.kind == EntryKind::Normal && !entry.data.is_empty()) as u64;
                        self.trace.record(Event::Apply, &[id, entry.index]);
                        if let Some(meter) = self.meter.as_mut() {
                            meter.observe_applied(self.tick, &entry.data);
                        }
                    }
                    if let Some(last) = entries.last() {
                        self.nodes[position].driver.applied_to(last.index);
                    }
                }
                Action::TakeSnapshot { index } => {
                    // The state is a fingerprint: captured and taken at once.
                    let node = &mut self.nodes[position];
                    node.driver.snapshot_started(index, false);
                    node.driver.snapshot_taken(index, node.app.encode());
                }
                Action::Compact { .. } => self.nodes[position].driver.compaction_done(),
                Action::SendSnapshot { .. } => {
                    unreachable!("SendSnapshot: simulated nodes send snapshots in frames")
                }
                Action::Restore { snapshot } => {
                    self.checker.observe_restore(id, &snapshot)?;
                    // The checker verified the data decodes to the state at the snapshot's index.
                    let node = &mut self.nodes[position];
                    node.app = AppState::decode(&snapshot.data).unwrap_or_default();
                    // Restored at once (the cluster simulation draws delays).
                    node.driver.restore_done(snapshot.meta.index);
                }
            }
        }
        Ok(last_write)
    }

    fn observe_role(&mut self, id: NodeId, role: NodeRole, leader: Option<NodeId>, epoch: u64) {
        self.trace.record(Event::Role, &[id, role as u64, epoch]);
        let tick = self.tick;
        self.note(|| format!("tick {tick}: node {id} {} epoch {epoch} leader {leader:?}", role.as_str()));
        let number = self.protocol.epoch_number(epoch);
        if let Some(meter) = self.meter.as_mut() {
            meter.observe_epoch(number);
            if role == NodeRole::Leader {
                meter.observe_leader(number, id);
            }
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, frames: Vec<u8>) -> Check {
        if to == 0 || to > self.nodes.len() as NodeId {
            return Err(Violation::new(Property::NodeError, format!("node {from} sent to unknown node {to}")));
        }
        // The base latency only: 0 or 1 tick, drawn.
        let fate = PacketFate::draw(&FaultProfile::calm(), &mut self.rng);
        self.trace.record(Event::Send, &[from, to, fate.delay_ticks]);
        let packet = Packet { from, to, frame: Bytes::from(frames), corrupted: false };
        if !self.network.send(self.tick + fate.delay_ticks, packet) {
            return Err(Violation::new(Property::NodeError, "the network is full".to_string()));
        }
        Ok(())
    }

    /// The node claiming leadership in the highest epoch, if any (the lowest position first
    /// on a tie, which one epoch's safety rules out).
    fn claimed_leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&p| self.nodes[p].driver.role() == NodeRole::Leader)
            .max_by_key(|&p| (self.nodes[p].driver.epoch(), std::cmp::Reverse(p)))
    }

    /// The highest epoch any node reached, as an election count.
    fn highest_epoch(&self) -> u64 {
        self.nodes.iter().map(|n| self.protocol.epoch_number(n.driver.epoch())).max().unwrap_or(0)
    }

    /// Refusals a client must expect (not the leader, proposal dropped) are fine; any other
    /// error is a bug of the node.
    fn tolerate(&self, position: usize, what: &str, outcome: Result<(), RaftError>) -> Check {
        match outcome {
            Ok(()) | Err(RaftError::NotLeader { .. }) | Err(RaftError::ProposalDropped { .. }) => Ok(()),
            Err(error) => Err(Violation::new(
                Property::NodeError,
                format!("node {} failed on {what}: {error}", self.nodes[position].id),
            )),
        }
    }

    fn setup_failure(&self, what: &str) -> Violation {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}: {} epoch {}", n.id, n.driver.role().as_str(), n.driver.epoch()))
            .collect();
        Violation::new(Property::Liveness, format!("{what} (tick {}; nodes [{}])", self.tick, nodes.join("; ")))
    }

    /// A full comparison of every node's log with its shadow, at the end of the run.
    fn final_audit(&mut self) -> Check {
        for node in &self.nodes {
            self.checker.request_audit(node.id);
            self.protocol.sync_checker(&mut self.checker, node.driver.core())?;
        }
        self.checker.finish()
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        self.trace.note(line);
    }
}
