//! Partial-connectivity scenarios: the three network failures of the Omni-Paxos paper
//! (Ng, Haridi, Carbone, "Omni-Paxos: Breaking the Barriers of Partial Connectivity",
//! EuroSys 2023, section 2), in which some links fail but every node stays up, run
//! deterministically on a seeded cluster to see whether it commits again, and how fast.
//!
//! ## The scenarios
//!
//! Positions are fixed before the cut: the *leader* is the node leading then, the *hub* a
//! follower drawn from the seed. Links are cut both ways.
//!
//! * `quorum-loss` (5 nodes): every link is cut except those of the hub to every other node;
//!   the leader keeps only its link to the hub. The leader no longer reaches a quorum; the hub
//!   is the only quorum-connected node, so a protocol recovers by electing the hub.
//! * `constrained-election` (5 nodes): the hub is first cut off while [`runner::LAG_ENTRIES`]
//!   entries commit on the other four, so its log is behind. Then every link is cut except
//!   those of the hub to the other three followers, and the old leader is cut off entirely
//!   (kept linked to the hub, it would bring the hub's log up to date before stepping down,
//!   and this would be quorum-loss again). The hub is the only quorum-connected node and its
//!   log is the least up to date: a protocol that elects only a node with an up-to-date log
//!   (Raft's election restriction) cannot elect it, and no other node reaches a quorum.
//! * `chained` (3 nodes A, B, C): A leads, B is the hub; the link A-C is cut. B hears both, C
//!   cannot hear A. A protocol in which C's elections disrupt A (and A's then disrupt C's
//!   leader) livelocks.
//!
//! ## A run
//!
//! 1. Warm-up, every link up: a leader is elected and [`runner::WARMUP_ENTRIES`] entries
//!    proposed at it are applied on every node.
//! 2. Lag (constrained-election only): the hub is cut off while more entries are applied
//!    by the others.
//! 3. The cut: the scenario's links are imposed at tick `cut_tick`, and stay so to the end.
//! 4. Measure: for `deadline_election_timeouts` election timeouts after the cut, a client
//!    proposes a probe every tick at the node claiming leadership in the highest epoch. The
//!    cluster has *recovered* when some node applies (so the cluster committed) a probe by
//!    the deadline; `ticks_to_recover` counts from the cut to that tick. Leaderships begun and
//!    epochs (terms) passed after the cut are counted over the whole window: a livelock shows
//!    as many of either.
//!
//! The safety checker (`checker`) sees every node after every Ready throughout, and audits
//! every log at the end; a violation ends the run and is reported with its seed.
//!
//! There are no faults but the cut links: packets take 0 or 1 tick (drawn) and are never lost
//! on a link that is up, and writes complete at once. A seed draws the nodes' randomness
//! (Raft's election timeouts), the latencies and the hub, and replays exactly.
//!
//! ## Protocols
//!
//! The scenarios ([`scenario`]: which links are up when) and the measure ([`recovery`]: what
//! counts as recovered) know nothing of a protocol: the runner drives any
//! [`SimProtocol`] (the fault simulation's protocol trait) through the production `Driver`,
//! checked by that protocol's checker. [`run_scenario`] runs Raft with its defaults (pre-vote
//! and check-quorum on); [`run_scenario_with`] runs any protocol ([`PaxosProtocol`]:
//! Multi-Paxos with majority quorums).

pub mod recovery;
pub mod runner;
pub mod scenario;
pub mod topology;

use crate::raft::message::NodeId;
use crate::sim::checker::{Property, Violation};
use crate::sim::protocol::{RaftProtocol, SimProtocol};
use runner::ScenarioCluster;
use std::panic::AssertUnwindSafe;

pub use crate::sim::protocol::PaxosProtocol;
pub use recovery::Recovery;
pub use scenario::{Roles, Scenario};
pub use topology::Topology;

/// Recovery deadline unless asked otherwise, in election timeouts after the cut: the target
/// for Multi-Paxos (Omni-Paxos reports recovery within four).
pub const DEFAULT_DEADLINE_ELECTION_TIMEOUTS: u64 = 10;
/// Longest deadline a run accepts, in election timeouts.
pub const MAX_DEADLINE_ELECTION_TIMEOUTS: u64 = 1000;

/// What one scenario run does.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioOptions {
    pub scenario: Scenario,
    pub seed: u64,
    /// How long after the cut a probe may take to commit, in election timeouts: in
    /// `[1, MAX_DEADLINE_ELECTION_TIMEOUTS]`.
    pub deadline_election_timeouts: u64,
}

impl ScenarioOptions {
    pub fn new(scenario: Scenario, seed: u64) -> ScenarioOptions {
        ScenarioOptions { scenario, seed, deadline_election_timeouts: DEFAULT_DEADLINE_ELECTION_TIMEOUTS }
    }
}

