//! The key-value service's core: `KvStore` (the replicated state), `RespSession` (one client
//! connection), and the helpers `decode_batch`, `batch_reply_count`, `encode_command`,
//! `count_replies`.

use crate::acl::AclUsers;
use crate::errors::{config_error, kv_error};
use crate::off_lock::bytes_filled_off_lock;
use crate::snapshot_data::SnapshotBytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use senate_core::codec::resp::DEFAULT_MAX_BULK_BYTES;
use senate_core::codec::RespLimits;
use senate_core::kv;

/// The replicated map of byte strings (see `_core.pyi`).
#[pyclass(module = "senate._core")]
pub struct KvStore {
    inner: kv::KvStore,
}

/// A store captured by `KvStore.capture` (see `_core.pyi`).
#[pyclass(module = "senate._core", frozen)]
pub struct KvCapture {
    store: kv::KvStore,
}

impl Drop for KvCapture {
    /// The copy is dropped in another thread: the tables the store wrote since it was taken
    /// are the copy's alone by then, and its last reference goes with the interpreter lock
    /// held (36 ms to free a whole copy of 1,000,000 keys here).
    fn drop(&mut self) {
        drop_elsewhere(std::mem::take(&mut self.store));
    }
}

#[pymethods]
impl KvCapture {
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        snapshot_bytes(py, &self.store)
    }
}

/// `store` encoded as a snapshot, without the interpreter lock.
fn snapshot_bytes<'py>(py: Python<'py>, store: &kv::KvStore) -> PyResult<Bound<'py, PyBytes>> {
    let data = py.detach(|| kv::encode_snapshot(store));
    bytes_filled_off_lock(py, data.len(), |out| out.copy_from_slice(&data))
}

/// Drops `value` in a thread of its own: freeing a large store (after FLUSHDB, or the state a
/// snapshot replaced) took a quarter of a second for 1,000,000 keys, which the event loop
/// would otherwise wait for. If no thread can be started it is dropped here.
fn drop_elsewhere<T: Send + 'static>(value: T) {
    // A failed spawn drops the closure, and `value` with it, here.
    let _ = std::thread::Builder::new().name("senate-kv-free".into()).spawn(move || drop(value));
}

/// A closed session's query buffer at least this large is freed in another thread: the
/// event loop would wait for the kernel to unmap it (an evicted client can hold 100 MiB).
const FREE_ELSEWHERE_BYTES: usize = 1 << 20;

/// A non-negative keyword argument as `usize`, or a `ConfigError` naming it.
fn non_negative(field: &'static str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| config_error(field, "must not be negative".to_string()))
}

#[pymethods]
impl KvStore {
    #[new]
    #[pyo3(signature = (*, max_keys_result = 100_000))]
    fn new(max_keys_result: i64) -> PyResult<KvStore> {
        Ok(KvStore { inner: kv::KvStore::new(non_negative("max_keys_result", max_keys_result)?) })
    }

