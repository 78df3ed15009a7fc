//! The deterministic cluster simulation, run with the GIL released.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use senate_core::sim::partial::{self, PaxosProtocol, Scenario, ScenarioOptions, DEFAULT_DEADLINE_ELECTION_TIMEOUTS};
use senate_core::sim::{self, FaultCounts, SimOptions, ThroughputOptions};
use senate_core::ProtocolId;

/// The protocols the simulators run, by name, in their order.
pub const SIM_PROTOCOLS: [&str; 2] = ["raft", "paxos"];

/// The protocol named `name` ("raft" or "paxos"); ValueError otherwise.
fn protocol_named(name: &str) -> PyResult<ProtocolId> {
    match name {
        "raft" => Ok(ProtocolId::Raft),
        "paxos" => Ok(ProtocolId::Paxos),
        _ => Err(PyValueError::new_err(format!("unknown protocol {name:?} (use {})", SIM_PROTOCOLS.join(", ")))),
    }
}

use crate::wal::{parse_protocol, protocol_name};

/// What one simulated run found.
#[pyclass(frozen, module = "senate._core")]
pub struct SimReport {
    #[pyo3(get)]
    protocol: &'static str,
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
            "SimReport(protocol='{}', nodes={}, seed={}, ticks={}, steps_checked={}, faults_injected={}, committed_entries={}, violations=<{}>)",
            self.protocol,
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
    /// "raft" or "paxos".
    #[pyo3(get)]
    protocol: &'static str,
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
            "ThroughputReport(protocol='{}', committed_entries={}, messages={}, bytes={}, error={:?})",
            self.protocol, self.committed_entries, self.messages, self.bytes, self.error
        )
    }
}

/// Runs one seeded simulation of a `nodes`-node cluster of `protocol` ("raft" or "paxos") for
/// `ticks` ticks of faults followed by a heal phase, keeping its last `trace_lines` events in
/// words. Raises ValueError for an unknown protocol. Releases the GIL: runs of different seeds
/// may go in parallel threads.
#[pyfunction]
#[pyo3(signature = (nodes, seed, ticks, *, protocol = "raft", trace_lines = 0))]
pub fn run_sim(
    py: Python<'_>,
    nodes: usize,
    seed: u64,
    ticks: u64,
    protocol: &str,
    trace_lines: usize,
) -> PyResult<SimReport> {
    let options = SimOptions { protocol: protocol_named(protocol)?, ..SimOptions::new(nodes, seed, ticks) };
    let report = py.detach(|| sim::run_traced(&options, trace_lines));
    Ok(SimReport {
        protocol: report.protocol,
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
    })
}

/// Runs a fault-free cluster of `protocol` ("raft" or "paxos") until `entries` entries of
/// `payload_bytes` bytes, proposed in batches of `batch`, are applied on every node. Raises
/// ConfigError for an unknown protocol. Releases the GIL.
#[pyfunction]
#[pyo3(signature = (nodes, batch, payload_bytes, entries, *, protocol = "raft"))]
pub fn run_throughput(
    py: Python<'_>,
    nodes: usize,
    batch: usize,
    payload_bytes: usize,
    entries: u64,
    protocol: &str,
) -> PyResult<ThroughputReport> {
    let protocol = parse_protocol(protocol)?;
    let options = ThroughputOptions { protocol, nodes, batch, payload_bytes, entries };
    let report = py.detach(|| sim::run_throughput(&options));
    Ok(ThroughputReport {
        protocol: protocol_name(report.protocol),
        committed_entries: report.committed_entries,
        messages: report.messages,
        bytes: report.bytes,
        error: report.error,
    })
}

