//! `PaxosNode`: a Multi-Paxos node over in-memory storage (or a durable log), to be driven by a
//! `NodeDriver`; and `PaxosStatus`, a read-only view of one.

use crate::errors::raft_error;
use crate::wal::Wal;
use pyo3::prelude::*;
use senate_core::paxos::{PaxosConfig, PaxosNode as CorePaxosNode};
use senate_core::{MemStorage, PersistMode, ProtocolId, RaftError};

/// A Multi-Paxos node (wraps the core's `PaxosNode`). See `_core.pyi`.
#[pyclass(module = "senate._core")]
pub struct PaxosNode {
    /// `None` once moved into a `NodeDriver`.
    inner: Option<CorePaxosNode>,
}

impl PaxosNode {
    /// Moves the core out (into a driver); every later call on this object raises.
    pub fn take_core(&mut self) -> PyResult<CorePaxosNode> {
        self.inner.take().ok_or_else(moved_error)
    }
}

/// A config error naming the keyword argument that set the bad field.
fn python_field_name(err: RaftError) -> RaftError {
    match err {
        RaftError::InvalidConfig { field: "lease_ticks", problem } => {
            RaftError::InvalidConfig { field: "lease_reads", problem }
        }
        other => other,
    }
}

fn moved_error() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("this PaxosNode was moved into a NodeDriver: call the driver")
}

#[pymethods]
impl PaxosNode {
    #[new]
    #[pyo3(signature = (
        id,
        voters,
        *,
        election_timeout_ticks = senate_core::DEFAULT_ELECTION_TIMEOUT_TICKS,
        heartbeat_interval_ticks = senate_core::DEFAULT_HEARTBEAT_INTERVAL_TICKS,
        phase1_quorum = None,
        phase2_quorum = None,
        lease_reads = false,
        forward_proposals = true,
        applied = 0,
        seed = None,
        max_entries_per_msg = None,
        max_bytes_per_msg = None,
        max_inflight_msgs = None,
        max_inflight_bytes = None,
        max_uncommitted_bytes = None,
        max_committed_entries_per_ready = None,
        max_committed_bytes_per_ready = None,
        max_pending_reads = None,
        max_frame_bytes = None,
        stream_snapshots = false,
        wal = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        id: u64,
        voters: Vec<u64>,
        election_timeout_ticks: u32,
        heartbeat_interval_ticks: u32,
        phase1_quorum: Option<usize>,
        phase2_quorum: Option<usize>,
        lease_reads: bool,
        forward_proposals: bool,
        applied: u64,
        seed: Option<u64>,
        max_entries_per_msg: Option<usize>,
        max_bytes_per_msg: Option<usize>,
        max_inflight_msgs: Option<usize>,
        max_inflight_bytes: Option<usize>,
        max_uncommitted_bytes: Option<usize>,
        max_committed_entries_per_ready: Option<usize>,
        max_committed_bytes_per_ready: Option<usize>,
        max_pending_reads: Option<usize>,
        max_frame_bytes: Option<usize>,
        stream_snapshots: bool,
        wal: Option<PyRef<'_, Wal>>,
    ) -> PyResult<PaxosNode> {
        let mut config = PaxosConfig::new(id, voters);
        config.election_timeout_ticks = election_timeout_ticks;
        config.heartbeat_interval_ticks = heartbeat_interval_ticks;
        config.phase1_quorum = phase1_quorum;
        config.phase2_quorum = phase2_quorum;
        if lease_reads {
            config.enable_lease_reads();
        }
        config.forward_proposals = forward_proposals;
        config.applied = applied;
        if let Some(seed) = seed {
            config.seed = seed;
        }
        // Limits left at `None` keep `PaxosConfig::new`'s defaults.
        let limits = [
            (&mut config.max_entries_per_msg, max_entries_per_msg),
            (&mut config.max_bytes_per_msg, max_bytes_per_msg),
            (&mut config.max_inflight_msgs, max_inflight_msgs),
            (&mut config.max_inflight_bytes, max_inflight_bytes),
            (&mut config.max_uncommitted_bytes, max_uncommitted_bytes),
            (&mut config.max_committed_entries_per_ready, max_committed_entries_per_ready),
            (&mut config.max_committed_bytes_per_ready, max_committed_bytes_per_ready),
            (&mut config.max_pending_reads, max_pending_reads),
            (&mut config.max_frame_bytes, max_frame_bytes),
        ];
        for (field, value) in limits {
            if let Some(value) = value {
                *field = value;
            }
        }
        config.validate().map_err(|e| raft_error(py, python_field_name(e)))?;
        let mut inner = match wal {
            None => CorePaxosNode::new(&config),
            Some(wal) => {
                // Over a durable log: start from what it recovered, persist by the caller.
                let recovered = wal.take_recovered(ProtocolId::Paxos)?;
                if let Some(snapshot) = &recovered.snapshot {
                    config.applied = config.applied.max(snapshot.meta.index);
                }
                let storage = MemStorage::recovered(
                    config.voters.clone(),
                    recovered.hard_state,
                    recovered.snapshot,
                    recovered.entries,
                )
                .map_err(|e| raft_error(py, RaftError::Storage(e)))?;
                CorePaxosNode::with_mode(&config, storage, PersistMode::ByCaller)
            }
        }
        .map_err(|e| raft_error(py, e))?;
        inner.stream_snapshots = stream_snapshots;
        Ok(PaxosNode { inner: Some(inner) })
    }

    fn status(&self) -> PyResult<PaxosStatus> {
        let core = self.inner.as_ref().ok_or_else(moved_error)?;
        Ok(PaxosStatus::from_core(core.status()))
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(core) => {
                let s = core.status();
                format!("PaxosNode(id={}, role='{}', ballot={})", s.id, s.role.as_str(), s.promised)
            }
            None => "PaxosNode(<moved into a NodeDriver>)".to_string(),
        }
    }
}

/// A Multi-Paxos node's state at the moment `status()` was called.
#[pyclass(frozen, module = "senate._core")]
pub struct PaxosStatus {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    role: &'static str,
    #[pyo3(get)]
    leader: Option<u64>,
    /// The promised ballot `(round, node id)` (the leader's own while it leads).
    #[pyo3(get)]
    ballot: (u64, u64),
    /// The highest slot known chosen.
    #[pyo3(get)]
    chosen: u64,
    #[pyo3(get)]
    first_slot: u64,
    #[pyo3(get)]
    last_slot: u64,
    /// Peers heard from within the election timeout.
    #[pyo3(get)]
    connected_peers: usize,
    /// At the leader: `(id, matched slot)` per peer; empty elsewhere.
    #[pyo3(get)]
    peers: Vec<(u64, u64)>,
}

impl PaxosStatus {
    pub fn from_core(status: senate_core::paxos::PaxosStatus) -> PaxosStatus {
        PaxosStatus {
            id: status.id,
            role: status.role.as_str(),
            leader: status.leader,
            ballot: (status.promised.round, status.promised.node),
            chosen: status.chosen,
            first_slot: status.first_slot,
            last_slot: status.last_slot,
            connected_peers: status.connected_peers,
            peers: status.matched,
        }
    }
}

#[pymethods]
impl PaxosStatus {
    fn __repr__(&self) -> String {
        format!(
            "PaxosStatus(id={}, role='{}', leader={:?}, ballot={:?}, chosen={}, last_slot={})",
            self.id, self.role, self.leader, self.ballot, self.chosen, self.last_slot
        )
    }
}
