//! # senate-python
//!
//! Thin PyO3 bindings that expose `senate-core` as the extension module `senate._core`. No
//! protocol logic lives here: only conversion between Python and core types, one file per
//! concept. The typed stubs are `python/senate/_core.pyi`.

use pyo3::prelude::*;

mod acl;
mod balance;
mod check;
mod detect;
mod driver;
mod errors;
mod kv;
mod node;
mod off_lock;
mod paxos_node;
mod ready;
mod sim;
mod snapshot_data;
mod status;
mod wal;
mod wal_writer;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_READIES_IN_FLIGHT", senate_core::MAX_READIES_IN_FLIGHT)?;
    // The peer frame layout, for the transport's stream reader: one source of truth.
    m.add("FRAME_HEADER_BYTES", senate_core::codec::FRAME_HEADER_BYTES)?;
    m.add("FRAME_BODY_BYTES_OFFSET", senate_core::codec::FRAME_BODY_BYTES_OFFSET)?;
    m.add("FRAME_BODY_BYTES_END", senate_core::codec::FRAME_BODY_BYTES_END)?;
    // Defaults and limits the Python side uses, owned by the core.
    m.add("DEFAULT_ELECTION_TIMEOUT_TICKS", senate_core::DEFAULT_ELECTION_TIMEOUT_TICKS)?;
    m.add("DEFAULT_HEARTBEAT_INTERVAL_TICKS", senate_core::DEFAULT_HEARTBEAT_INTERVAL_TICKS)?;
    m.add("DEFAULT_MAX_FRAME_BYTES", senate_core::codec::DEFAULT_MAX_FRAME_BYTES)?;
    m.add("DEFAULT_MAX_UNCOMMITTED_BYTES", senate_core::raft::config::DEFAULT_MAX_UNCOMMITTED_BYTES)?;
    m.add("DEFAULT_MAX_BULK_BYTES", senate_core::codec::resp::DEFAULT_MAX_BULK_BYTES)?;
    m.add("DEFAULT_MAX_VALUE_BYTES", senate_core::codec::resp::DEFAULT_MAX_VALUE_BYTES)?;
    m.add("DEFAULT_MAX_BATCH_COMMANDS", senate_core::kv::DEFAULT_MAX_BATCH_COMMANDS)?;
    // The driver's defaults and rules the runtime shares with it.
    m.add("DEFAULT_MAX_BATCH_PROPOSALS", senate_core::driver::DEFAULT_MAX_BATCH_PROPOSALS)?;
    m.add("DEFAULT_MAX_WRITES_IN_FLIGHT", senate_core::driver::DEFAULT_MAX_WRITES_IN_FLIGHT)?;
    m.add("DEFAULT_SNAPSHOT_ENTRIES", senate_core::driver::DEFAULT_SNAPSHOT_ENTRIES)?;
    m.add("DEFAULT_SNAPSHOT_BYTES", senate_core::driver::DEFAULT_SNAPSHOT_BYTES)?;
    m.add("DEFAULT_MAX_APPLY_BACKLOG_BYTES", senate_core::driver::DEFAULT_MAX_APPLY_BACKLOG_BYTES)?;
    m.add("MAX_TICKS_PER_POLL", senate_core::driver::MAX_TICKS_PER_POLL)?;
    m.add("SNAPSHOT_ENTRIES_CAP_FACTOR", senate_core::driver::SNAPSHOT_ENTRIES_CAP_FACTOR)?;
    m.add("SNAPSHOT_STAGGER", senate_core::driver::SNAPSHOT_STAGGER)?;
    errors::register(m)?;
    m.add_class::<node::RaftNode>()?;
    m.add_class::<paxos_node::PaxosNode>()?;
    m.add_class::<paxos_node::PaxosStatus>()?;
    m.add_class::<ready::Ready>()?;
    m.add_class::<ready::Entry>()?;
    m.add_class::<ready::Snapshot>()?;
    m.add_class::<snapshot_data::SnapshotData>()?;
    m.add_class::<status::Status>()?;
    m.add_class::<wal::Wal>()?;
    m.add_class::<wal_writer::WalWriter>()?;
    m.add_class::<sim::SimReport>()?;
    m.add_class::<sim::ThroughputReport>()?;
    m.add_function(wrap_pyfunction!(sim::run_sim, m)?)?;
    m.add_function(wrap_pyfunction!(node::encode_snapshot_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(sim::run_throughput, m)?)?;
    m.add_class::<sim::ScenarioReport>()?;
    m.add_function(wrap_pyfunction!(sim::run_scenario, m)?)?;
    m.add("SCENARIOS", pyo3::types::PyTuple::new(m.py(), sim::scenario_names())?)?;
    m.add("SIM_PROTOCOLS", pyo3::types::PyTuple::new(m.py(), sim::SIM_PROTOCOLS)?)?;
    m.add("DEFAULT_DEADLINE_ELECTION_TIMEOUTS", senate_core::sim::partial::DEFAULT_DEADLINE_ELECTION_TIMEOUTS)?;
    m.add("MAX_DEADLINE_ELECTION_TIMEOUTS", senate_core::sim::partial::MAX_DEADLINE_ELECTION_TIMEOUTS)?;
    m.add_class::<detect::PhiAccrualDetector>()?;
    m.add_class::<detect::HeartbeatDetector>()?;
    m.add_class::<detect::DetectorFigures>()?;
    m.add_class::<detect::DetectSimReport>()?;
    m.add_function(wrap_pyfunction!(detect::run_detect_sim, m)?)?;
    driver::register(m)?;
    balance::register(m)?;
    check::register(m)?;
    kv::register(m)?;
    Ok(())
}
