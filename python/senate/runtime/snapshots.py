"""Snapshots of the state machines, carried out for the core's driver: taking one in a worker
thread when the driver asks (`ACTION_TAKE_SNAPSHOT`; capturing the state, or freezing the
machines meanwhile), compacting the durable log with one the driver recorded
(`ACTION_COMPACT`), and restoring one (at start, or the leader's: `ACTION_RESTORE`).

When a snapshot is due, what waits while the machines are frozen (the apply backlog), and
when the leader's snapshot may be restored are the driver's policy (`senate_core::driver`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgpack

from senate._core import (
    NodeDriver,
    SenateError,
    Snapshot,
    SnapshotOutOfDate,
    Wal,
    encode_snapshot_envelope,
)
from senate.config import NodeConfig
from senate.runtime.core import AppliedState
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
        self._compaction: asyncio.Future[None] | None = None
        #: The state machines' bytes being taken in a worker thread, at `_job_index`.
        #: Meanwhile the node goes on (ticks, messages, log writes). Unless every machine
        #: captured its state (`StateMachine.capture`), it applies nothing (`frozen`): the
        #: driver keeps the committed commands in its backlog until the job is done.
        self.job: asyncio.Future[bytes] | None = None
        self._job_index = 0
        self.frozen = False

    # --- restoring ------------------------------------------------------------------------
    def recover(self, snapshot: Snapshot) -> None:
        """Restores the snapshot the log recovered (at start)."""
        self._restore(snapshot.data)
        self.state.applied_index = self.state.snapshot_index = snapshot.index

    def install(self, index: int, data: bytes) -> None:
        """Replaces the state with the leader's snapshot at `index`."""
        self._restore(data)
        state = self.state
        state.applied_index = state.snapshot_index = index
        log.info("node %d: restored a snapshot at index %d", self.node_id, index)
        if self.metrics is not None:
            self.metrics.on_snapshot_installed()

    def _restore(self, data: bytes) -> None:
        """The parts: one per state machine, then the request table's if it held any (a
        snapshot of a node without named calls has none, as before they existed)."""
        machines = self.state.machines
        parts = msgpack.unpackb(data)
        if len(parts) not in (len(machines), len(machines) + 1):
            raise SenateError(
                f"snapshot holds {len(parts)} parts, this node has {len(machines)} state machines"
            )
        for sm, part in zip(machines, parts, strict=False):
            sm.restore(part)
        self.state.requests.restore(parts[-1] if len(parts) > len(machines) else None)

    # --- taking ---------------------------------------------------------------------------
    def _snapshot_bytes(self) -> bytes:
        """The snapshot of every state machine (msgpack: a list of their bytes). Runs in a
        worker thread; the envelope is built without the interpreter lock."""
        parts = [sm.snapshot() for sm in self.state.machines]
        if len(self.state.requests):
            parts.append(self.state.requests.snapshot())
        return encode_snapshot_envelope(parts)

    def start(self, index: int) -> bool:
        """Starts a snapshot of the state machines at the applied index `index` in a worker
        thread; returns whether they are frozen meanwhile (not every machine could capture
        its state). The driver hears it done through `settle`."""
        assert self.loop is not None
        assert self.job is None
        assert index == self.state.applied_index
        self._job_index = index
        # A copy is worth making only if every machine makes one: stop at the first that
        # cannot (the node will not apply meanwhile anyway).
        parts: list[Callable[[], bytes]] = []
        for sm in self.state.machines:
            part = sm.capture()
            if part is None:
                break
            parts.append(part)
        self.frozen = len(parts) < len(self.state.machines)
        if not self.frozen and len(self.state.requests):
            parts.append(self.state.requests.capture())
        take: Callable[[], bytes] = (
            self._snapshot_bytes
            if self.frozen
            else lambda: encode_snapshot_envelope([part() for part in parts])
        )
        job = self.loop.run_in_executor(self._snapshotter, take)
        job.add_done_callback(lambda _job: self._wake.set())
        self.job = job
        return self.frozen

    def job_done(self) -> bool:
        """Whether a snapshot was taken (or failed) and the driver has not heard it yet."""
        return self.job is not None and self.job.done()

    def settle(self, core: NodeDriver) -> None:
        """Tells the driver the snapshot just taken (it records it between Readies and asks
        for the compaction) or that it failed."""
        job = self.job
        assert job is not None
        assert job.done()
        self.job = None
        self.frozen = False
        index = self._job_index
        error = None if job.cancelled() else job.exception()
        if error is not None:
            log.error("node %d: snapshot at index %d failed: %s", self.node_id, index, error)
            core.snapshot_failed(index)
        else:
            core.snapshot_taken(index, job.result())

    def compact(self, snapshot: Snapshot, on_done: Callable[[], None]) -> None:
        """The driver recorded `snapshot`: the log is compacted with it in a worker thread;
        `on_done` is called (in the loop) when that is over, done or not."""
        self.state.snapshot_index = snapshot.index
        log.info("node %d: snapshot at index %d", self.node_id, snapshot.index)
        if self.metrics is not None:
            self.metrics.on_snapshot()
        if self.wal is None or self.loop is None:
            on_done()
            return
        compaction = self.loop.run_in_executor(self._compactor, self.wal.compact, snapshot)

        def done(fut: asyncio.Future[None]) -> None:
            self._compaction_done(fut)
            on_done()
            self._wake.set()

        compaction.add_done_callback(done)
        self._compaction = compaction

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
