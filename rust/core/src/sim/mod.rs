//! Deterministic cluster simulation.
//!
//! [`run`] drives a seeded cluster of Raft `MemNode`s or Multi-Paxos `PaxosNode`s
//! ([`SimOptions::protocol`]), each run by the production [`Driver`]
//! (persistence by the caller, pipelined writes on a simulated disk that completes them later
//! or stalls), through the codec under message loss, delay,
//! duplication, reordering and corruption, symmetric and one-way partitions, crashes with
//! restart from persisted state only, slow nodes and client load; it checks the protocol's
//! safety properties after every step (Raft's [`checker`], Multi-Paxos's [`paxos_checker`])
//! and, once every fault heals, that the cluster commits again within ten election timeouts. The same seed replays the same run exactly:
//! every choice comes from one `ChaCha8Rng`, in a fixed order, and no clock, thread or hash
//! order is involved.
//!
//! [`run_throughput`] drives a fault-free cluster of either protocol (Raft or Multi-Paxos) as
//! fast as the core and the driver allow, every node through the same production [`Driver`]
//! over a log whose writes complete at once.
//!
//! [`partial`] runs the partial-connectivity scenarios of the Omni-Paxos paper (quorum-loss,
//! constrained-election, chained) through the same driver and checker, and measures whether
//! and how fast the cluster commits again after the cut.
//!
//! One concept per module: `network` (packets in flight, cut links), `faults` (what strikes
//! when), `client` (the workload), `app` (the replicated state machine), `protocol` (what the
//! simulators need of a protocol, and Raft's and Multi-Paxos's answers), `shadow_log`,
//! `checker` and `paxos_checker` (the invariants), `cluster` (the driver), `throughput` (the
//! fast driver), `trace` and `fingerprint` (determinism).

pub mod app;
pub mod checker;
pub mod client;
pub mod cluster;
pub mod disk;
pub mod faults;
pub mod fingerprint;
pub mod network;
pub mod partial;
pub mod paxos_checker;
pub mod protocol;
pub mod shadow_log;
pub mod throughput;
pub mod trace;

#[allow(unused_imports)] // for the docs
use crate::driver::Driver;
use crate::protocol_id::ProtocolId;

pub use checker::{Checker, Property, Violation};
pub use faults::FaultCounts;
pub use paxos_checker::PaxosChecker;
pub use protocol::{PaxosProtocol, RaftProtocol, SafetyChecker, SimProtocol};

/// What one simulated run does.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Cluster size: 3, 5 or 7 (1 to `cluster::MAX_SIM_NODES` work).
    pub nodes: usize,
    pub seed: u64,
    /// Ticks of the fault phase; the heal phase that checks liveness follows it.
    pub ticks: u64,
    /// Raft or Multi-Paxos.
    pub protocol: ProtocolId,
    /// Membership changes during the faults (Raft): `nodes` is a pool of ids of which the
    /// first few start as the voters; the run adds learners from the pool, promotes them once
    /// caught up, removes members and replaces them through joint configurations, and shuts
    /// down every node once its removal is in force (see `cluster::membership`).
    pub membership: bool,
}

impl SimOptions {
    /// A Raft run with a fixed membership.
    pub fn new(nodes: usize, seed: u64, ticks: u64) -> SimOptions {
        SimOptions { nodes, seed, ticks, protocol: ProtocolId::Raft, membership: false }
    }
}

/// What one simulated run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The protocol run ("raft", "paxos").
    pub protocol: &'static str,
    pub nodes: usize,
    pub seed: u64,
    pub ticks: u64,
    /// Invariant checks run (one per node step: every `Ready` a node hands out).
    pub steps_checked: u64,
    /// Faults injected: drops, duplicates, delays, corruptions, partitions, crashes, slow periods.
    pub faults_injected: u64,
    /// Highest index known committed (entries of every kind, no-ops included).
    pub committed_entries: u64,
    /// Human-readable violations, each naming the seed, tick, step, property, nodes and
    /// indexes; empty when the run was safe and live. The first violation stops the run.
    pub violations: Vec<String>,
    /// `faults_injected` by kind.
    pub faults: FaultCounts,
    /// Ticks run in all: the fault phase plus the heal phase.
    pub ticks_run: u64,
    /// Client proposals some node accepted (a follower that forwards one accepts it too).
    pub proposals_accepted: u64,
    /// Terms (Raft) or ballots (Multi-Paxos) in which a leader was seen.
    pub leader_terms: u64,
    pub snapshots_restored: u64,
    pub reads_confirmed: u64,
    /// Membership changes a leader accepted (`SimOptions::membership` runs).
    pub conf_changes_proposed: u64,
    /// Nodes shut down once their removal was in force.
    pub nodes_retired: u64,
    /// Fingerprint of every event of the run: equal for two runs of one seed.
    pub trace_fingerprint: u64,
    /// The last events in words, when asked for with [`run_traced`].
    pub trace: Vec<String>,
}

impl SimReport {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs one seeded simulation.
pub fn run(options: &SimOptions) -> SimReport {
    run_traced(options, 0)
}

/// Runs one seeded simulation keeping its last `trace_lines` events in words in
/// `SimReport::trace` (to replay a failing seed by eye).
pub fn run_traced(options: &SimOptions, trace_lines: usize) -> SimReport {
    match options.protocol {
        ProtocolId::Raft => cluster::simulate(&RaftProtocol::default(), options, trace_lines),
        ProtocolId::Paxos => cluster::simulate(&PaxosProtocol, options, trace_lines),
    }
}

/// A fault-free throughput run.
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
    /// The core every node runs: Raft's `MemNode` or Multi-Paxos's `PaxosNode`.
    pub protocol: ProtocolId,
    pub nodes: usize,
    /// Entries per proposal batch.
    pub batch: usize,
    /// Payload bytes per entry.
    pub payload_bytes: usize,
    /// Stop once this many entries are committed and applied on every node.
    pub entries: u64,
}

#[derive(Clone, Debug, Default)]
pub struct ThroughputReport {
    /// The protocol the run measured.
    pub protocol: ProtocolId,
    /// Payload entries applied on every node.
    pub committed_entries: u64,
    /// Frames stepped by all nodes.
    pub messages: u64,
    /// Bytes of frames sent by all nodes.
    pub bytes: u64,
    /// Why the run stopped short of `entries`, if it did.
    pub error: Option<String>,
}

/// Runs a fault-free cluster until `entries` are applied everywhere. The caller measures time.
pub fn run_throughput(options: &ThroughputOptions) -> ThroughputReport {
    throughput::run_throughput(options)
}
