//! `Ready` and `Entry`: what a node hands its caller after some input.
//!
//! A `Ready` keeps the core's `EncodedReady` and converts a field to Python objects only when
//! it is read, so a caller pays for what it looks at. Each read builds fresh objects: bind a
//! field to a name once instead of reading it in a loop.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use senate_core::{EncodedReady, EntryKind, NO_NODE};

/// One committed log entry.
#[pyclass(frozen, module = "senate._core")]
pub struct Entry {
    #[pyo3(get)]
    index: u64,
    #[pyo3(get)]
    term: u64,
    #[pyo3(get)]
    data: Py<PyBytes>,
    /// The empty entry a new leader appends at the start of its term; `data` is empty.
    #[pyo3(get)]
    is_noop: bool,
}

#[pymethods]
impl Entry {
    fn __repr__(&self, py: Python<'_>) -> String {
        let data = self.data.bind(py).as_bytes();
        format!(
            "Entry(index={}, term={}, data=<{} bytes>, is_noop={})",
            self.index,
            self.term,
            data.len(),
            if self.is_noop { "True" } else { "False" }
        )
    }
}

impl Entry {
    fn from_core(py: Python<'_>, entry: &senate_core::Entry) -> Entry {
        Entry {
            index: entry.index,
            term: entry.term,
            data: PyBytes::new(py, &entry.data).unbind(),
            is_noop: entry.kind == EntryKind::NoOp,
        }
    }
}

/// A snapshot of the application: the state after applying the log up to `index`.
#[pyclass(frozen, module = "senate._core")]
pub struct Snapshot {
    inner: senate_core::Snapshot,
}

impl Snapshot {
    pub fn new(inner: senate_core::Snapshot) -> Snapshot {
        Snapshot { inner }
    }

    pub fn core(&self) -> &senate_core::Snapshot {
        &self.inner
    }
}

#[pymethods]
impl Snapshot {
    #[getter]
    fn index(&self) -> u64 {
        self.inner.meta.index
    }

    #[getter]
    fn term(&self) -> u64 {
        self.inner.meta.term
    }

    #[getter]
    fn voters(&self) -> Vec<u64> {
        self.inner.meta.conf_state.voters.clone()
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.data)
    }

    /// The data without a copy (the core's own bytes).
    #[getter]
    fn shared_data(&self) -> crate::snapshot_data::SnapshotData {
        crate::snapshot_data::SnapshotData::new(self.inner.data.clone())
    }

    /// Bytes of the data.
    #[getter]
    fn data_bytes(&self) -> usize {
        self.inner.data.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Snapshot(index={}, term={}, data=<{} bytes>)",
            self.inner.meta.index,
            self.inner.meta.term,
            self.inner.data.len()
        )
    }
}

/// The work a node asks of its caller: persist (`must_persist`: hand the Ready to
/// `Wal.write`), send `messages` at once and `persisted_messages` after persisting, apply
/// `committed` in order, serve `read_states`, then call `RaftNode.advance()`.
#[pyclass(frozen, module = "senate._core")]
pub struct Ready {
    inner: EncodedReady,
}

impl Ready {
    pub fn new(inner: EncodedReady) -> Ready {
        Ready { inner }
    }

    /// What to make durable, when there is anything.
    pub fn persist_batch(&self) -> Option<std::sync::Arc<senate_core::PersistBatch>> {
        self.inner.persist.clone()
    }
}

fn frames_by_destination<'py>(py: Python<'py>, messages: &[(u64, Vec<u8>)]) -> PyResult<Bound<'py, PyList>> {
    let mut items = Vec::with_capacity(messages.len());
    for (to, frames) in messages {
        items.push(PyTuple::new(py, [to.into_pyobject(py)?.into_any(), PyBytes::new(py, frames).into_any()])?);
    }
    PyList::new(py, items)
}

