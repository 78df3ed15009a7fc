//! `RaftNode`: a Raft node over in-memory storage whose messages travel as encoded frames.

use crate::errors::{raft_error, step_error};
use crate::ready::{Ready, Snapshot};
use crate::status::Status;
use crate::wal::Wal;
use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyList};
use senate_core::{Config, MemNode, MemStorage, PersistMode, RaftError, ReadOnlyOption};

/// A Raft node (wraps the core's `MemNode`). See `_core.pyi` for the contract of each method.
#[pyclass(module = "senate._core")]
pub struct RaftNode {
    /// `None` once moved into a `NodeDriver` (which then owns the core).
    inner: Option<MemNode>,
}

impl RaftNode {
    fn core(&self) -> PyResult<&MemNode> {
        self.inner.as_ref().ok_or_else(moved_error)
    }

    fn core_mut(&mut self) -> PyResult<&mut MemNode> {
        self.inner.as_mut().ok_or_else(moved_error)
    }

    /// Moves the core out (into a driver); every later call on this object raises.
    pub fn take_core(&mut self) -> PyResult<MemNode> {
        self.inner.take().ok_or_else(moved_error)
    }
}

fn moved_error() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("this RaftNode was moved into a NodeDriver: call the driver")
}

/// The bytes of `frames` (one `bytes` or a list of them), concatenated.
fn frames_bytes(frames: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(one) = frames.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(one.as_bytes()));
    }
    let Ok(list) = frames.cast::<PyList>() else {
        return Err(PyTypeError::new_err("frames must be bytes or a list of bytes"));
    };
    let mut parts = Vec::with_capacity(list.len());
    for item in list.iter() {
        let part =
            item.cast_into::<PyBytes>().map_err(|_| PyTypeError::new_err("frames must be bytes or a list of bytes"))?;
        parts.push(part);
    }
    let total = parts.iter().map(|p| p.as_bytes().len()).sum();
    let mut buf = Vec::with_capacity(total);
    for part in &parts {
        buf.extend_from_slice(part.as_bytes());
    }
    Ok(Bytes::from(buf))
}

/// The bytes of a peer's stream (`bytes` or `bytearray`).
pub fn stream_bytes(data: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        Ok(Bytes::copy_from_slice(bytes.as_bytes()))
    } else if let Ok(array) = data.cast::<PyByteArray>() {
        Ok(Bytes::from(array.to_vec()))
    } else {
        Err(PyTypeError::new_err("data must be bytes or bytearray"))
    }
}

/// A config error naming the keyword argument that set the bad field.
fn python_field_name(err: RaftError) -> RaftError {
    match err {
        RaftError::InvalidConfig { field: "read_only", problem } => {
            RaftError::InvalidConfig { field: "lease_reads", problem }
        }
        other => other,
    }
}

