"""Snapshots of the state machines, carried out for the core's driver: taking one in a worker
thread when the driver asks (`ACTION_TAKE_SNAPSHOT`; capturing the state, or freezing the
machines meanwhile), compacting the durable log with one the driver recorded
(`ACTION_COMPACT`), and restoring one (at start, or the leader's: `ACTION_RESTORE`), its new
state built in a worker thread and put in place on the loop.

When a snapshot is due, what waits while the machines are frozen (the apply backlog), and
when the leader's snapshot may be restored are the driver's policy (`senate_core::driver`).

The snapshot's bytes (the runtime's envelope, a MessagePack array of byte strings):

    machines' parts (one per state machine), request table's part, address book's part

The address book (`senate.runtime.members.encode_addresses`) is every member address the
node knew when the snapshot was taken: a node that catches up by the snapshot instead of the
changes that carried them can dial the members they added. Older envelopes, read as ever:
the machines' parts alone, or with the request table's (a node without named calls wrote
none); the request table's part is empty when the table is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from senate._core import (
    NodeDriver,
    RestoreFailed,
    SenateError,
    Snapshot,
    SnapshotData,
    SnapshotOutOfDate,
    Wal,
    encode_snapshot_envelope,
)
from senate.config import NodeConfig
from senate.runtime.core import AppliedState, Machine
from senate.runtime.members import Members, decode_addresses
from senate.runtime.metrics import NodeMetrics

log = logging.getLogger("senate.node")


@dataclass
class PreparedRestore:
    """A snapshot's new state, built off the loop: what each machine's `prepare_restore`
    returned, the request table's part (None: empty) and the address book."""

    machines: list[Any]
    requests: bytes | None
    addresses: dict[int, str]


def _prepare(sm: Machine, part: SnapshotData) -> Any:
    """`sm.prepare_restore(part)`; a machine without the split API (`Machine` does not ask
    for it) gets its part as bytes, restored on the loop."""
    prepare = getattr(sm, "prepare_restore", None)
    return prepare(part) if prepare is not None else bytes(part)


