//! `SnapshotData`: a snapshot's bytes held by the core, handed to Python without a copy, for
//! the runtime to stream out of band in chunks (`raft::snapshot_send`) and to hand back to the
//! core once received.

use bytes::Bytes;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// A snapshot's data (see `_core.pyi`).
#[pyclass(frozen, module = "senate._core")]
pub struct SnapshotData {
    data: Bytes,
}

impl SnapshotData {
    pub fn new(data: Bytes) -> SnapshotData {
        SnapshotData { data }
    }

    pub fn bytes(&self) -> Bytes {
        self.data.clone()
    }
}

#[pymethods]
impl SnapshotData {
    /// The whole file at `path`, read without the interpreter lock.
    #[staticmethod]
    fn read_file(py: Python<'_>, path: PathBuf) -> PyResult<SnapshotData> {
        let data = py
            .detach(|| std::fs::read(&path))
            .map_err(|e| PyOSError::new_err(format!("reading {}: {e}", path.display())))?;
        Ok(SnapshotData { data: Bytes::from(data) })
    }

    /// `data` itself (kept, not copied).
    #[staticmethod]
    fn from_bytes(data: PyBackedBytes) -> SnapshotData {
        SnapshotData { data: Bytes::from_owner(data) }
    }

    fn __len__(&self) -> usize {
        self.data.len()
    }

    /// A copy as `bytes`, made without the interpreter lock.
    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = &self.data;
        crate::off_lock::bytes_filled_off_lock(py, data.len(), |out| out.copy_from_slice(data))
    }

    /// The elements of the MessagePack array of binary strings this holds (the node runtime's
    /// snapshot envelope), each sharing these bytes (no copy); `ValueError` naming the byte
    /// where it is not such an array.
    fn split_envelope(&self) -> PyResult<Vec<SnapshotData>> {
        let ranges =
            senate_core::codec::decode_bin_array(&self.data).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(ranges.into_iter().map(|range| SnapshotData { data: self.data.slice(range) }).collect())
    }

    /// Bytes `[offset, offset + size)`, cut at the end; `offset` at most the length.
    fn chunk<'py>(&self, py: Python<'py>, offset: usize, size: usize) -> PyResult<Bound<'py, PyBytes>> {
        if offset > self.data.len() {
            return Err(PyValueError::new_err(format!("offset {offset} past the {} bytes", self.data.len())));
        }
        let end = offset.saturating_add(size).min(self.data.len());
        Ok(PyBytes::new(py, &self.data[offset..end]))
    }

    /// CRC32C (Castagnoli) of the whole data, computed without the interpreter lock.
    fn crc32c(&self, py: Python<'_>) -> u32 {
        let data = self.data.clone();
        py.detach(move || crc32c::crc32c(&data))
    }

    fn __repr__(&self) -> String {
        format!("SnapshotData(<{} bytes>)", self.data.len())
    }
}

/// A snapshot's bytes from Python, read without a copy: a `SnapshotData` (the core's bytes,
/// shared) or `bytes` (the object itself, held until the reader is done with it).
#[derive(FromPyObject)]
pub enum SnapshotBytes<'py> {
    Shared(PyRef<'py, SnapshotData>),
    Owned(PyBackedBytes),
}

impl SnapshotBytes<'_> {
    pub fn into_bytes(self) -> Bytes {
        match self {
            SnapshotBytes::Shared(data) => data.bytes(),
            SnapshotBytes::Owned(data) => Bytes::from_owner(data),
        }
    }
}