#[pymethods]
impl RaftNode {
    #[new]
    #[pyo3(signature = (
        id,
        voters,
        *,
        election_timeout_ticks = senate_core::DEFAULT_ELECTION_TIMEOUT_TICKS,
        heartbeat_interval_ticks = senate_core::DEFAULT_HEARTBEAT_INTERVAL_TICKS,
        pre_vote = true,
        check_quorum = true,
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
        empty_disk_guard = false,
        wal = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        id: u64,
        voters: Vec<u64>,
        election_timeout_ticks: u32,
        heartbeat_interval_ticks: u32,
        pre_vote: bool,
        check_quorum: bool,
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
        empty_disk_guard: bool,
        wal: Option<PyRef<'_, Wal>>,
    ) -> PyResult<RaftNode> {
        let mut config = Config::new(id, voters);
        config.election_timeout_ticks = election_timeout_ticks;
        config.heartbeat_interval_ticks = heartbeat_interval_ticks;
        config.pre_vote = pre_vote;
        config.check_quorum = check_quorum;
        config.read_only = if lease_reads { ReadOnlyOption::LeaseBased } else { ReadOnlyOption::Safe };
        config.forward_proposals = forward_proposals;
        config.empty_disk_guard = empty_disk_guard;
        config.applied = applied;
        if let Some(seed) = seed {
            config.seed = seed;
        }
        // Limits left at `None` keep `Config::new`'s defaults.
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
        // The config is validated before anything is built; errors name the keyword argument.
        config.validate().map_err(|e| raft_error(py, python_field_name(e)))?;
        let inner = match wal {
            None => MemNode::new(&config),
            Some(wal) => {
                // Over a durable log: start from what it recovered (the application restores
                // from the snapshot, so applying resumes after it), persist by the caller.
                let recovered = wal.take_recovered(senate_core::ProtocolId::Raft)?;
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
                MemNode::with_mode(&config, storage, PersistMode::ByCaller)
            }
        }
        .map_err(|e| raft_error(py, python_field_name(e)))?;
        let mut inner = inner;
        inner.stream_snapshots = stream_snapshots;
        Ok(RaftNode { inner: Some(inner) })
    }

    #[getter]
    fn id(&self) -> PyResult<u64> {
        Ok(self.core()?.raw.id())
    }

    #[pyo3(signature = (n = 1))]
    fn tick(&mut self, n: u64) -> PyResult<()> {
        let core = self.core_mut()?;
        for _ in 0..n {
            core.raw.tick();
        }
        Ok(())
    }

    fn step(&mut self, py: Python<'_>, frames: &Bound<'_, PyAny>) -> PyResult<usize> {
        let buf = frames_bytes(frames)?;
        self.core_mut()?.step_frames(&buf).map_err(|e| step_error(py, e))
    }

    fn step_stream(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let buf = stream_bytes(data)?;
        self.core_mut()?.step_stream(&buf).map_err(|e| step_error(py, e))
    }

    fn report_unreachable(&mut self, id: u64) -> PyResult<()> {
        self.core_mut()?.raw.report_unreachable(id);
        Ok(())
    }

    fn propose(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        self.core_mut()?.raw.propose(Bytes::copy_from_slice(data)).map_err(|e| raft_error(py, e))
    }

    fn propose_batch(&mut self, py: Python<'_>, data: Vec<Bound<'_, PyBytes>>) -> PyResult<()> {
        let batch = data.iter().map(|item| Bytes::copy_from_slice(item.as_bytes())).collect();
        self.core_mut()?.raw.propose_batch(batch).map_err(|e| raft_error(py, e))
    }

    fn read_index(&mut self, py: Python<'_>, request_id: u64) -> PyResult<()> {
        self.core_mut()?.raw.read_index(request_id).map_err(|e| raft_error(py, e))
    }

    fn transfer_leader(&mut self, py: Python<'_>, id: u64) -> PyResult<()> {
        self.core_mut()?.raw.transfer_leader(id).map_err(|e| raft_error(py, e))
    }

    fn campaign(&mut self) -> PyResult<()> {
        self.core_mut()?.raw.campaign();
        Ok(())
    }

    fn has_ready(&self) -> PyResult<bool> {
        Ok(self.core()?.raw.has_ready())
    }

    fn ready(&mut self, py: Python<'_>) -> PyResult<Option<Ready>> {
        Ok(self.core_mut()?.try_ready().map_err(|e| raft_error(py, e))?.map(Ready::new))
    }

    fn has_ready_without_write(&self) -> PyResult<bool> {
        Ok(self.core()?.raw.has_ready_without_write())
    }

    fn ready_without_write(&mut self, py: Python<'_>) -> PyResult<Option<Ready>> {
        Ok(self.core_mut()?.try_ready_without_write().map_err(|e| raft_error(py, e))?.map(Ready::new))
    }

    fn advance(&mut self) -> PyResult<()> {
        self.core_mut()?.advance();
        Ok(())
    }

    fn status(&self) -> PyResult<Status> {
        Ok(Status::from_core(self.core()?.status()))
    }

    fn compact(&mut self, py: Python<'_>, index: u64, data: PyBackedBytes) -> PyResult<Snapshot> {
        // The core keeps the caller's bytes object, not a copy: a snapshot may be large.
        let snapshot = self.core_mut()?.compact(index, Bytes::from_owner(data)).map_err(|e| raft_error(py, e))?;
        Ok(Snapshot::new(snapshot))
    }

    fn crash_restart(&mut self, py: Python<'_>, applied: u64) -> PyResult<()> {
        self.core_mut()?.crash_restart(applied).map_err(|e| raft_error(py, e))
    }

    /// Does nothing: the cost of a call into the extension, the baseline of the benchmarks.
    fn noop(&self) {}

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(core) => {
                let status = core.status();
                format!("RaftNode(id={}, role='{}', term={})", status.id, status.role.as_str(), status.term)
            }
            None => "RaftNode(<moved into a NodeDriver>)".to_string(),
        }
    }
}

/// The node runtime's snapshot envelope (see `_core.pyi`): a MessagePack array of `parts`,
/// built with the interpreter lock released.
#[pyfunction]
pub fn encode_snapshot_envelope<'py>(py: Python<'py>, parts: Vec<PyBackedBytes>) -> PyResult<Bound<'py, PyBytes>> {
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    let total = senate_core::codec::bin_array_bytes(&lens)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let slices: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
    crate::off_lock::bytes_filled_off_lock(py, total, |out| senate_core::codec::write_bin_array(&slices, out))
}