/// What one scenario run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    /// The protocol run ("raft").
    pub protocol: &'static str,
    pub nodes: usize,
    pub seed: u64,
    pub election_timeout_ticks: u64,
    /// Ticks measured after the cut: `deadline_election_timeouts * election_timeout_ticks`.
    pub deadline_ticks: u64,
    /// The leader and the hub (node ids; 0 when the run broke before they were chosen).
    pub leader: NodeId,
    pub hub: NodeId,
    /// Entries the leader had applied and the hub had not, at the cut.
    pub hub_lag_entries: u64,
    pub cut_tick: u64,
    pub recovery: Recovery,
    /// The node claiming leadership in the highest epoch at the deadline.
    pub leader_at_end: Option<NodeId>,
    pub ticks_run: u64,
    /// Invariant checks run (one per Ready).
    pub steps_checked: u64,
    /// Safety violations, or a setup that failed; empty when the run was safe. The first one
    /// stops the run.
    pub violations: Vec<String>,
    /// Fingerprint of every event of the run: equal for two runs of one seed.
    pub trace_fingerprint: u64,
    /// Role changes and phases in words, when asked for.
    pub trace: Vec<String>,
}

impl ScenarioReport {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs one seeded scenario on Raft with its defaults (pre-vote and check-quorum on).
pub fn run_scenario(options: &ScenarioOptions, trace_lines: usize) -> ScenarioReport {
    run_scenario_with(&RaftProtocol::default(), options, trace_lines)
}

/// Runs one seeded scenario on `protocol`, keeping the last `trace_lines` phases and role
/// changes in words.
pub fn run_scenario_with<P: SimProtocol>(
    protocol: &P,
    options: &ScenarioOptions,
    trace_lines: usize,
) -> ScenarioReport {
    let scenario = options.scenario;
    let mut report = ScenarioReport {
        scenario,
        protocol: protocol.name(),
        nodes: scenario.nodes(),
        seed: options.seed,
        election_timeout_ticks: 0,
        deadline_ticks: 0,
        leader: 0,
        hub: 0,
        hub_lag_entries: 0,
        cut_tick: 0,
        recovery: Recovery::default(),
        leader_at_end: None,
        ticks_run: 0,
        steps_checked: 0,
        violations: Vec::new(),
        trace_fingerprint: 0,
        trace: Vec::new(),
    };
    let deadline = options.deadline_election_timeouts;
    if !(1..=MAX_DEADLINE_ELECTION_TIMEOUTS).contains(&deadline) {
        report.violations.push(format!(
            "invalid options: the deadline must be 1 to {MAX_DEADLINE_ELECTION_TIMEOUTS} election timeouts, got {deadline}"
        ));
        return report;
    }
    let mut cluster = match ScenarioCluster::new(protocol, scenario.nodes(), options.seed, trace_lines) {
        Ok(cluster) => cluster,
        Err(violation) => {
            report.violations.push(format!("seed {}: {violation}", options.seed));
            return report;
        }
    };
    report.election_timeout_ticks = cluster.election_timeout_ticks();
    report.deadline_ticks = deadline * report.election_timeout_ticks;
    // A node that panics (a failed assertion in the core) ends the run as a violation with
    // its seed instead of taking the caller down.
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| cluster.run(scenario, report.deadline_ticks)));
    let outcome = run.unwrap_or_else(|panic| {
        Err(Violation::new(Property::NodeError, format!("a node panicked: {}", panic_message(&*panic))))
    });
    if let Err(violation) = outcome {
        report.violations.push(format!(
            "{scenario}, seed {}, tick {}, step {}: {violation}",
            options.seed,
            cluster.tick(),
            cluster.steps_checked()
        ));
    }
    let facts = &cluster.facts;
    if let Some(roles) = facts.roles {
        report.leader = roles.leader as NodeId + 1;
        report.hub = roles.hub as NodeId + 1;
    }
    report.hub_lag_entries = facts.hub_lag_entries;
    report.cut_tick = facts.cut_tick;
    report.recovery = facts.recovery;
    report.leader_at_end = facts.leader_at_end;
    report.ticks_run = cluster.tick();
    report.steps_checked = cluster.steps_checked();
    report.trace_fingerprint = cluster.trace.fingerprint().value();
    report.trace = std::mem::take(&mut cluster.trace).into_lines();
    report
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        return (*message).to_string();
    }
    panic.downcast_ref::<String>().cloned().unwrap_or_else(|| "(no message)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: Scenario, seed: u64) -> ScenarioReport {
        let report = run_scenario(&ScenarioOptions::new(scenario, seed), 0);
        assert!(report.is_ok(), "{:?}", report.violations);
        report
    }

    #[test]
    fn a_seed_replays_exactly() {
        for scenario in Scenario::ALL {
            let (first, again, other) = (run(scenario, 7), run(scenario, 7), run(scenario, 8));
            assert_eq!(first, again);
            assert_ne!(first.trace_fingerprint, other.trace_fingerprint, "{scenario}");
        }
    }

    #[test]
    fn every_run_follows_its_phases_and_stays_safe() {
        for scenario in Scenario::ALL {
            for seed in 0..4 {
                let report = run(scenario, seed);
                assert_eq!((report.protocol, report.nodes), ("raft", scenario.nodes()));
                assert_eq!(report.election_timeout_ticks, crate::sim::cluster::ELECTION_TIMEOUT_TICKS);
                assert_eq!(report.deadline_ticks, DEFAULT_DEADLINE_ELECTION_TIMEOUTS * report.election_timeout_ticks);
                assert!(report.leader >= 1 && report.hub >= 1 && report.leader != report.hub);
                assert!(report.cut_tick > 0);
                assert_eq!(report.ticks_run, report.cut_tick + report.deadline_ticks);
                let lag = if scenario.hub_lags() { runner::LAG_ENTRIES } else { 0 };
                assert_eq!(report.hub_lag_entries, lag, "{scenario} seed {seed}");
                let recovery = report.recovery;
                assert!(recovery.probes_committed <= recovery.probes_proposed);
                assert_eq!(recovery.recovered, recovery.ticks_to_recover.is_some());
                assert!(recovery.ticks_to_recover.is_none_or(|t| (1..=report.deadline_ticks).contains(&t)));
                assert_eq!(recovery.recovered, recovery.probes_committed > 0);
                assert!(report.steps_checked > 0);
            }
        }
    }

    /// What Raft with pre-vote and check-quorum does, measured (each outcome follows from the
    /// protocol, and the seeds replay exactly): in quorum-loss the leader steps down (check-
    /// quorum) and the hub, up to date, wins the pre-vote and the election, one leadership
    /// and one term later; in constrained-election every node but the hub has a longer log,
    /// so the hub's pre-votes fail and no one else reaches a quorum: no leader, and pre-vote
    /// keeps the terms still; in chained, C's pre-votes fail at B, which hears the leader, and
    /// the leader keeps committing through B.
    #[test]
    fn raft_with_pre_vote_and_check_quorum_recovers_except_in_the_constrained_election() {
        for seed in 0..4 {
            let quorum_loss = run(Scenario::QuorumLoss, seed).recovery;
            assert!(quorum_loss.recovered);
            assert_eq!((quorum_loss.leader_changes, quorum_loss.epoch_changes), (1, 1));
            // Two election timeouts at least: one for the leader to step down, one for the hub.
            assert!(quorum_loss.ticks_to_recover.is_some_and(|t| t >= 2 * crate::sim::cluster::ELECTION_TIMEOUT_TICKS));
            let constrained = run(Scenario::ConstrainedElection, seed).recovery;
            assert!(!constrained.recovered);
            assert_eq!((constrained.leader_changes, constrained.epoch_changes), (0, 0));
            let chained = run(Scenario::Chained, seed).recovery;
            assert!(chained.recovered);
            assert_eq!((chained.leader_changes, chained.epoch_changes), (0, 0));
        }
    }

    #[test]
    fn a_deadline_too_short_is_no_recovery() {
        let options =
            ScenarioOptions { deadline_election_timeouts: 1, ..ScenarioOptions::new(Scenario::QuorumLoss, 3) };
        let report = run_scenario(&options, 0);
        assert!(report.is_ok(), "{:?}", report.violations);
        assert_eq!(report.deadline_ticks, report.election_timeout_ticks);
        assert!(!report.recovery.recovered);
        for deadline_election_timeouts in [0, MAX_DEADLINE_ELECTION_TIMEOUTS + 1] {
            let options = ScenarioOptions { deadline_election_timeouts, ..options };
            let report = run_scenario(&options, 0);
            assert!(report.violations[0].contains("invalid options"), "{:?}", report.violations);
        }
    }

    #[test]
    fn another_protocol_plugs_in() {
        // Raft without pre-vote or check-quorum stands in for a second protocol: the same
        // scenarios and measure, another node.
        let plain = RaftProtocol { pre_vote: false, check_quorum: false };
        let report = run_scenario_with(&plain, &ScenarioOptions::new(Scenario::Chained, 0), 1000);
        assert!(report.is_ok(), "{:?}", report.violations);
        // C's elections raise the term; pre-vote kept it still above.
        assert!(report.recovery.epoch_changes > 0);
        let roles = Roles { leader: report.leader as usize - 1, hub: report.hub as usize - 1 };
        let cut = format!("tick {}: the cut: links up {}", report.cut_tick, Scenario::Chained.links_after_cut(roles));
        assert!(report.trace.contains(&cut), "{cut} in {:#?}", report.trace);
    }
}
