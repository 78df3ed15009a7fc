//! The deterministic simulation: many seeds per cluster size must run safe and live, a seed
//! must replay exactly, and the checker must be able to fail (each invariant is shown a
//! fabricated history that breaks it).
//!
//! Debug builds run a few dozen seeds here; `senate sim` runs thousands in release.

use bytes::Bytes;
use proptest::prelude::*;
use senate_core::sim::app::AppState;
use senate_core::sim::{self, Checker, Property, SimOptions, ThroughputOptions};
use senate_core::{Entry, EntryKind, Index, MemStorage, NodeId, ProtocolId, ReadState, Role, Storage, Term};

/// Seeds per cluster size, and ticks of each run's fault phase.
const SEEDS_PER_SIZE: u64 = 25;
const FAULT_TICKS: u64 = 1_000;

fn run_seeds(nodes: usize, first_seed: u64) {
    let (mut failures, mut restored) = (Vec::new(), 0);
    for seed in first_seed..first_seed + SEEDS_PER_SIZE {
        let report = sim::run(&SimOptions::new(nodes, seed, FAULT_TICKS));
        assert!(report.steps_checked > 0, "seed {seed}: nothing was checked");
        restored += report.snapshots_restored;
        failures.extend(report.violations);
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
    // Restores run as jobs of up to `MAX_RESTORE_TICKS` (applies and reads held meanwhile).
    assert!(restored > 0, "no seed restored a snapshot");
}

#[test]
fn three_node_clusters_stay_safe_and_live() {
    run_seeds(3, 3_000);
}

#[test]
fn five_node_clusters_stay_safe_and_live() {
    run_seeds(5, 5_000);
}

#[test]
fn seven_node_clusters_stay_safe_and_live() {
    run_seeds(7, 7_000);
}

/// Membership runs: a pool of ids, three of them voters at first; learners added, promoted,
/// members removed and replaced through joint configurations during the faults. Safety must
/// hold in every run. Liveness misses about one run in a hundred (see
/// `sim::cluster::membership`), so here it may fail in at most one run of the sweep.
fn run_membership_seeds(nodes: usize, first_seed: u64) {
    let (mut failures, mut stalls, mut changes, mut retired) = (Vec::new(), Vec::new(), 0, 0);
    for seed in first_seed..first_seed + SEEDS_PER_SIZE {
        let report = sim::run(&SimOptions { membership: true, ..SimOptions::new(nodes, seed, FAULT_TICKS) });
        assert!(report.steps_checked > 0, "seed {seed}: nothing was checked");
        changes += report.conf_changes_proposed;
        retired += report.nodes_retired;
        let (liveness, safety): (Vec<String>, Vec<String>) =
            report.violations.into_iter().partition(|v| v.contains("Liveness:"));
        failures.extend(safety);
        stalls.extend(liveness);
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
    assert!(stalls.len() <= 1, "liveness failures:\n{}", stalls.join("\n"));
    assert!(changes > SEEDS_PER_SIZE && retired > 0, "{changes} changes, {retired} nodes retired");
}

#[test]
fn clusters_that_change_their_members_stay_safe_and_live() {
    run_membership_seeds(5, 50_000);
}

#[test]
fn larger_pools_that_change_their_members_stay_safe_and_live() {
    run_membership_seeds(9, 90_000);
}

/// A liveness miss of the membership sweep, now live: node 2, the voter left, did not know
/// that node 1's removal committed and needed its vote; node 1, removed with a longer log,
/// refused it and, no voter, never campaigned. Now it campaigns to hand over
/// (`raft::election`, `campaign_to_hand_over`).
#[test]
fn a_removed_node_with_a_longer_log_campaigns_to_hand_over() {
    let report = sim::run(&SimOptions { membership: true, ..SimOptions::new(5, 257, 1_000) });
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.nodes_retired > 0, "{report:?}");
}

#[test]
fn a_membership_run_replays_exactly_and_a_fixed_run_is_unchanged_by_the_option() {
    let options = SimOptions { membership: true, ..SimOptions::new(7, 42, FAULT_TICKS) };
    let first = sim::run(&options);
    assert_eq!(first, sim::run(&options));
    assert!(first.conf_changes_proposed > 0, "{first:?}");
    let fixed = SimOptions::new(7, 42, FAULT_TICKS);
    assert_eq!(sim::run(&fixed).conf_changes_proposed, 0);
    let paxos = sim::run(&SimOptions { protocol: ProtocolId::Paxos, ..options });
    assert!(paxos.violations.is_empty() && paxos.conf_changes_proposed > 0, "{paxos:?}");
}

#[test]
fn a_seed_replays_exactly() {
    let options = SimOptions::new(5, 42, FAULT_TICKS);
    let first = sim::run(&options);
    let second = sim::run(&options);
    assert_eq!(first, second);
    assert!(first.faults_injected > 0 && first.committed_entries > 0, "{first:?}");
    let other = sim::run(&SimOptions { seed: 43, ..options });
    assert_ne!(first.trace_fingerprint, other.trace_fingerprint);
}

#[test]
fn a_traced_run_keeps_its_last_events() {
    let report = sim::run_traced(&SimOptions::new(3, 7, 50), 20);
    assert_eq!(report.trace.len(), 20);
    assert_eq!(report.trace_fingerprint, sim::run(&SimOptions::new(3, 7, 50)).trace_fingerprint);
}

#[test]
fn invalid_cluster_size_is_reported() {
    let report = sim::run(&SimOptions::new(0, 1, 10));
    assert_eq!(report.violations.len(), 1);
}

#[test]
fn throughput_run_applies_every_entry_on_every_node() {
    for protocol in [ProtocolId::Raft, ProtocolId::Paxos] {
        for batch in [1, 16, 256] {
            let options = ThroughputOptions { protocol, nodes: 3, batch, payload_bytes: 64, entries: 2_000 };
            let report = sim::run_throughput(&options);
            assert_eq!(report.error, None, "{protocol}");
            assert_eq!(report.protocol, protocol);
            assert_eq!(report.committed_entries, 2_000, "{report:?}");
            assert!(report.messages > 0 && report.bytes > 64 * 2_000, "{report:?}");
        }
    }
}

#[test]
fn throughput_run_defaults_to_raft_and_reports_a_bad_cluster() {
    assert_eq!(ProtocolId::default(), ProtocolId::Raft);
    for protocol in [ProtocolId::Raft, ProtocolId::Paxos] {
        let report =
            sim::run_throughput(&ThroughputOptions { protocol, nodes: 0, batch: 1, payload_bytes: 8, entries: 10 });
        assert_eq!(report.protocol, protocol);
        assert_eq!(report.committed_entries, 0);
        assert!(report.error.is_some(), "{report:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the cluster size, batch (past the driver's `max_batch_proposals` too) and
    /// payload, every node applies exactly the entries proposed: none lost, none twice.
    #[test]
    fn throughput_run_applies_exactly_what_was_proposed(
        nodes in 1usize..=5,
        batch in prop_oneof![1usize..=64, 4000usize..=5000],
        payload_bytes in 0usize..=100,
        entries in 1u64..=6_000,
    ) {
        let protocol = ProtocolId::Raft;
        let report = sim::run_throughput(&ThroughputOptions { protocol, nodes, batch, payload_bytes, entries });
        prop_assert_eq!(report.error.as_deref(), None);
        prop_assert_eq!(report.committed_entries, entries);
        if nodes > 1 {
            prop_assert!(report.bytes >= (nodes as u64 - 1) * entries * payload_bytes as u64, "{:?}", report);
        }
    }

    /// The same of Multi-Paxos: every `PaxosNode` applies exactly the entries proposed (the run
    /// reports an error for a node that applied any other count), whatever the cluster size,
    /// batch and payload.
    #[test]
    fn paxos_throughput_run_applies_exactly_what_was_proposed(
        nodes in 1usize..=5,
        batch in prop_oneof![1usize..=64, 4000usize..=5000],
        payload_bytes in 0usize..=100,
        entries in 1u64..=6_000,
    ) {
        let protocol = ProtocolId::Paxos;
        let report = sim::run_throughput(&ThroughputOptions { protocol, nodes, batch, payload_bytes, entries });
        prop_assert_eq!(report.error.as_deref(), None);
        prop_assert_eq!(report.committed_entries, entries);
        if nodes > 1 {
            prop_assert!(report.bytes >= (nodes as u64 - 1) * entries * payload_bytes as u64, "{:?}", report);
        }
    }
}

// ---- The checker can fail: fabricated histories that break one property each. ----

fn entry(index: Index, term: Term, data: &'static [u8]) -> Entry {
    let kind = if data.is_empty() { EntryKind::NoOp } else { EntryKind::Normal };
    Entry { index, term, kind, data: Bytes::from_static(data) }
}

/// A storage holding `entries` with `term`, `vote` and `commit` persisted.
fn storage(entries: &[Entry], term: Term, vote: NodeId, commit: Index) -> MemStorage {
    let mut storage = MemStorage::new(vec![1, 2, 3]);
    storage.append(entries);
    storage.set_hard_state(senate_core::HardState::new(term, vote, commit));
    storage
}

fn violated(result: Result<(), sim::Violation>) -> Property {
    match result {
        Ok(()) => panic!("the checker accepted a broken history"),
        Err(violation) => violation.property,
    }
}

#[test]
fn checker_catches_two_leaders_in_one_term() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b"")];
    checker.sync_node(1, &storage(&log, 1, 1, 0), Role::Leader, 1).unwrap();
    let result = checker.sync_node(2, &storage(&log, 1, 2, 0), Role::Leader, 1);
    assert_eq!(violated(result), Property::ElectionSafety);
}

