//! The deterministic fault simulation on Multi-Paxos: many seeds per cluster size must run safe
//! and live under the Paxos checker, a seed must replay exactly, and the checker must be able to
//! fail (fabricated histories that break one invariant each).

use senate_core::sim::partial::{run_scenario_with, PaxosProtocol, Scenario, ScenarioOptions};
use senate_core::sim::{self, SimOptions};
use senate_core::ProtocolId;

fn paxos(nodes: usize, seed: u64, ticks: u64) -> SimOptions {
    SimOptions { protocol: ProtocolId::Paxos, ..SimOptions::new(nodes, seed, ticks) }
}

/// Seeds per cluster size (release; a tenth in debug builds), and ticks of each fault phase.
const SEEDS_PER_SIZE: u64 = 200;
const FAULT_TICKS: u64 = 500;

/// (nodes, seed) runs that fail on liveness through known bugs of the Multi-Paxos core. Safety
/// must hold in them too. Empty since the fixes of issue 17: a candidate paging for longer than
/// an election timeout restarted phase 1 forever (3 nodes, seed 175), a leader leaked its
/// uncommitted-bytes budget until it refused every proposal (7 nodes, seed 132; 3 nodes, seed
/// 197), a leader with a phase 2 quorum of one ran ahead of its followers without bound (5
/// nodes, seed 367), and promisers overtook a candidate paging long logs (5 nodes, seed 697; 7
/// nodes, seed 367). CI runs 1,000 seeds per size (tests/test_cli.py).
const KNOWN_LIVENESS_FAILURES: [(usize, u64); 0] = [];

fn is_liveness(violation: &str) -> bool {
    violation.contains(": Liveness: ") || violation.contains(": Node Error: ")
}

