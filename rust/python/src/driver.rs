//! `NodeDriver`: the Python face of the core's `WalDriver` over either protocol's core (Raft's
//! `MemNode`, Multi-Paxos's `PaxosNode`): the policy of carrying out Readies lives there (see
//! `senate_core::driver`). Actions come out as small tuples whose first item is one of the
//! `ACTION_*` constants, so the runtime's loop dispatches on an int.

use crate::errors::{driver_error, raft_error, step_error};
use crate::node::{stream_bytes, RaftNode};
use crate::paxos_node::{PaxosNode, PaxosStatus};
use crate::ready::Snapshot;
use crate::snapshot_data::SnapshotData;
use crate::status::Status;
use crate::wal_writer::WalWriter;
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyTuple};
use senate_core::driver::{Action, Consensus, Driver, DriverOptions, Next, WalDriver};
use senate_core::paxos::PaxosNode as CorePaxosNode;
use senate_core::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, MemNode, ProtocolId};
use std::time::{Duration, Instant};

pub const ACTION_SEND: u8 = 0;
pub const ACTION_APPLY: u8 = 1;
pub const ACTION_SERVE_READS: u8 = 2;
pub const ACTION_ROLE: u8 = 3;
pub const ACTION_DURABLE: u8 = 4;
pub const ACTION_TAKE_SNAPSHOT: u8 = 5;
pub const ACTION_COMPACT: u8 = 6;
pub const ACTION_SNAPSHOT_SKIPPED: u8 = 7;
pub const ACTION_RESTORE: u8 = 8;
pub const ACTION_CONF_CHANGED: u8 = 9;
pub const ACTION_SEND_SNAPSHOT: u8 = 10;

pub const NEXT_IDLE: u8 = 0;
pub const NEXT_CONTINUE: u8 = 1;
pub const NEXT_YIELD: u8 = 2;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for (name, value) in [
        ("ACTION_SEND", ACTION_SEND),
        ("ACTION_APPLY", ACTION_APPLY),
        ("ACTION_SERVE_READS", ACTION_SERVE_READS),
        ("ACTION_ROLE", ACTION_ROLE),
        ("ACTION_DURABLE", ACTION_DURABLE),
        ("ACTION_TAKE_SNAPSHOT", ACTION_TAKE_SNAPSHOT),
        ("ACTION_COMPACT", ACTION_COMPACT),
        ("ACTION_SNAPSHOT_SKIPPED", ACTION_SNAPSHOT_SKIPPED),
        ("ACTION_RESTORE", ACTION_RESTORE),
        ("ACTION_CONF_CHANGED", ACTION_CONF_CHANGED),
        ("ACTION_SEND_SNAPSHOT", ACTION_SEND_SNAPSHOT),
        ("NEXT_IDLE", NEXT_IDLE),
        ("NEXT_CONTINUE", NEXT_CONTINUE),
        ("NEXT_YIELD", NEXT_YIELD),
    ] {
        m.add(name, value)?;
    }
    m.add_class::<NodeDriver>()
}

/// The driver of either protocol's core.
enum AnyDriver {
    Raft(WalDriver<MemNode>),
    Paxos(WalDriver<CorePaxosNode>),
}

/// Runs `$body` with `$d` bound to the driver of whichever protocol (the same generic code).
macro_rules! with {
    ($driver:expr, $d:ident => $body:expr) => {
        match $driver {
            AnyDriver::Raft($d) => $body,
            AnyDriver::Paxos($d) => $body,
        }
    };
}

/// Drives one node's core (see `_core.pyi`).
#[pyclass(module = "senate._core")]
pub struct NodeDriver {
    inner: AnyDriver,
    /// How long a follower waits for its own write inside `poll` (zero: never).
    follower_write_wait: Duration,
    /// Reused between polls: the actions of one poll.
    actions: Vec<Action>,
}

fn next_code(next: Next) -> u8 {
    match next {
        Next::Idle => NEXT_IDLE,
        Next::Continue => NEXT_CONTINUE,
        Next::Yield => NEXT_YIELD,
    }
}