#[test]
fn checker_catches_a_double_vote() {
    let mut checker = Checker::new(&[1, 2, 3]);
    checker.sync_node(3, &storage(&[], 2, 1, 0), Role::Follower, 2).unwrap();
    let result = checker.sync_node(3, &storage(&[], 2, 2, 0), Role::Follower, 2);
    assert_eq!(violated(result), Property::VoteSafety);
}

#[test]
fn checker_catches_logs_that_match_in_term_but_not_in_content() {
    let mut checker = Checker::new(&[1, 2, 3]);
    checker.sync_node(1, &storage(&[entry(1, 1, b"a"), entry(2, 1, b"b")], 1, 1, 0), Role::Follower, 1).unwrap();
    let result = checker.sync_node(2, &storage(&[entry(1, 1, b"X"), entry(2, 1, b"b")], 1, 1, 0), Role::Follower, 1);
    assert_eq!(violated(result), Property::LogMatching);
}

#[test]
fn checker_catches_a_leader_truncating_its_log() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let mut disk = storage(&[entry(1, 1, b""), entry(2, 1, b"a"), entry(3, 1, b"b")], 1, 1, 0);
    checker.sync_node(1, &disk, Role::Leader, 1).unwrap();
    disk.append(&[entry(2, 1, b"overwritten")]);
    assert_eq!(violated(checker.sync_node(1, &disk, Role::Leader, 1)), Property::LeaderAppendOnly);
}