#[pymethods]
impl Ready {
    /// The node's role when it changed since the last `Ready`, else `None`.
    #[getter]
    fn role(&self) -> Option<&'static str> {
        self.inner.soft_state.map(|soft| soft.role.as_str())
    }

    /// The known leader when the soft state changed and a leader is known, else `None`.
    #[getter]
    fn leader(&self) -> Option<u64> {
        self.inner.soft_state.map(|soft| soft.leader).filter(|&leader| leader != NO_NODE)
    }

    /// `(term, vote, commit)` when it changed, else `None`.
    #[getter]
    fn hard_state(&self) -> Option<(u64, u64, u64)> {
        self.inner.hard_state.map(|hs| (hs.term, hs.vote, hs.commit))
    }

    /// `(index, term, data)` of a snapshot to restore the application from, else `None`.
    #[getter]
    fn snapshot<'py>(&self, py: Python<'py>) -> Option<(u64, u64, Bound<'py, PyBytes>)> {
        self.inner.snapshot.as_ref().map(|snap| (snap.meta.index, snap.meta.term, PyBytes::new(py, &snap.data)))
    }

    /// `(destination, frames)` that may be sent at once: one bytes of concatenated frames per
    /// destination.
    #[getter]
    fn messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        frames_by_destination(py, &self.inner.messages)
    }

    /// `(destination, frames)` to send only after this Ready is durable (empty for a node
    /// without a durable log, whose Ready is persisted before it is handed out).
    #[getter]
    fn persisted_messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        frames_by_destination(py, &self.inner.persisted_messages)
    }

    /// True when this Ready carries entries, a hard state or a snapshot to make durable.
    #[getter]
    fn must_persist(&self) -> bool {
        self.inner.persist.is_some()
    }

    /// True when persisting this Ready needs an fsync (entries, a snapshot, or a new term or
    /// vote); False when it is only a moved commit index, which may be written on the spot.
    #[getter]
    fn must_sync(&self) -> bool {
        self.inner.persist.as_ref().is_some_and(|batch| batch.must_sync)
    }

    /// The index of the first entry this Ready asks to persist, or `None` when it carries no
    /// entries. Committed entries below it were made durable by an earlier Ready, so they may
    /// be applied before this one's write completes.
    #[getter]
    fn first_persist_index(&self) -> Option<u64> {
        self.inner.persist.as_ref().and_then(|batch| batch.entries.first()).map(|entry| entry.index)
    }

    /// The data of each committed entry in order; a leader's no-op entry gives `b""`.
    #[getter]
    fn committed_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.committed_entries.iter().map(|entry| PyBytes::new(py, &entry.data)))
    }

    /// The index of the last committed entry in this Ready, or `None` when there is none.
    #[getter]
    fn committed_index(&self) -> Option<u64> {
        self.inner.committed_entries.last().map(|entry| entry.index)
    }

    /// Committed entries to apply, in index order.
    #[getter]
    fn committed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut items = Vec::with_capacity(self.inner.committed_entries.len());
        for entry in &self.inner.committed_entries {
            items.push(Bound::new(py, Entry::from_core(py, entry))?);
        }
        PyList::new(py, items)
    }

    /// `(request_id, index)` of confirmed reads: serve each once `index` is applied.
    #[getter]
    fn read_states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.read_states.iter().map(|rs| (rs.request_id, rs.index)))
    }

    fn __repr__(&self) -> String {
        let role = self.role().map_or("None".to_string(), |role| format!("'{role}'"));
        let leader = self.leader().map_or("None".to_string(), |id| id.to_string());
        let hard_state = self.hard_state().map_or("None".to_string(), |(t, v, c)| format!("({t}, {v}, {c})"));
        let snapshot = self.inner.snapshot.as_ref().map_or("None".to_string(), |s| format!("<at {}>", s.meta.index));
        format!(
            "Ready(role={role}, leader={leader}, hard_state={hard_state}, snapshot={snapshot}, messages=<{}>, committed=<{}>, read_states=<{}>)",
            self.inner.messages.len(),
            self.inner.committed_entries.len(),
            self.inner.read_states.len(),
        )
    }
}