fn action_tuple<'py>(py: Python<'py>, action: Action) -> PyResult<Bound<'py, PyTuple>> {
    match action {
        Action::Send { to, frames } => (ACTION_SEND, to, PyBytes::new(py, &frames)).into_pyobject(py),
        Action::Apply { entries, deadline_ns } => {
            let last = entries.last().map_or(0, |e| e.index);
            let payloads = PyList::new(py, entries.iter().map(|e| PyBytes::new(py, e.application_data())))?;
            (ACTION_APPLY, payloads, last, deadline_ns).into_pyobject(py)
        }
        Action::ServeReads { reads } => {
            let ids: Vec<u64> = reads.into_iter().map(|(id, _index)| id).collect();
            (ACTION_SERVE_READS, ids).into_pyobject(py)
        }
        Action::Role { role, leader, epoch } => (ACTION_ROLE, role.as_str(), leader, epoch).into_pyobject(py),
        Action::Durable { id, elapsed_ns, slow } => {
            (ACTION_DURABLE, id, elapsed_ns as f64 / 1e9, slow).into_pyobject(py)
        }
        Action::TakeSnapshot { index } => (ACTION_TAKE_SNAPSHOT, index).into_pyobject(py),
        Action::Compact { snapshot } => (ACTION_COMPACT, Snapshot::new(snapshot)).into_pyobject(py),
        Action::SnapshotSkipped { index, reason } => (ACTION_SNAPSHOT_SKIPPED, index, reason).into_pyobject(py),
        Action::Restore { snapshot } => (ACTION_RESTORE, Snapshot::new(snapshot)).into_pyobject(py),
        Action::ConfChanged { conf_state, addresses } => {
            let ConfState { voters, learners, voters_outgoing, .. } = conf_state;
            (ACTION_CONF_CHANGED, voters, learners, voters_outgoing, addresses).into_pyobject(py)
        }
        Action::SendSnapshot { send } => {
            let meta = &send.snapshot.meta;
            let data = SnapshotData::new(send.snapshot.data.clone());
            (ACTION_SEND_SNAPSHOT, send.to, meta.index, meta.term, PyBytes::new(py, &send.head), data).into_pyobject(py)
        }
        // Carried out by `WalDriver::poll`: never handed to Python.
        Action::Write { id, .. } => Err(PyValueError::new_err(format!("write {id} was not submitted to the log"))),
    }
}

impl NodeDriver {
    fn take_actions<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for action in self.actions.drain(..) {
            list.append(action_tuple(py, action)?)?;
        }
        Ok(list)
    }
}