/// What one partial-connectivity scenario run found (see `senate_core::sim::partial`).
#[pyclass(frozen, module = "senate._core")]
pub struct ScenarioReport {
    #[pyo3(get)]
    scenario: &'static str,
    #[pyo3(get)]
    protocol: &'static str,
    #[pyo3(get)]
    nodes: usize,
    #[pyo3(get)]
    seed: u64,
    #[pyo3(get)]
    election_timeout_ticks: u64,
    #[pyo3(get)]
    deadline_ticks: u64,
    #[pyo3(get)]
    leader: u64,
    #[pyo3(get)]
    hub: u64,
    #[pyo3(get)]
    hub_lag_entries: u64,
    #[pyo3(get)]
    cut_tick: u64,
    #[pyo3(get)]
    recovered: bool,
    #[pyo3(get)]
    ticks_to_recover: Option<u64>,
    #[pyo3(get)]
    leader_changes: u64,
    #[pyo3(get)]
    epoch_changes: u64,
    #[pyo3(get)]
    probes_proposed: u64,
    #[pyo3(get)]
    probes_committed: u64,
    #[pyo3(get)]
    leader_at_end: Option<u64>,
    #[pyo3(get)]
    ticks_run: u64,
    #[pyo3(get)]
    steps_checked: u64,
    #[pyo3(get)]
    violations: Vec<String>,
    #[pyo3(get)]
    trace_fingerprint: u64,
    #[pyo3(get)]
    trace: Vec<String>,
}

#[pymethods]
impl ScenarioReport {
    fn __repr__(&self) -> String {
        let python_bool = |b: bool| if b { "True" } else { "False" };
        let ticks = self.ticks_to_recover.map_or("None".to_string(), |t| t.to_string());
        format!(
            "ScenarioReport(scenario='{}', protocol='{}', seed={}, recovered={}, ticks_to_recover={ticks}, leader_changes={}, epoch_changes={}, violations=<{}>)",
            self.scenario,
            self.protocol,
            self.seed,
            python_bool(self.recovered),
            self.leader_changes,
            self.epoch_changes,
            self.violations.len()
        )
    }
}

// The signature of `run_scenario` spells the default out, so that the stubs can show it.
const _: () = assert!(DEFAULT_DEADLINE_ELECTION_TIMEOUTS == 10);

/// The names of the partial-connectivity scenarios, in their order.
pub fn scenario_names() -> Vec<&'static str> {
    Scenario::ALL.iter().map(|s| s.name()).collect()
}

/// Runs one seeded partial-connectivity scenario on `protocol` ("raft": pre-vote and
/// check-quorum on; "paxos": Multi-Paxos, majority quorums), measuring recovery for
/// `deadline_election_timeouts` election timeouts after the cut. Raises ValueError for an
/// unknown scenario or protocol name. Releases the GIL.
#[pyfunction]
#[pyo3(signature = (scenario, seed, *, protocol = "raft", deadline_election_timeouts = 10, trace_lines = 0))]
pub fn run_scenario(
    py: Python<'_>,
    scenario: &str,
    seed: u64,
    protocol: &str,
    deadline_election_timeouts: u64,
    trace_lines: usize,
) -> PyResult<ScenarioReport> {
    let protocol = protocol_named(protocol)?;
    let named = Scenario::from_name(scenario).ok_or_else(|| {
        PyValueError::new_err(format!("unknown scenario {scenario:?} (use {})", scenario_names().join(", ")))
    })?;
    let options = ScenarioOptions { scenario: named, seed, deadline_election_timeouts };
    let report = py.detach(|| match protocol {
        ProtocolId::Raft => partial::run_scenario(&options, trace_lines),
        ProtocolId::Paxos => partial::run_scenario_with(&PaxosProtocol, &options, trace_lines),
    });
    Ok(ScenarioReport {
        scenario: report.scenario.name(),
        protocol: report.protocol,
        nodes: report.nodes,
        seed: report.seed,
        election_timeout_ticks: report.election_timeout_ticks,
        deadline_ticks: report.deadline_ticks,
        leader: report.leader,
        hub: report.hub,
        hub_lag_entries: report.hub_lag_entries,
        cut_tick: report.cut_tick,
        recovered: report.recovery.recovered,
        ticks_to_recover: report.recovery.ticks_to_recover,
        leader_changes: report.recovery.leader_changes,
        epoch_changes: report.recovery.epoch_changes,
        probes_proposed: report.recovery.probes_proposed,
        probes_committed: report.recovery.probes_committed,
        leader_at_end: report.leader_at_end,
        ticks_run: report.ticks_run,
        steps_checked: report.steps_checked,
        violations: report.violations,
        trace_fingerprint: report.trace_fingerprint,
        trace: report.trace,
    })
}
