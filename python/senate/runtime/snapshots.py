"""Snapshots of the state machines: when one is due, the job that takes it in a worker thread
(capturing the state, or freezing the machines meanwhile), recording it in the core and the
log (compaction), and restoring one (at start, or sent by the leader).

When the driver finishes a job and what waits meanwhile (the apply backlog) is the driver's
policy (`senate.runtime.driver`); this part carries the snapshots out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgpack

from senate._core import (
    SNAPSHOT_ENTRIES_CAP_FACTOR,
    SNAPSHOT_STAGGER,
    SenateError,
    Snapshot,
    SnapshotOutOfDate,
    Wal,
    encode_snapshot_envelope,
)
from senate.config import NodeConfig
from senate.runtime.core import AppliedState, Core
from senate.runtime.metrics import NodeMetrics

log = logging.getLogger("senate.node")


class Snapshots:
    """The snapshots of one node's state machines (`state`)."""

    def __init__(
        self,
        config: NodeConfig,
        state: AppliedState,
        wake: asyncio.Event,
        metrics: NodeMetrics | None,
    ) -> None:
        self.config = config
        self.node_id = config.id
        self.state = state
        self.metrics = metrics
        self._wake = wake
        self.loop: asyncio.AbstractEventLoop | None = None
        #: The log compacted after each snapshot (None: no data directory).
        self.wal: Wal | None = None
        self._compactor = ThreadPoolExecutor(1, thread_name_prefix=f"senate-{self.node_id}-compact")
        self._snapshotter = ThreadPoolExecutor(
            1, thread_name_prefix=f"senate-{self.node_id}-snapshot"
        )
        #: Bytes of the last snapshot taken or restored: the next one waits until at least as
        #: many bytes were applied, so snapshotting a large state costs at most what writing
        #: its log does (a 100 MB state is not rewritten after every 64 MB of commands).
        self._last_snapshot_bytes = 0
        # The golden ratio spreads consecutive ids evenly over the range.
        self._scale = 1 + SNAPSHOT_STAGGER * (config.id * 0.6180339887 % 1)
        self._compaction: asyncio.Future[None] | None = None
        #: The state machines' bytes being taken in a worker thread, at `_job_index`.
        #: Meanwhile the node goes on (ticks, messages, log writes). Unless every machine
        #: captured its state (`StateMachine.capture`), it applies nothing (`frozen`):
        #: the driver keeps the committed commands in its backlog until the job is done.
        self.job: asyncio.Future[bytes] | None = None
        self._job_index = 0
        self.frozen = False
        #: After a failed snapshot, the next automatic one waits for this applied index, so a
        #: state machine whose `snapshot()` keeps failing is not retried after every Ready.
        self._next_snapshot_index = 0

    def holds_applies(self) -> bool:
        """Whether a snapshot is being taken of state machines that could not capture their
        state (`frozen`): nothing is applied until it is taken."""
        return self.job is not None and self.frozen

    # --- restoring ------------------------------------------------------------------------
    def recover(self, snapshot: Snapshot) -> None:
        """Restores the snapshot the log recovered (at start)."""
        self._restore(snapshot.data)
        self._last_snapshot_bytes = len(snapshot.data)
        self.state.applied_index = self.state.snapshot_index = snapshot.index

    def install(self, index: int, data: bytes) -> None:
        """Replaces the state with the leader's snapshot at `index`."""
        self._restore(data)
        state = self.state
        state.applied_index = state.snapshot_index = index
        state.bytes_since_snapshot = 0
        self._last_snapshot_bytes = len(data)
        log.info("node %d: restored a snapshot at index %d", self.node_id, index)

    def _restore(self, data: bytes) -> None:
        machines = self.state.machines
        parts = msgpack.unpackb(data)
        if len(parts) != len(machines):
            raise SenateError(
                f"snapshot holds {len(parts)} state machines, this node has {len(machines)}"
            )
        for sm, part in zip(machines, parts, strict=True):
            sm.restore(part)

    # --- taking ---------------------------------------------------------------------------
    def _snapshot_bytes(self) -> bytes:
        """The snapshot of every state machine (msgpack: a list of their bytes). Runs in a
        worker thread; the envelope is built without the interpreter lock."""
        return encode_snapshot_envelope([sm.snapshot() for sm in self.state.machines])

    def maybe_start(self) -> None:
        """Starts a snapshot if enough was applied since the last one."""
        cfg = self.config
        state = self.state
        entries = state.applied_index - state.snapshot_index
        scale = self._scale
        due = (
            entries >= cfg.snapshot_entries * scale
            or state.bytes_since_snapshot >= cfg.snapshot_bytes * scale
        ) and (
            state.bytes_since_snapshot >= self._last_snapshot_bytes
            # Tiny commands on a large state: the log's entry count is bounded too.
            or entries >= SNAPSHOT_ENTRIES_CAP_FACTOR * cfg.snapshot_entries
        )
        if not due or (self._compaction is not None and not self._compaction.done()):
            return
        if state.applied_index < self._next_snapshot_index:
            return
        self.start()

    def start(self) -> None:
        """Starts a snapshot of the state machines at the applied index (see
        `Node.snapshot_now`); the driver finishes it once taken (`finish`)."""
        state = self.state
        if self.loop is None or self.job is not None:
            return
        if state.applied_index <= state.snapshot_index:
            return
        self._job_index = state.applied_index
        # A copy is worth making only if every machine makes one: stop at the first that
        # cannot (the node will not apply meanwhile anyway).
        parts: list[Callable[[], bytes]] = []
        for sm in state.machines:
            part = sm.capture()
            if part is None:
                break
            parts.append(part)
        self.frozen = len(parts) < len(state.machines)
        take: Callable[[], bytes] = (
            self._snapshot_bytes
            if self.frozen
            else lambda: encode_snapshot_envelope([part() for part in parts])
        )
        job = self.loop.run_in_executor(self._snapshotter, take)
        job.add_done_callback(lambda _job: self._wake.set())
        self.job = job

    def finish(self, core: Core, compact: bool) -> None:
        """Records the snapshot just taken in the core (`compact`; only between Readies) and
        the log (compacted in a worker thread)."""
        job = self.job
        assert job is not None
        assert job.done()
        self.job = None
        index = self._job_index
        error = None if job.cancelled() else job.exception()
        if error is not None:
            log.error("node %d: snapshot at index %d failed: %s", self.node_id, index, error)
            self._next_snapshot_index = index + self.config.snapshot_entries
        elif compact and index > self.state.snapshot_index:
            data = job.result()
            try:
                snap = core.compact(index, data)
            except SenateError as e:
                log.warning(
                    "node %d: snapshot at index %d not recorded: %s", self.node_id, index, e
                )
            else:
                self._last_snapshot_bytes = len(data)
                self.state.snapshot_index = snap.index
                self.state.bytes_since_snapshot = 0
                log.info("node %d: snapshot at index %d", self.node_id, snap.index)
                if self.metrics is not None:
                    self.metrics.on_snapshot()
                if self.wal is not None and self.loop is not None:
                    self._compaction = self.loop.run_in_executor(
                        self._compactor, self.wal.compact, snap
                    )
                    self._compaction.add_done_callback(self._compaction_done)

    def _compaction_done(self, fut: asyncio.Future[None]) -> None:
        error = None if fut.cancelled() else fut.exception()
        if isinstance(error, SnapshotOutOfDate):
            # A snapshot from the leader overtook it: the log is compacted past it already.
            log.info("node %d: compaction skipped: %s", self.node_id, error)
        elif error is not None:
            log.error("node %d: compaction failed: %s", self.node_id, error)

    # --- stopping -------------------------------------------------------------------------
    async def wait_idle(self) -> None:
        """Waits for the snapshot being taken and the compaction running, if any."""
        if self.job is not None:
            await asyncio.gather(self.job, return_exceptions=True)
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)

    def shutdown(self) -> None:
        """Stops the worker threads (after `wait_idle`)."""
        self._compactor.shutdown(wait=True)
        self._snapshotter.shutdown(wait=True)