#[test]
fn checker_catches_a_leader_without_a_committed_entry() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let committed_log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&committed_log, 1, 1, 2), Role::Leader, 1).unwrap();
    let result = checker.sync_node(2, &storage(&[entry(1, 1, b"")], 2, 2, 1), Role::Leader, 2);
    assert_eq!(violated(result), Property::LeaderCompleteness);
}

#[test]
fn checker_catches_a_committed_entry_removed_from_a_log() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 2), Role::Leader, 1).unwrap();
    let mut follower = storage(&log, 1, 1, 1);
    checker.sync_node(2, &follower, Role::Follower, 1).unwrap();
    follower.append(&[entry(2, 2, b"other")]);
    assert_eq!(violated(checker.sync_node(2, &follower, Role::Follower, 2)), Property::CommitAgreement);
}

#[test]
fn checker_catches_two_entries_applied_at_one_index() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 2), Role::Leader, 1).unwrap();
    checker.observe_apply(1, &log[0]).unwrap();
    checker.observe_apply(1, &log[1]).unwrap();
    checker.observe_apply(2, &log[0]).unwrap();
    assert_eq!(violated(checker.observe_apply(2, &entry(2, 1, b"b"))), Property::StateMachineSafety);
}

#[test]
fn checker_catches_an_entry_applied_out_of_order() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 2), Role::Leader, 1).unwrap();
    assert_eq!(violated(checker.observe_apply(1, &log[1])), Property::AppliedOrder);
}

#[test]
fn checker_catches_an_uncommitted_entry_applied() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 1), Role::Leader, 1).unwrap();
    checker.observe_apply(1, &log[0]).unwrap();
    assert_eq!(violated(checker.observe_apply(1, &log[1])), Property::StateMachineSafety);
}

