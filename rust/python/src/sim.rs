//! The deterministic cluster simulation, run with the GIL released.

use pyo3::prelude::*;
use senate_core::sim::{self, SimOptions, ThroughputOptions};

/// What one simulated run found.
#[pyclass(frozen, module = "senate._core")]
pub struct SimReport {
    #[pyo3(get)]
    nodes: usize,
    #[pyo3(get)]
    seed: u64,
    #[pyo3(get)]
    ticks: u64,
    #[pyo3(get)]
    steps_checked: u64,
    #[pyo3(get)]
    faults_injected: u64,
    #[pyo3(get)]
    committed_entries: u64,
    /// Human-readable violations; empty when the run was safe and live.
    #[pyo3(get)]
    violations: Vec<String>,
}

#[pymethods]
impl SimReport {
    fn __repr__(&self) -> String {
        format!(
            "SimReport(nodes={}, seed={}, ticks={}, steps_checked={}, faults_injected={}, committed_entries={}, violations={})",
            self.nodes,
            self.seed,
            self.ticks,
            self.steps_checked,
            self.faults_injected,
            self.committed_entries,
            self.violations.len()
        )
    }
}

/// What a fault-free throughput run did (the caller measures the time).
#[pyclass(frozen, module = "senate._core")]
pub struct ThroughputReport {
    #[pyo3(get)]
    committed_entries: u64,
    #[pyo3(get)]
    messages: u64,
    #[pyo3(get)]
    bytes: u64,
}

#[pymethods]
impl ThroughputReport {
    fn __repr__(&self) -> String {
        format!(
            "ThroughputReport(committed_entries={}, messages={}, bytes={})",
            self.committed_entries, self.messages, self.bytes
        )
    }
}

/// Runs one seeded simulation of a `nodes`-node cluster for `ticks` ticks of faults followed by
/// a heal phase. Releases the GIL: runs of different seeds may go in parallel threads.
#[pyfunction]
pub fn run_sim(py: Python<'_>, nodes: usize, seed: u64, ticks: u64) -> SimReport {
    let options = SimOptions { nodes, seed, ticks };
    let report = py.detach(|| sim::run(&options));
    SimReport {
        nodes: report.nodes,
        seed: report.seed,
        ticks: report.ticks,
        steps_checked: report.steps_checked,
        faults_injected: report.faults_injected,
        committed_entries: report.committed_entries,
        violations: report.violations,
    }
}

/// Runs a fault-free cluster until `entries` entries of `payload_bytes` bytes, proposed in
/// batches of `batch`, are applied on every node. Releases the GIL.
#[pyfunction]
pub fn run_throughput(
    py: Python<'_>,
    nodes: usize,
    batch: usize,
    payload_bytes: usize,
    entries: u64,
) -> ThroughputReport {
    let options = ThroughputOptions { nodes, batch, payload_bytes, entries };
    let report = py.detach(|| sim::run_throughput(&options));
    ThroughputReport { committed_entries: report.committed_entries, messages: report.messages, bytes: report.bytes }
}
