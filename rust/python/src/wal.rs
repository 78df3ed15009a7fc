//! `Wal`: the durable log a `RaftNode` persists through. Writes release the GIL, so the
//! runtime runs them in a worker thread while the event loop keeps serving.

use crate::errors::wal_error;
use crate::ready::{Ready, Snapshot};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use senate_core::wal::SnapshotFile;
use senate_core::{ProtocolId, Recovered, SharedWal, WalOptions};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A segmented write-ahead log in one directory (see `_core.pyi`).
#[pyclass(frozen, module = "senate._core")]
pub struct Wal {
    /// Locked by one writer at a time (the runtime's disk thread, or its compaction thread);
    /// `None` once closed (the directory's lock is released with it).
    inner: SharedWal,
    /// What the log held when opened, until a `RaftNode` takes it.
    recovered: Mutex<Option<Recovered>>,
    dir: PathBuf,
    fsync: bool,
    /// The protocol whose log this is (its records are tagged with it).
    protocol: ProtocolId,
}

impl Wal {
    pub fn shared(&self) -> SharedWal {
        self.inner.clone()
    }

    /// The recovered state, taken once by the node built over this log, which must speak the
    /// log's protocol.
    pub fn take_recovered(&self, protocol: ProtocolId) -> PyResult<Recovered> {
        if protocol != self.protocol {
            return Err(crate::errors::config_error(
                "wal",
                format!("this log is a {} log, the node speaks {protocol}", self.protocol),
            ));
        }
        self.recovered
            .lock()
            .expect("wal: poisoned lock")
            .take()
            .ok_or_else(|| PyValueError::new_err("this Wal's recovered state was already given to a RaftNode"))
    }

    fn with_wal<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut senate_core::Wal) -> Result<T, senate_core::WalError> + Send,
    ) -> PyResult<T>
    where
        T: Send,
    {
        py.detach(|| {
            let mut wal = self.inner.lock().expect("wal: poisoned lock");
            match wal.as_mut() {
                Some(wal) => f(wal),
                None => Err(senate_core::WalError::Closed),
            }
        })
        .map_err(wal_error)
    }
}

/// A protocol by its name in configs ("raft", "paxos").
pub fn parse_protocol(name: &str) -> PyResult<ProtocolId> {
    match name {
        "raft" => Ok(ProtocolId::Raft),
        "paxos" => Ok(ProtocolId::Paxos),
        other => Err(crate::errors::config_error("protocol", format!("must be \"raft\" or \"paxos\", got {other:?}"))),
    }
}

/// The name of `protocol` in configs.
pub fn protocol_name(protocol: ProtocolId) -> &'static str {
    match protocol {
        ProtocolId::Raft => "raft",
        ProtocolId::Paxos => "paxos",
    }
}

#[pymethods]
impl Wal {
    #[new]
    #[pyo3(signature = (
        path, *, fsync = true, max_segment_bytes = None, max_record_bytes = None, preallocate = true, protocol = "raft",
    ))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        fsync: bool,
        max_segment_bytes: Option<u64>,
        max_record_bytes: Option<usize>,
        preallocate: bool,
        protocol: &str,
    ) -> PyResult<Wal> {
        let protocol = parse_protocol(protocol)?;
        let mut options = WalOptions { fsync, preallocate, protocol, ..WalOptions::default() };
        if let Some(bytes) = max_segment_bytes {
            options.max_segment_bytes = bytes;
        }
        if let Some(bytes) = max_record_bytes {
            options.max_record_bytes = bytes;
        }
        let dir = path.clone();
        let (wal, recovered) = py.detach(|| senate_core::Wal::open(&path, options)).map_err(wal_error)?;
        Ok(Wal { inner: Arc::new(Mutex::new(Some(wal))), recovered: Mutex::new(Some(recovered)), dir, fsync, protocol })
    }

    /// "raft" or "paxos".
    #[getter]
    fn protocol(&self) -> &'static str {
        protocol_name(self.protocol)
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    fn recovered_snapshot(&self) -> Option<Snapshot> {
        let recovered = self.recovered.lock().expect("wal: poisoned lock");
        recovered.as_ref().and_then(|r| r.snapshot.clone()).map(Snapshot::new)
    }

    fn write(&self, py: Python<'_>, ready: PyRef<'_, Ready>) -> PyResult<()> {
        let Some(batch) = ready.persist_batch() else { return Ok(()) };
        drop(ready);
        self.with_wal(py, move |wal| {
            wal.write_synced(batch.snapshot.as_ref(), &batch.entries, batch.hard_state, batch.must_sync)
        })
    }

    fn compact(&self, py: Python<'_>, snapshot: PyRef<'_, Snapshot>) -> PyResult<()> {
        let snapshot = snapshot.core().clone();
        // The snapshot file is written without the log's lock, so the writer thread goes on
        // persisting Readies meanwhile; only the marker and the renames of the files it makes
        // unneeded take the lock.
        let (dir, fsync) = (self.dir.clone(), self.fsync);
        let file = py.detach(move || SnapshotFile::write(&dir, &snapshot, fsync)).map_err(wal_error)?;
        let released = self.with_wal(py, move |wal| {
            wal.compact_prepared(&file)?;
            Ok(wal.take_released())
        })?;
        // The files it released are deleted outside the lock too (a step at a time).
        py.detach(|| released.iter().try_for_each(|path| senate_core::wal::delete_gradually(path))).map_err(wal_error)
    }

    /// Closes the log and releases its directory (later calls raise `WalError`). Waits for a
    /// write in progress.
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(self.inner.lock().expect("wal: poisoned lock").take()));
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let guard = self.inner.lock().expect("wal: poisoned lock");
        let stats = guard.as_ref().ok_or(senate_core::WalError::Closed).map_err(wal_error)?.stats();
        let dict = PyDict::new(py);
        dict.set_item("segment_count", stats.segment_count)?;
        dict.set_item("bytes_on_disk", stats.bytes_on_disk)?;
        dict.set_item("fsync_count", stats.fsync_count)?;
        dict.set_item("snapshot_index", stats.snapshot_index)?;
        dict.set_item("first_index", stats.first_index)?;
        dict.set_item("last_index", stats.last_index)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!("Wal({:?})", self.dir)
    }
}
