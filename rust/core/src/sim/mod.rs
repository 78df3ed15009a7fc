//! Deterministic cluster simulation. (Skeleton: the simulation helper fills this in.)

/// What one simulated run does.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Cluster size: 3, 5 or 7.
    pub nodes: usize,
    pub seed: u64,
    /// Ticks of the fault phase; the heal phase that checks liveness follows it.
    pub ticks: u64,
}

/// What one simulated run found.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    pub nodes: usize,
    pub seed: u64,
    pub ticks: u64,
    /// Invariant checks run (one per simulation step).
    pub steps_checked: u64,
    /// Faults injected: drops, duplicates, delays, partitions, crashes, slow periods.
    pub faults_injected: u64,
    pub committed_entries: u64,
    /// Human-readable violations; empty when the run was safe and live.
    pub violations: Vec<String>,
}

/// Runs one seeded simulation.
pub fn run(_options: &SimOptions) -> SimReport {
    todo!()
}

/// A fault-free throughput run.
#[derive(Clone, Debug)]
pub struct ThroughputOptions {
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
    pub committed_entries: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// Runs a fault-free cluster until `entries` are applied everywhere. The caller measures time.
pub fn run_throughput(_options: &ThroughputOptions) -> ThroughputReport {
    todo!()
}
