//! The deterministic cluster simulation, run with the GIL released.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use senate_core::sim::{self, FaultCounts, SimOptions, ThroughputOptions};

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
    faults: FaultCounts,
    #[pyo3(get)]
    committed_entries: u64,
    /// Human-readable violations; empty when the run was safe and live.
    #[pyo3(get)]
    violations: Vec<String>,
    #[pyo3(get)]
    ticks_run: u64,
    #[pyo3(get)]
    proposals_accepted: u64,
    #[pyo3(get)]
    leader_terms: u64,
    #[pyo3(get)]
    snapshots_restored: u64,
    #[pyo3(get)]
    reads_confirmed: u64,
    #[pyo3(get)]
    trace_fingerprint: u64,
    #[pyo3(get)]
    trace: Vec<String>,
}

#[pymethods]
impl SimReport {
    /// `faults_injected` by kind.
    #[getter]
    fn faults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = &self.faults;
        let dict = PyDict::new(py);
        for (kind, count) in [
            ("drops", f.drops),
            ("duplicates", f.duplicates),
            ("delays", f.delays),
            ("corruptions", f.corruptions),
            ("partitions", f.partitions),
            ("one_way_partitions", f.one_way_partitions),
            ("crashes", f.crashes),
            ("slow_periods", f.slow_periods),
        ] {
            dict.set_item(kind, count)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "SimReport(nodes={}, seed={}, ticks={}, steps_checked={}, faults_injected={}, committed_entries={}, violations=<{}>)",
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
    /// Why the run stopped short of the entries asked for, if it did.
    #[pyo3(get)]
    error: Option<String>,
}

#[pymethods]
impl ThroughputReport {
    fn __repr__(&self) -> String {
        format!(
            "ThroughputReport(committed_entries={}, messages={}, bytes={}, error={:?})",
            self.committed_entries, self.messages, self.bytes, self.error
        )
    }
}

/// Runs one seeded simulation of a `nodes`-node cluster for `ticks` ticks of faults followed by
/// a heal phase, keeping its last `trace_lines` events in words. Releases the GIL: runs of
/// different seeds may go in parallel threads.
#[pyfunction]
#[pyo3(signature = (nodes, seed, ticks, *, trace_lines = 0))]
pub fn run_sim(py: Python<'_>, nodes: usize, seed: u64, ticks: u64, trace_lines: usize) -> SimReport {
    let options = SimOptions { nodes, seed, ticks };
    let report = py.detach(|| sim::run_traced(&options, trace_lines));
    SimReport {
        nodes: report.nodes,
        seed: report.seed,
        ticks: report.ticks,
        steps_checked: report.steps_checked,
        faults_injected: report.faults_injected,
        faults: report.faults,
        committed_entries: report.committed_entries,
        violations: report.violations,
        ticks_run: report.ticks_run,
        proposals_accepted: report.proposals_accepted,
        leader_terms: report.leader_terms,
        snapshots_restored: report.snapshots_restored,
        reads_confirmed: report.reads_confirmed,
        trace_fingerprint: report.trace_fingerprint,
        trace: report.trace,
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
    ThroughputReport {
        committed_entries: report.committed_entries,
        messages: report.messages,
        bytes: report.bytes,
        error: report.error,
    }
}