class Snapshots:
    """The snapshots of one node's state machines (`state`)."""

    def __init__(
        self,
        config: NodeConfig,
        state: AppliedState,
        wake: asyncio.Event,
        metrics: NodeMetrics | None,
        members: Members,
    ) -> None:
        self.config = config
        #: The address book a snapshot carries and a restored one adds to.
        self.members = members
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
        #: The leader's snapshot being turned into new state in a worker thread (at
        #: `_restore_index`), put in place by `settle_restore`.
        self.restore_job: asyncio.Future[PreparedRestore] | None = None
        self._restore_index = 0

    # --- restoring ------------------------------------------------------------------------
    async def recover(self, snapshot: Snapshot) -> None:
        """Restores the snapshot the log recovered (at start), built in a worker thread as the
        leader's are, so other nodes on this loop go on meanwhile."""
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._snapshotter, self.prepare_restore, snapshot.shared_data
        )
        self.finish_restore(prepared, snapshot.index)

    def start_restore(self, snapshot: Snapshot) -> None:
        """Starts replacing the state with the leader's `snapshot` (`ACTION_RESTORE`): the
        machines build their new state in a worker thread (`StateMachine.prepare_restore`)
        from the snapshot's bytes, shared with the core (no copy), and the live state is left
        alone meanwhile; `settle_restore` puts it in place once built (what waits until then:
        docs/embedding.md). The snapshot's address book is learned at once, so the node can
        dial the members it names while it restores."""
        assert self.loop is not None
        assert self.restore_job is None
        assert self.job is None
        self._restore_index = snapshot.index
        self._learn_addresses(snapshot.shared_data)
        log.info(
            "node %d: restoring a snapshot at index %d (%d bytes) in a worker thread",
            self.node_id,
            snapshot.index,
            snapshot.data_bytes,
        )
        job = self.loop.run_in_executor(
            self._snapshotter, self.prepare_restore, snapshot.shared_data
        )
        job.add_done_callback(lambda _job: self._wake.set())
        self.restore_job = job

    def _learn_addresses(self, data: SnapshotData) -> None:
        """Adds the members the snapshot's address book names and the node does not know
        (`Members.learn` changes no address it has). The envelope is split in place and the
        book is small; a malformed one is left to the restore job, which fails on it."""
        parts = None
        with contextlib.suppress(ValueError):
            parts = data.split_envelope()
        n = len(self.state.machines)
        if parts is not None and len(parts) == n + 2:
            with contextlib.suppress(SenateError, ValueError):
                self.members.learn(decode_addresses(bytes(parts[n + 1])))

    def restore_job_done(self) -> bool:
        """Whether the new state was built (or failed to be) and is not in place yet."""
        return self.restore_job is not None and self.restore_job.done()

    def settle_restore(self, core: NodeDriver) -> None:
        """Puts the state built by the restore job in place (`finish_restore`) and tells the
        driver. A restore that failed (or whose job was cancelled) tells the driver and raises
        `RestoreFailed`, which stops the node, as a failed restore always did: its log holds
        the snapshot and nothing before it, so it restores it again at its next start."""
        job = self.restore_job
        assert job is not None
        assert job.done()
        self.restore_job = None
        index = self._restore_index
        try:
            if job.cancelled():
                raise SenateError("the restore job was cancelled")
            self.finish_restore(job.result(), index)
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
            core.restore_failed(index, message)
            # The driver's own error, raised here (it would be at its next poll): it names
            # the snapshot, and the machine's exception is its cause.
            failed = RestoreFailed(f"restoring the snapshot at index {index} failed: {message}")
            failed.index = index
            raise failed from e
        core.restore_done(index)
        log.info("node %d: restored a snapshot at index %d", self.node_id, index)
        if self.metrics is not None:
            self.metrics.on_snapshot_installed()

    def prepare_restore(self, data: SnapshotData) -> PreparedRestore:
        """Runs in a worker thread: the envelope's parts (one per state machine, the request
        table's, the address book's; see the module doc for the older envelopes) split
        without a copy, each machine's new state built, the rest decoded. Changes nothing
        the loop sees."""
        machines = self.state.machines
        try:
            parts = data.split_envelope()
        except ValueError as e:
            raise SenateError(f"snapshot is malformed: {e}") from None
        n = len(machines)
        if len(parts) not in (n, n + 1, n + 2):
            raise SenateError(
                f"snapshot holds {len(parts)} parts, this node has {n} state machines"
            )
        # Checked before anything is replaced: a bad book fails the restore as a whole.
        addresses = decode_addresses(bytes(parts[n + 1])) if len(parts) == n + 2 else {}
        requests = bytes(parts[n]) if len(parts) > n else b""
        built = [_prepare(sm, part) for sm, part in zip(machines, parts, strict=False)]
        return PreparedRestore(built, requests or None, addresses)

    def finish_restore(self, prepared: PreparedRestore, index: int) -> None:
        """On the loop: the state built by `prepare_restore` put in place, at `index`. Every
        machine's `finish_restore` runs first; the request table, the address book and the
        applied index are replaced only once all returned. A `finish_restore` that raises
        (the default one runs `restore`, which may) leaves the machines before it with the
        new state and the rest with the old: the caller stops the node, which serves
        nothing more from it, and its next start restores the snapshot into every machine
        (docs/embedding.md)."""
        for sm, built in zip(self.state.machines, prepared.machines, strict=True):
            finish = getattr(sm, "finish_restore", None)
            if finish is not None:
                finish(built)
            else:
                sm.restore(built)
        self.state.requests.restore(prepared.requests)
        self.members.learn(prepared.addresses)
        self.state.applied_index = self.state.snapshot_index = index

    # --- taking ---------------------------------------------------------------------------
    def _snapshot_bytes(self, addresses: bytes) -> bytes:
        """The snapshot of every state machine, the request table and `addresses` (the
        envelope of the module doc). Runs in a worker thread; the envelope is built without
        the interpreter lock."""
        parts = [sm.snapshot() for sm in self.state.machines]
        parts.append(self.state.requests.snapshot() if len(self.state.requests) else b"")
        parts.append(addresses)
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
        # The book as it is at the applied index (a change's addresses are learned as it is
        # applied); small, so encoded here.
        addresses = self.members.encode_addresses()
        if not self.frozen:
            requests = self.state.requests
            parts.append(requests.capture() if len(requests) else lambda: b"")
            parts.append(lambda: addresses)
        take: Callable[[], bytes] = (
            (lambda: self._snapshot_bytes(addresses))
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
        """Waits for the snapshot being taken or restored and the compaction running, if any."""
        if self.job is not None:
            await asyncio.gather(self.job, return_exceptions=True)
        if self.restore_job is not None:
            await asyncio.gather(self.restore_job, return_exceptions=True)
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)

    def shutdown(self) -> None:
        """Stops the worker threads (after `wait_idle`)."""
        self._compactor.shutdown(wait=True)
        self._snapshotter.shutdown(wait=True)
