//! `WalWriter`: the Python face of the core's `GroupWriter` (the thread, group commit, the
//! wake-up pipe and the bounded wait live there; see `senate_core::wal::GroupWriter`).

use crate::errors::wal_error;
use crate::ready::Ready;
use crate::wal::Wal;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use senate_core::wal::GroupWriter;
use senate_core::WalError as CoreWalError;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

/// A background writer over a `Wal` (see `_core.pyi`).
#[pyclass(frozen, module = "senate._core")]
pub struct WalWriter {
    /// Shared with the `NodeDriver` that submits to it.
    inner: Arc<GroupWriter>,
}

impl WalWriter {
    /// The writer, for a driver that submits its writes itself.
    pub fn shared(&self) -> Arc<GroupWriter> {
        self.inner.clone()
    }
}

/// A refused submit past the in-flight limit is a caller bug (`ValueError`); every other
/// error is the log's.
fn submit_error(err: CoreWalError) -> PyErr {
    match err {
        CoreWalError::TooManyWritesInFlight { .. } => PyValueError::new_err(err.to_string()),
        err => wal_error(err),
    }
}

#[pymethods]
impl WalWriter {
    #[new]
    fn new(wal: PyRef<'_, Wal>) -> PyResult<WalWriter> {
        let inner = GroupWriter::start(wal.shared()).map_err(wal_error)?;
        Ok(WalWriter { inner: Arc::new(inner) })
    }

    /// The file descriptor to watch for finished writes.
    fn fileno(&self) -> i32 {
        self.inner.wake_fd().as_raw_fd()
    }

    fn submit(&self, ready: PyRef<'_, Ready>) -> PyResult<Option<u64>> {
        let Some(batch) = ready.persist_batch() else { return Ok(None) };
        self.inner.submit(batch).map(Some).map_err(submit_error)
    }

    /// Waits up to `timeout_s` (GIL released) for write `id` to finish; whether it did.
    fn wait(&self, py: Python<'_>, id: u64, timeout_s: f64) -> PyResult<bool> {
        let timeout =
            Duration::try_from_secs_f64(timeout_s).map_err(|e| PyValueError::new_err(format!("timeout_s: {e}")))?;
        Ok(py.detach(|| self.inner.wait(id, timeout)))
    }

    /// How long the last write took (write and fsync of its group), in seconds; 0 before
    /// the first.
    #[getter]
    fn last_write_s(&self) -> f64 {
        self.inner.last_write().as_secs_f64()
    }

    /// `(id, error)` of each finished write, in order; `error` is None on success.
    fn completed(&self) -> Vec<(u64, Option<PyErr>)> {
        self.inner.completed().into_iter().map(|(id, result)| (id, result.err().map(wal_error))).collect()
    }

    /// Finishes the writes submitted, then stops the thread.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }
}