    fn apply<'py>(&mut self, py: Python<'py>, batch: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let replies = kv::apply_batch(&mut self.inner, batch).map_err(kv_error)?;
        let retired = self.inner.take_retired();
        if !retired.is_empty() {
            drop_elsewhere(retired);
        }
        Ok(PyBytes::new(py, &replies))
    }

    fn read<'py>(&self, py: Python<'py>, batch: &[u8], now_ms: u64) -> PyResult<Bound<'py, PyBytes>> {
        let replies = kv::read_batch(&self.inner, batch, now_ms).map_err(kv_error)?;
        Ok(PyBytes::new(py, &replies))
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        snapshot_bytes(py, &self.inner)
    }

    /// A copy of the store as it is now, to encode later in another thread (see `_core.pyi`).
    fn capture(&self) -> KvCapture {
        KvCapture { store: self.inner.clone() }
    }

    fn restore(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let max_keys_result = self.inner.max_keys_result;
        let mut restored = py.detach(|| kv::decode_snapshot(data, max_keys_result)).map_err(kv_error)?;
        restored.sessions.limits = self.inner.sessions.limits;
        drop_elsewhere(std::mem::replace(&mut self.inner, restored));
        Ok(())
    }

    /// A new store holding the snapshot `data`, with this store's settings; this store is
    /// not changed (see `_core.pyi`). Decoded without the interpreter lock and without
    /// borrowing this store meanwhile, so a worker thread may build it while the loop reads
    /// and applies to this one.
    fn restored(slf: &Bound<'_, Self>, data: SnapshotBytes<'_>) -> PyResult<KvStore> {
        let (max_keys_result, limits) = {
            let this = slf.try_borrow()?;
            (this.inner.max_keys_result, this.inner.sessions.limits)
        };
        let data = data.into_bytes();
        let mut restored = slf.py().detach(|| kv::decode_snapshot(&data, max_keys_result)).map_err(kv_error)?;
        restored.sessions.limits = limits;
        Ok(KvStore { inner: restored })
    }

    /// Takes `restored`'s contents (it is left empty) in place of this store's, whose old
    /// contents are freed in another thread: O(1) here (see `_core.pyi`).
    fn swap_in(&mut self, restored: &mut KvStore) {
        let new = std::mem::take(&mut restored.inner);
        drop_elsewhere(std::mem::replace(&mut self.inner, new));
    }

    fn __len__(&self) -> usize {
        self.inner.live_len(self.inner.now_ms())
    }

    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    fn expiring_len(&self) -> usize {
        self.inner.live_expiring_len(self.inner.now_ms())
    }

    #[getter]
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// Client sessions open (`SENATE.SESSION`).
    #[getter]
    fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }

    fn __repr__(&self) -> String {
        format!("KvStore(keys={}, now_ms={})", self.__len__(), self.inner.now_ms())
    }
}

/// One client connection's protocol state (see `_core.pyi`).
#[pyclass(module = "senate._core")]
pub struct RespSession {
    inner: kv::RespSession,
}

#[pymethods]
impl RespSession {
    #[new]
    #[pyo3(signature = (
        *,
        max_value_bytes = 536_870_912,
        max_args = 65_536,
        max_batch_commands = 1024,
        client_id = 0,
        users = None,
    ))]
    fn new(
        max_value_bytes: i64,
        max_args: i64,
        max_batch_commands: i64,
        client_id: u64,
        users: Option<PyRef<'_, AclUsers>>,
    ) -> PyResult<RespSession> {
        let max_value_bytes = non_negative("max_value_bytes", max_value_bytes)?;
        let limits = RespLimits {
            // The protocol limit follows the value limit up when that is raised.
            max_bulk_bytes: DEFAULT_MAX_BULK_BYTES.max(max_value_bytes),
            max_value_bytes,
            max_args: non_negative("max_args", max_args)?,
            ..RespLimits::default()
        };
        let max_batch_commands = non_negative("max_batch_commands", max_batch_commands)?;
        let inner = kv::RespSession::new(limits, max_batch_commands, client_id).map_err(|err| match err {
            kv::KvError::InvalidLimits { field: "max_bulk_bytes", problem } => {
                config_error("max_value_bytes", problem.to_string())
            }
            other => kv_error(other),
        })?;
        let inner = match users {
            Some(users) => inner.with_users(users.inner.clone()),
            None => inner,
        };
        Ok(RespSession { inner })
    }

    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8], now_ms: u64) -> Vec<(u8, Bound<'py, PyBytes>)> {
        let groups = self.inner.feed(data, now_ms);
        groups.iter().map(|group| (group.kind(), PyBytes::new(py, group.payload()))).collect()
    }

    #[getter]
    fn name<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.name().map(|name| PyBytes::new(py, name))
    }

    #[getter]
    fn readonly(&self) -> bool {
        self.inner.readonly()
    }

    #[getter]
    fn user(&self) -> &str {
        self.inner.user_name()
    }

    #[getter]
    fn authenticated(&self) -> bool {
        self.inner.authenticated()
    }

    #[getter]
    fn protocol(&self) -> u8 {
        self.inner.protocol().version()
    }

    #[getter]
    fn buffered_bytes(&self) -> usize {
        self.inner.buffered_bytes()
    }

    #[getter]
    fn over_maxmemory(&self) -> bool {
        self.inner.over_maxmemory()
    }

    #[setter]
    fn set_over_maxmemory(&mut self, over: bool) {
        self.inner.set_over_maxmemory(over);
    }

    fn watched<'py>(&mut self, py: Python<'py>, reply: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.watched(reply))
    }

    fn executed<'py>(&mut self, py: Python<'py>, reply: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.executed(reply))
    }

    fn node_replied(&mut self, replies: Vec<Vec<u8>>) {
        self.inner.node_replied(replies);
    }

    #[getter]
    fn in_transaction(&self) -> bool {
        self.inner.in_transaction()
    }

    fn close(&mut self) {
        let input = self.inner.close();
        if input.capacity() >= FREE_ELSEWHERE_BYTES {
            drop_elsewhere(input);
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

#[pyfunction]
fn decode_batch<'py>(py: Python<'py>, batch: &[u8]) -> PyResult<Vec<Vec<Bound<'py, PyBytes>>>> {
    let commands = kv::decode_batch(batch).map_err(kv_error)?;
    Ok(commands.iter().map(|args| args.iter().map(|arg| PyBytes::new(py, arg)).collect()).collect())
}