#[test]
fn many_seeds_per_size_stay_safe_and_live() {
    let seeds = if cfg!(debug_assertions) { SEEDS_PER_SIZE / 10 } else { SEEDS_PER_SIZE };
    let mut failures = Vec::new();
    for nodes in [3, 5, 7] {
        for seed in 0..seeds {
            let report = sim::run(&paxos(nodes, seed, FAULT_TICKS));
            assert_eq!(report.protocol, "paxos");
            assert!(report.steps_checked > 0 && report.committed_entries > 0, "seed {seed}: {report:?}");
            let known = KNOWN_LIVENESS_FAILURES.contains(&(nodes, seed));
            failures.extend(report.violations.into_iter().filter(|v| !(known && is_liveness(v))));
        }
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}

/// Membership runs (`SimOptions::membership`): a pool of ids, three voters at first; learners
/// added, promoted, members removed and replaced during the faults, with α drawn per seed. The
/// checker judges each slot by the configuration the chosen log gives it; safety must hold in
/// every run. Liveness has a known gap (about one run in a hundred, see docs/simulation.md): a
/// voter added just before the faults end may not catch up within the bound under the
/// smallest flow limits; so here liveness may fail in at most one run in fifty.
#[test]
fn clusters_that_change_their_members_stay_safe_and_live() {
    let seeds = if cfg!(debug_assertions) { MEMBERSHIP_SEEDS / 10 } else { MEMBERSHIP_SEEDS };
    let (mut failures, mut stalls, mut changes, mut retired) = (Vec::new(), Vec::new(), 0, 0);
    for nodes in [4, 6] {
        for seed in 0..seeds {
            let report = sim::run(&SimOptions { membership: true, ..paxos(nodes, seed, FAULT_TICKS) });
            assert!(report.steps_checked > 0 && report.committed_entries > 0, "seed {seed}: {report:?}");
            changes += report.conf_changes_proposed;
            retired += report.nodes_retired;
            let (liveness, safety): (Vec<String>, Vec<String>) =
                report.violations.into_iter().partition(|v| v.contains("Liveness:"));
            failures.extend(safety);
            stalls.extend(liveness);
        }
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
    assert!(stalls.len() as u64 <= (2 * seeds).div_ceil(50), "liveness failures:\n{}", stalls.join("\n"));
    assert!(changes > seeds && retired > 0, "{changes} changes, {retired} nodes retired");
}

/// A liveness miss of the membership sweep, now live: node 1, removed and ahead, handed its
/// leadership over to node 4, the one new voter, while 4 lacked chosen slots; 4's campaign
/// found 1 more than a page ahead and handed the campaign back, and so on. Now a removed
/// leader hands over only to a voter holding every slot it knows chosen
/// (`paxos::membership`, `hand_over_leadership`).
#[test]
fn a_removed_leader_hands_over_to_a_voter_that_holds_the_chosen_slots() {
    let report = sim::run(&SimOptions { membership: true, ..paxos(7, 214, 500) });
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.nodes_retired > 0, "{report:?}");
}

/// Seeds per pool size of the membership runs (release; a tenth in debug builds).
const MEMBERSHIP_SEEDS: u64 = 100;

#[test]
fn a_seed_replays_exactly() {
    let first = sim::run(&paxos(5, 42, FAULT_TICKS));
    assert_eq!(first, sim::run(&paxos(5, 42, FAULT_TICKS)));
    assert!(first.faults_injected > 0 && first.committed_entries > 0, "{first:?}");
    assert_ne!(first.trace_fingerprint, sim::run(&paxos(5, 43, FAULT_TICKS)).trace_fingerprint);
    let raft = sim::run(&SimOptions::new(5, 42, FAULT_TICKS));
    assert_eq!(raft.protocol, "raft");
    assert_ne!(first.trace_fingerprint, raft.trace_fingerprint);
}

#[test]
fn partial_connectivity_scenarios_stay_safe_and_recover() {
    for scenario in Scenario::ALL {
        for seed in 0..8 {
            let report = run_scenario_with(&PaxosProtocol, &ScenarioOptions::new(scenario, seed), 0);
            assert!(report.is_ok(), "{scenario} seed {seed}: {:?}", report.violations);
            assert_eq!(report.protocol, "paxos");
            let recovery = report.recovery;
            assert_eq!(recovery.recovered, recovery.probes_committed > 0);
            // Epochs count ballot rounds, not the stored ballots (which hold the node id).
            assert!(recovery.epoch_changes < 100, "{scenario} seed {seed}: {recovery:?}");
        }
    }
}

/// Many seeds on demand, in release: `SIM_SEEDS=1000 SIM_TICKS=500 cargo test --release -p
/// senate-core --test paxos_sim -- --ignored many_seeds --nocapture` (SIM_NODES=3,5,7,
/// SIM_FIRST_SEED; SIM_MEMBERSHIP=1 for membership changes among a pool of SIM_NODES ids).
#[test]
#[ignore]
fn many_seeds() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let seeds = env("SIM_SEEDS", 100);
    let ticks = env("SIM_TICKS", 1_000);
    let first_seed = env("SIM_FIRST_SEED", 0);
    let sizes: Vec<usize> = std::env::var("SIM_NODES")
        .unwrap_or_else(|_| "3,5,7".to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let membership = std::env::var("SIM_MEMBERSHIP").is_ok_and(|v| v == "1");
    let started = std::time::Instant::now();
    let (mut steps, mut faults, mut committed, mut runs) = (0u64, 0u64, 0u64, 0u64);
    let (mut changes, mut retired, mut liveness) = (0u64, 0u64, 0usize);
    let mut failures = Vec::new();
    for &nodes in &sizes {
        for seed in first_seed..first_seed + seeds {
            let report = sim::run(&SimOptions { membership, ..paxos(nodes, seed, ticks) });
            runs += 1;
            changes += report.conf_changes_proposed;
            retired += report.nodes_retired;
            liveness += report.violations.iter().filter(|v| is_liveness(v)).count();
            steps += report.steps_checked;
            faults += report.faults_injected;
            committed += report.committed_entries;
            if std::env::var("SIM_VERBOSE").is_ok() {
                println!("{report:?}");
            }
            failures.extend(report.violations);
        }
    }
    println!(
        "{runs} runs ({sizes:?} nodes x {seeds} seeds, {ticks} ticks, membership {membership}) in {:.1?}: {steps} steps checked, {faults} faults, {committed} committed, {changes} membership changes, {retired} nodes retired, {} violations ({liveness} of liveness)",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}

/// Replays one seed and prints its last events: `SIM_SEED=3 SIM_NODES=5 SIM_TICKS=500
/// SIM_TRACE_LINES=200 cargo test --release -p senate-core --test paxos_sim -- --ignored replay_seed --nocapture`.
#[test]
#[ignore]
fn replay_seed() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let membership = std::env::var("SIM_MEMBERSHIP").is_ok_and(|v| v == "1");
    let options =
        SimOptions { membership, ..paxos(env("SIM_NODES", 3) as usize, env("SIM_SEED", 0), env("SIM_TICKS", 1_000)) };
    let report = sim::run_traced(&options, env("SIM_TRACE_LINES", 200) as usize);
    for line in &report.trace {
        println!("{line}");
    }
    println!("{:?}", sim::SimReport { trace: Vec::new(), ..report.clone() });
    assert!(report.violations.is_empty(), "violations:\n{}", report.violations.join("\n"));
}

/// One scenario seed on Multi-Paxos with its last events: `SIM_SCENARIO=chained SIM_SEED=5
/// cargo test --release -p senate-core --test paxos_sim -- --ignored replay_scenario --nocapture`.
#[test]
#[ignore]
fn replay_scenario() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let name = std::env::var("SIM_SCENARIO").unwrap_or_else(|_| "quorum-loss".to_string());
    let scenario = Scenario::from_name(&name).expect("a scenario name");
    let options = ScenarioOptions::new(scenario, env("SIM_SEED", 0));
    let report = run_scenario_with(&PaxosProtocol, &options, env("SIM_TRACE_LINES", 200) as usize);
    for line in &report.trace {
        println!("{line}");
    }
    println!("{:?}", report.recovery);
    assert!(report.violations.is_empty(), "violations:\n{}", report.violations.join("\n"));
}