#[test]
fn checker_catches_a_snapshot_of_a_different_state() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 2), Role::Leader, 1).unwrap();
    checker.observe_apply(1, &log[0]).unwrap();
    checker.observe_apply(1, &log[1]).unwrap();
    let mut forged = AppState::default();
    forged.apply(&log[0]);
    forged.apply(&entry(2, 1, b"forged"));
    let snapshot = senate_core::Snapshot {
        meta: senate_core::SnapshotMeta { index: 2, term: 1, conf_state: Default::default() },
        data: forged.encode(),
    };
    assert_eq!(violated(checker.observe_restore(2, &snapshot)), Property::StateMachineSafety);
}

#[test]
fn checker_catches_a_stale_read() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a")];
    checker.sync_node(1, &storage(&log, 1, 1, 2), Role::Leader, 1).unwrap();
    checker.observe_read_issued(9);
    let result = checker.observe_read_state(1, &ReadState { index: 1, request_id: 9 });
    assert_eq!(violated(result), Property::ReadIndex);
}

#[test]
fn checker_accepts_a_correct_history_with_compaction_and_snapshot_install() {
    let mut checker = Checker::new(&[1, 2, 3]);
    let log = [entry(1, 1, b""), entry(2, 1, b"a"), entry(3, 1, b"b")];
    let mut leader = storage(&log, 1, 1, 3);
    checker.sync_node(1, &leader, Role::Leader, 1).unwrap();
    let mut app = AppState::default();
    for e in &log {
        checker.observe_apply(1, e).unwrap();
        app.apply(e);
    }
    leader.create_snapshot(3, app.encode()).unwrap();
    checker.sync_node(1, &leader, Role::Leader, 1).unwrap();
    // A follower with a stale, conflicting suffix installs the leader's snapshot.
    let mut follower = storage(&[entry(1, 1, b"")], 1, 1, 1);
    checker.sync_node(2, &follower, Role::Follower, 1).unwrap();
    follower.apply_snapshot(leader.snapshot()).unwrap();
    checker.sync_node(2, &follower, Role::Follower, 1).unwrap();
    checker.observe_restore(2, &leader.snapshot()).unwrap();
    assert_eq!(checker.applied_index(2), 3);
    // A later leader that holds everything committed passes Leader Completeness.
    follower.append(&[entry(4, 2, b"")]);
    follower.set_hard_state(senate_core::HardState::new(2, 2, 3));
    checker.sync_node(2, &follower, Role::Leader, 2).unwrap();
}

/// Many seeds on demand, in release: `SIM_SEEDS=1000 SIM_TICKS=1000 cargo test --release -p
/// senate-core --test sim -- --ignored many_seeds --nocapture` (SIM_NODES=3,5,7, SIM_FIRST_SEED;
/// SIM_MEMBERSHIP=1 for membership changes among a pool of SIM_NODES ids).
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
    let (mut changes, mut retired) = (0u64, 0u64);
    let mut failures = Vec::new();
    for &nodes in &sizes {
        for seed in first_seed..first_seed + seeds {
            let report = sim::run(&SimOptions { membership, ..SimOptions::new(nodes, seed, ticks) });
            runs += 1;
            changes += report.conf_changes_proposed;
            retired += report.nodes_retired;
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
        "{runs} runs ({sizes:?} nodes x {seeds} seeds, {ticks} ticks, membership {membership}) in {:.1?}: {steps} steps checked, {faults} faults, {committed} committed, {changes} membership changes, {retired} nodes retired, {} violations",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}

/// Replays one seed and prints its last events: `SIM_SEED=192 SIM_NODES=7 SIM_TICKS=1000
/// SIM_TRACE_LINES=200 cargo test --release -p senate-core --test sim -- --ignored replay_seed --nocapture`.
#[test]
#[ignore]
fn replay_seed() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let membership = std::env::var("SIM_MEMBERSHIP").is_ok_and(|v| v == "1");
    let options = SimOptions {
        membership,
        ..SimOptions::new(env("SIM_NODES", 3) as usize, env("SIM_SEED", 0), env("SIM_TICKS", 1_000))
    };
    let report = sim::run_traced(&options, env("SIM_TRACE_LINES", 200) as usize);
    for line in &report.trace {
        println!("{line}");
    }
    println!("{:?}", sim::SimReport { trace: Vec::new(), ..report.clone() });
    assert!(report.violations.is_empty(), "violations:\n{}", report.violations.join("\n"));
}