#[pymethods]
impl NodeDriver {
    #[new]
    #[pyo3(signature = (
        core,
        *,
        tick_ms,
        now_ns,
        writer = None,
        applied = 0,
        first_read_id = 1,
        max_writes_in_flight = senate_core::driver::DEFAULT_MAX_WRITES_IN_FLIGHT,
        max_batch_proposals = senate_core::driver::DEFAULT_MAX_BATCH_PROPOSALS,
        snapshot_entries = senate_core::driver::DEFAULT_SNAPSHOT_ENTRIES,
        snapshot_bytes = senate_core::driver::DEFAULT_SNAPSHOT_BYTES,
        max_apply_backlog_bytes = senate_core::driver::DEFAULT_MAX_APPLY_BACKLOG_BYTES,
        follower_write_wait_s = 0.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        core: &Bound<'_, PyAny>,
        tick_ms: f64,
        now_ns: u64,
        writer: Option<PyRef<'_, WalWriter>>,
        applied: u64,
        first_read_id: u64,
        max_writes_in_flight: usize,
        max_batch_proposals: usize,
        snapshot_entries: u64,
        snapshot_bytes: u64,
        max_apply_backlog_bytes: usize,
        follower_write_wait_s: f64,
    ) -> PyResult<NodeDriver> {
        if !(tick_ms.is_finite() && tick_ms > 0.0) {
            return Err(crate::errors::config_error("tick_ms", format!("must be a positive number, got {tick_ms}")));
        }
        let follower_write_wait = Duration::try_from_secs_f64(follower_write_wait_s)
            .map_err(|e| crate::errors::config_error("follower_write_wait_s", e.to_string()))?;
        let writer = writer.map(|w| w.shared());
        let options = |node: &dyn Consensus| {
            let mut options = DriverOptions::derive(node.timing(), (tick_ms * 1e6) as u64, node.id());
            options.durable = writer.is_some();
            options.first_read_id = first_read_id;
            options.max_writes_in_flight = max_writes_in_flight;
            options.max_batch_proposals = max_batch_proposals;
            options.snapshot_entries = snapshot_entries;
            options.snapshot_bytes = snapshot_bytes;
            options.max_apply_backlog_bytes = max_apply_backlog_bytes;
            options
        };
        let inner = if let Ok(mut raft) = core.cast::<RaftNode>().map(|c| c.borrow_mut()) {
            let node = raft.take_core()?;
            let options = options(&node);
            let driver = Driver::new(node, options, applied, now_ns).map_err(|e| raft_error(py, e))?;
            AnyDriver::Raft(WalDriver::new(driver, writer))
        } else if let Ok(mut paxos) = core.cast::<PaxosNode>().map(|c| c.borrow_mut()) {
            let node = paxos.take_core()?;
            let options = options(&node);
            let driver = Driver::new(node, options, applied, now_ns).map_err(|e| raft_error(py, e))?;
            AnyDriver::Paxos(WalDriver::new(driver, writer))
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err("core must be a RaftNode or a PaxosNode"));
        };
        Ok(NodeDriver { inner, follower_write_wait, actions: Vec::new() })
    }

    /// One round of work at `now_ns`: `(next, actions)`.
    fn poll<'py>(&mut self, py: Python<'py>, now_ns: u64) -> PyResult<(u8, Bound<'py, PyList>)> {
        let next = match with!(&mut self.inner, d => d.poll(now_ns, &mut self.actions)) {
            Ok(next) => next,
            Err(err) => {
                self.actions.clear();
                return Err(driver_error(err));
            }
        };
        if let Some((writer, id)) = with!(&mut self.inner, d => d.follower_wait(self.follower_write_wait)) {
            let bound = self.follower_write_wait;
            let started = Instant::now();
            if py.detach(|| writer.wait(id, bound)) {
                let waited_ns = started.elapsed().as_nanos() as u64;
                with!(&mut self.inner, d => d.take_completions(now_ns + waited_ns, &mut self.actions));
            }
        }
        Ok((next_code(next), self.take_actions(py)?))
    }

    /// Drains the log writer's finished writes: the actions they release (messages that
    /// waited for them, and a `Durable` each).
    fn take_completions<'py>(&mut self, py: Python<'py>, now_ns: u64) -> PyResult<Bound<'py, PyList>> {
        with!(&mut self.inner, d => d.take_completions(now_ns, &mut self.actions));
        self.take_actions(py)
    }

    fn add_ticks(&mut self, n: u64) {
        with!(&mut self.inner, d => d.driver_mut().add_ticks(n));
    }

    fn step_stream(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let buf = stream_bytes(data)?;
        with!(&mut self.inner, d => d.driver_mut().step_stream(&buf).map_err(|e| step_error(py, e)))
    }

    /// Steps a snapshot message that arrived out of band from peer `peer_id`: its head frame
    /// and its data.
    fn step_snapshot(
        &mut self,
        py: Python<'_>,
        peer_id: u64,
        head: &[u8],
        data: PyRef<'_, SnapshotData>,
    ) -> PyResult<()> {
        let head = Bytes::copy_from_slice(head);
        with!(&mut self.inner, d => d.driver_mut().step_snapshot(peer_id, &head, data.bytes()).map_err(|e| step_error(py, e)))
    }

    fn report_unreachable(&mut self, id: u64) {
        with!(&mut self.inner, d => d.driver_mut().report_unreachable(id));
    }

    fn may_propose(&self) -> bool {
        with!(&self.inner, d => d.driver().may_propose())
    }

    fn propose_batch(&mut self, py: Python<'_>, data: Vec<Bound<'_, PyBytes>>) -> PyResult<()> {
        let max = with!(&self.inner, d => d.driver().options().max_batch_proposals);
        if data.len() > max {
            return Err(PyValueError::new_err(format!("{} commands in one batch, at most {max}", data.len())));
        }
        let batch = data.iter().map(|item| Bytes::copy_from_slice(item.as_bytes())).collect();
        with!(&mut self.inner, d => d.driver_mut().propose_batch(batch).map_err(|e| raft_error(py, e)))
    }

    fn request_read(&mut self) -> u64 {
        with!(&mut self.inner, d => d.driver_mut().request_read())
    }

    fn cancel_read(&mut self, id: u64) {
        with!(&mut self.inner, d => d.driver_mut().cancel_read(id));
    }

    fn applied_to(&mut self, index: u64) {
        with!(&mut self.inner, d => d.driver_mut().applied_to(index));
    }

    fn snapshot_now(&mut self) {
        with!(&mut self.inner, d => d.driver_mut().snapshot_now());
    }

    fn snapshot_started(&mut self, index: u64, frozen: bool) {
        with!(&mut self.inner, d => d.driver_mut().snapshot_started(index, frozen));
    }

    fn snapshot_taken(&mut self, index: u64, data: PyBackedBytes) {
        // The core keeps the caller's bytes object, not a copy: a snapshot may be large.
        with!(&mut self.inner, d => d.driver_mut().snapshot_taken(index, Bytes::from_owner(data)));
    }

    fn snapshot_failed(&mut self, index: u64) {
        with!(&mut self.inner, d => d.driver_mut().snapshot_failed(index));
    }

    fn restore_done(&mut self, index: u64) {
        with!(&mut self.inner, d => d.driver_mut().restore_done(index));
    }

    fn restore_failed(&mut self, index: u64, message: String) {
        with!(&mut self.inner, d => d.driver_mut().restore_failed(index, message));
    }

    /// The index of the snapshot being restored (handed out, not yet reported done), if any.
    #[getter]
    fn restoring(&self) -> Option<u64> {
        with!(&self.inner, d => d.driver().restoring())
    }

    fn compaction_done(&mut self) {
        with!(&mut self.inner, d => d.driver_mut().compaction_done());
    }

    fn recovered_snapshot(&mut self, data_bytes: u64) {
        with!(&mut self.inner, d => d.driver_mut().recovered_snapshot(data_bytes));
    }

    fn transfer_leader(&mut self, py: Python<'_>, id: u64) -> PyResult<()> {
        with!(&mut self.inner, d => d.driver_mut().core_mut().transfer_leader(id).map_err(|e| raft_error(py, e)))
    }

    /// Proposes a membership change at the leader: `changes` as `(type, id, address)`, the
    /// type one of "add-voter", "add-learner", "remove", the address empty when not given.
    fn propose_conf_change(&mut self, py: Python<'_>, changes: Vec<(String, u64, String)>) -> PyResult<()> {
        let mut singles = Vec::with_capacity(changes.len());
        for (name, node_id, address) in changes {
            let change_type = ConfChangeType::from_name(&name)
                .ok_or_else(|| crate::errors::config_error("conf_change", format!("unknown change type {name:?}")))?;
            singles.push(ConfChangeSingle { change_type, node_id, address });
        }
        let change = ConfChange { transition: ConfChangeTransition::Auto, changes: singles };
        with!(&mut self.inner, d => d.driver_mut().core_mut().propose_conf_change(&change).map_err(|e| raft_error(py, e)))
    }

    /// The configuration in force: `(voters, learners, voters_outgoing, auto_leave)`;
    /// `voters_outgoing` is not empty while the configuration is joint.
    fn conf_state(&self) -> (Vec<u64>, Vec<u64>, Vec<u64>, bool) {
        let conf = with!(&self.inner, d => Consensus::conf_state(d.driver().core()).clone());
        (conf.voters, conf.learners, conf.voters_outgoing, conf.auto_leave)
    }

    fn campaign(&mut self) {
        match &mut self.inner {
            AnyDriver::Raft(d) => d.driver_mut().core_mut().raw.campaign(),
            AnyDriver::Paxos(d) => d.driver_mut().core_mut().campaign(),
        }
    }

    /// Raft: whether this node came back with an empty disk ("no", "abstaining",
    /// "recovered"), and the followers the leader found to have lost their log; cheap
    /// enough to read every tick. Multi-Paxos: "no", none.
    #[getter]
    fn empty_disk(&self) -> &'static str {
        match &self.inner {
            AnyDriver::Raft(d) => d.driver().core().raw.empty_disk().as_str(),
            AnyDriver::Paxos(_) => "no",
        }
    }

    /// `(count, last peer)`: followers found (as a leader) to have lost their log since the
    /// start, and the last of them (0: none).
    #[getter]
    fn lost_logs_seen(&self) -> (u64, u64) {
        match &self.inner {
            AnyDriver::Raft(d) => d.driver().core().raw.lost_logs_seen(),
            AnyDriver::Paxos(_) => (0, 0),
        }
    }

    /// The core's status: a `Status` (Raft) or a `PaxosStatus`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            AnyDriver::Raft(d) => Ok(Bound::new(py, Status::from_core(d.driver().core().status()))?.into_any()),
            AnyDriver::Paxos(d) => Ok(Bound::new(py, PaxosStatus::from_core(d.driver().core().status()))?.into_any()),
        }
    }

    /// "raft" or "paxos".
    #[getter]
    fn protocol(&self) -> &'static str {
        crate::wal::protocol_name(match self.inner {
            AnyDriver::Raft(_) => ProtocolId::Raft,
            AnyDriver::Paxos(_) => ProtocolId::Paxos,
        })
    }

    #[getter]
    fn role(&self) -> &'static str {
        with!(&self.inner, d => d.driver().role().as_str())
    }

    #[getter]
    fn leader(&self) -> Option<u64> {
        with!(&self.inner, d => d.driver().leader())
    }

    #[getter]
    fn epoch(&self) -> u64 {
        with!(&self.inner, d => d.driver().epoch())
    }

    /// Raft's term; for Multi-Paxos the round of the promised ballot.
    #[getter]
    fn term(&self) -> u64 {
        match &self.inner {
            AnyDriver::Raft(d) => d.driver().core().raw.term(),
            AnyDriver::Paxos(d) => d.driver().core().promised().round,
        }
    }

    #[getter]
    fn commit_index(&self) -> u64 {
        with!(&self.inner, d => d.driver().core().commit_index())
    }

    #[getter]
    fn applied_index(&self) -> u64 {
        with!(&self.inner, d => d.driver().applied_index())
    }

    #[getter]
    fn snapshot_index(&self) -> u64 {
        with!(&self.inner, d => d.driver().snapshot_index())
    }

    #[getter]
    fn now_ticks(&self) -> u64 {
        with!(&self.inner, d => d.driver().now_ticks())
    }

    #[getter]
    fn ticks_due(&self) -> u64 {
        with!(&self.inner, d => d.driver().ticks_due())
    }

    #[getter]
    fn writes_in_flight(&self) -> usize {
        with!(&self.inner, d => d.driver().writes_in_flight())
    }

    #[getter]
    fn readies_unadvanced(&self) -> usize {
        with!(&self.inner, d => d.driver().readies_unadvanced())
    }

    #[getter]
    fn apply_backlog_bytes(&self) -> usize {
        with!(&self.inner, d => d.driver().apply_backlog_bytes())
    }

    #[getter]
    fn max_batch_proposals(&self) -> usize {
        with!(&self.inner, d => d.driver().options().max_batch_proposals)
    }

    #[getter]
    fn follower_write_wait_s(&self) -> f64 {
        self.follower_write_wait.as_secs_f64()
    }

    #[setter]
    fn set_follower_write_wait_s(&mut self, seconds: f64) -> PyResult<()> {
        self.follower_write_wait = Duration::try_from_secs_f64(seconds)
            .map_err(|e| crate::errors::config_error("follower_write_wait_s", e.to_string()))?;
        Ok(())
    }

    /// `(readies, readies_without_write, readies_past_limit, writes, entries_applied,
    /// snapshots_taken, snapshots_restored)` since the start.
    fn stats(&self) -> (u64, u64, u64, u64, u64, u64, u64) {
        let s = with!(&self.inner, d => d.driver().stats());
        (
            s.readies,
            s.readies_without_write,
            s.readies_past_limit,
            s.writes,
            s.entries_applied,
            s.snapshots_taken,
            s.snapshots_restored,
        )
    }

    fn __repr__(&self) -> String {
        with!(&self.inner, d => format!(
            "NodeDriver(protocol='{}', id={}, role='{}', epoch={}, applied={})",
            self.protocol(),
            d.driver().core().id(),
            d.driver().role().as_str(),
            d.driver().epoch(),
            d.driver().applied_index()
        ))
    }
}