#[pyfunction]
fn batch_reply_count(batch: &[u8]) -> PyResult<usize> {
    Ok(kv::BatchReader::new(batch).map_err(kv_error)?.reply_count())
}

#[pyfunction]
fn encode_command<'py>(py: Python<'py>, args: Vec<Vec<u8>>) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &kv::encode_command(&args))
}

/// The names of the commands that change the store (uppercase, as `SENATE.EXEC` wraps them).
#[pyfunction]
fn write_command_names() -> Vec<String> {
    kv::command::COMMANDS
        .iter()
        .filter(|spec| spec.class == kv::command::Class::Write && !spec.name.starts_with("senate."))
        .map(|spec| spec.name.to_ascii_uppercase())
        .collect()
}

#[pyfunction]
fn count_replies(data: &[u8]) -> PyResult<(usize, usize, usize)> {
    senate_core::codec::count_replies(data).map_err(|err| kv_error(err.into()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KvStore>()?;
    m.add_class::<KvCapture>()?;
    m.add_class::<RespSession>()?;
    m.add_class::<AclUsers>()?;
    m.add_function(wrap_pyfunction!(decode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(batch_reply_count, m)?)?;
    m.add_function(wrap_pyfunction!(encode_command, m)?)?;
    m.add_function(wrap_pyfunction!(count_replies, m)?)?;
    m.add_function(wrap_pyfunction!(write_command_names, m)?)?;
    m.add("GROUP_REPLY", kv::GROUP_REPLY)?;
    m.add("GROUP_LOG", kv::GROUP_LOG)?;
    m.add("GROUP_READ", kv::GROUP_READ)?;
    m.add("GROUP_STALE_READ", kv::GROUP_STALE_READ)?;
    m.add("GROUP_NODE", kv::GROUP_NODE)?;
    m.add("GROUP_CLOSE", kv::GROUP_CLOSE)?;
    m.add("GROUP_WATCH", kv::GROUP_WATCH)?;
    m.add("GROUP_EXEC_LOG", kv::GROUP_EXEC_LOG)?;
    m.add("GROUP_EXEC_READ", kv::GROUP_EXEC_READ)?;
    m.add("GROUP_EXEC_NODE", kv::GROUP_EXEC_NODE)?;
    Ok(())
}
