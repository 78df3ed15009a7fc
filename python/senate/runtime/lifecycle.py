"""A node's lifecycle: what `Node.start` opens and `Node.stop` closes, in their order.

The start recovers from the data directory (the log, its snapshot restored into the state
machines), makes the core's driver (`NodeDriver`, the one caller of the core from then on),
the transport and the snapshot receiver, and starts the inputs and the Ready driver last: a
tick or a frame finds every part in place. The stop runs the other way: no input, no Ready,
no connection, no snapshot stream; then the calls still waiting fail, the worker threads
finish their jobs, and the log is closed, releasing the data directory for the next start.

`Node` (`senate.runtime.node`) makes and wires the parts and is the public face; this module
only starts and stops them.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from senate._core import NodeDriver, Wal, WalWriter
from senate.config import NodeConfig
from senate.errors import NodeNotRunning
from senate.runtime.calls import Calls
from senate.runtime.consensus import new_core, open_wal
from senate.runtime.core import AppliedState
from senate.runtime.driver import FOLLOWER_WRITE_WAIT_S, ReadyDriver
from senate.runtime.faults import Faults
from senate.runtime.inputs import Inputs
from senate.runtime.members import Members
from senate.runtime.metrics import NodeMetrics
from senate.runtime.reads import Reads, first_read_id
from senate.runtime.snapshot_parts import INCOMING_DIR
from senate.runtime.snapshot_stream import Limits, SnapshotReceiver
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import Transport, TransportLimits, parse_host_port
from senate.security.peer_tls import PeerTls

log = logging.getLogger("senate.node")


class Lifecycle:
    """Starts and stops one node's parts. Between a start and a stop it holds what the start
    opened: the log (`wal`, None without a data directory), the core's driver (`core`), the
    `transport` and the `snapshot_receiver` (each None before the start)."""

    def __init__(
        self,
        config: NodeConfig,
        metrics: NodeMetrics | None,
        *,
        state: AppliedState,
        calls: Calls,
        reads: Reads,
        members: Members,
        snapshots: Snapshots,
        inputs: Inputs,
        driver: ReadyDriver,
        wake: asyncio.Event,
        disk: ThreadPoolExecutor,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._state = state
        self._calls = calls
        self._reads = reads
        self._members = members
        self._snapshots = snapshots
        self._inputs = inputs
        self._driver = driver
        self._wake = wake
        self._disk = disk
        self._follower_write_wait_s = FOLLOWER_WRITE_WAIT_S
        self.wal: Wal | None = None
        self.core: NodeDriver | None = None
        self.transport: Transport | None = None
        self.snapshot_receiver: SnapshotReceiver | None = None
        #: The log's writer thread, until the driver takes it over (`ReadyDriver.start`).
        self._writer: WalWriter | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._faults: Faults | None = None

    @property
    def follower_write_wait_s(self) -> float:
        """How long a follower waits for its log write in the loop thread (0: never)."""
        return self._follower_write_wait_s

    @follower_write_wait_s.setter
    def follower_write_wait_s(self, seconds: float) -> None:
        self._follower_write_wait_s = seconds
        if self.core is not None:
            self.core.follower_write_wait_s = seconds

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Recovers from the data directory, starts listening and joins the cluster. A start
        that fails (the recovered snapshot's restore, the transport's bind, a cancellation)
        undoes what it did before raising: the log is closed, so the data directory is free
        for the next start, and the worker threads are stopped."""
        try:
            await self._start(loop)
        except BaseException:
            await self._undo_start()
            raise

    async def _undo_start(self) -> None:
        """Closes what a failed `_start` opened, in the order of `stop` (the driver and the
        inputs never started)."""
        await self._stop_io()
        self._stop_workers()
        if self._writer is not None:
            self._writer.close()
        if self.wal is not None:
            self.wal.close()  # releases the data directory
        self.wal = self.core = self.transport = self.snapshot_receiver = None
        self._writer = None
        log.info("node %d: start undone", self._config.id)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        cfg = self._config
        writer = None
        snapshot_bytes = 0
        if cfg.data_dir is not None:
            self.wal = wal = await open_wal(cfg, loop, self._disk)
            self._writer = writer = WalWriter(wal)
            snapshot = wal.recovered_snapshot()
            if snapshot is not None:
                await self._snapshots.recover(snapshot)
                snapshot_bytes = snapshot.data_bytes
            consensus = new_core(cfg, wal)
        else:
            consensus = new_core(cfg, None)
        # The driver takes the core over: it is the one caller of the core from now on.
        self.core = core = NodeDriver(
            consensus,
            tick_ms=cfg.tick_ms,
            now_ns=time.monotonic_ns(),
            writer=writer,
            applied=self._state.applied_index,
            first_read_id=first_read_id(),
            max_writes_in_flight=cfg.max_writes_in_flight,
            max_batch_proposals=cfg.max_batch_proposals,
            snapshot_entries=cfg.snapshot_entries,
            snapshot_bytes=cfg.snapshot_bytes,
            follower_write_wait_s=self._follower_write_wait_s,
        )
        if snapshot_bytes:
            core.recovered_snapshot(snapshot_bytes)
        self._reads.core = core
        self._snapshots.loop = loop
        self._snapshots.wal = self.wal
        listen = parse_host_port(cfg.peers[cfg.id])
        peers = {i: parse_host_port(a) for i, a in cfg.peers.items() if i != cfg.id}
        limits = TransportLimits(
            max_send_buffer_bytes=cfg.max_send_buffer_bytes,
            max_inbound_buffer_bytes=cfg.max_inbound_buffer_bytes,
        )
        inputs = self._inputs
        self._faults = None
        # Loaded before anything listens: bad TLS files stop the start (ConfigError).
        tls = PeerTls(cfg.tls, cfg.cluster_id, cfg.id) if cfg.tls is not None else None
        self.transport = Transport(
            cfg.id,
            cfg.cluster_id,
            listen,
            peers,
            inputs.on_frames,
            inputs.on_peer_change,
            limits,
            metrics=self._metrics,
            tls=tls,
        )
        # The configuration in force (replayed from the log) names the peers to connect to.
        self._members.start(core.conf_state(), self.transport, self._wake.set)
        self.snapshot_receiver = self._new_snapshot_receiver()
        self.transport.on_stream = self.snapshot_receiver.accept
        await self.transport.start()
        inputs.start(loop, core)
        self._driver.start(loop, core, writer, self.transport)
        self._writer = None  # the driver's to close from now on
        log.info("node %d: started (applied %d)", cfg.id, self._state.applied_index)

    def _new_snapshot_receiver(self) -> SnapshotReceiver:
        """Receives the leader's snapshots streamed out of band, into part files in the data
        directory (a temporary one without: removed when the node stops)."""
        cfg = self._config
        if cfg.data_dir is not None:
            directory = Path(cfg.data_dir) / INCOMING_DIR
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix=f"senate-{cfg.id}-")
            directory = Path(self._scratch.name)
        limits = Limits(cfg.snapshot_chunk_bytes, cfg.snapshot_chunks_in_flight)
        core = self.core
        assert core is not None

        def applied_index() -> int:
            # A snapshot being restored counts as applied: a re-offer of it is not needed.
            return max(self._state.applied_index, core.restoring or 0)

        receiver = SnapshotReceiver(
            cfg.id, directory, self._inputs.on_snapshot, applied_index, limits
        )
        self._inputs.on_snapshot_refused = receiver.forget_handed_over
        return receiver

    async def stop(self) -> None:
        """Stops serving; calls still waiting fail with `NodeNotRunning`."""
        node_id = self._config.id
        self._inputs.stop()
        await self._driver.stop()
        await self._stop_io()
        self.fail_all(NodeNotRunning(f"node {node_id} stopped"))
        self._stop_workers()
        self._driver.close_writer()
        if self.wal is not None:
            self.wal.close()  # releases the data directory for the next start
        log.info("node %d: stopped", node_id)

    async def _stop_io(self) -> None:
        """Stops the peers' connections and the snapshot streams, and waits for the snapshot
        being taken or compacted (`stop` and `_undo_start` alike)."""
        if self.transport is not None:
            await self.transport.stop()
        if self.snapshot_receiver is not None:
            self.snapshot_receiver.shutdown()
        if self._scratch is not None:
            self._scratch.cleanup()
        await self._snapshots.wait_idle()

    def _stop_workers(self) -> None:
        """Stops the disk and snapshot worker threads (after `_stop_io`)."""
        self._disk.shutdown(wait=True)
        self._snapshots.shutdown()

    def on_fatal(self, error: BaseException) -> None:
        """The driver stopped on `error`: the node stops serving."""
        self._inputs.stop()
        self.fail_all(NodeNotRunning(f"node {self._config.id} stopped: {error}"))

    def fail_all(self, error: BaseException) -> None:
        """Every call, read barrier, membership change and leader transfer waiting fails with
        `error`."""
        self._calls.fail_all(error)
        self._reads.fail_all(error)
        self._members.fail_all(error)
        for _to, fut in self._driver.leader_waiters:
            if not fut.done():
                fut.set_exception(error)
        self._driver.leader_waiters.clear()

    def faults(self) -> Faults:
        """Fault switches of the started node, for chaos tests: made at the first call after
        each start."""
        if self._faults is None:
            assert self.transport is not None, "the node is not started"
            assert self.snapshot_receiver is not None
            self._faults = Faults(
                self._config.id,
                self.transport,
                self._driver,
                self.snapshot_receiver,
                lambda seconds: setattr(self, "follower_write_wait_s", seconds),
                lambda: self.follower_write_wait_s,
            )
        return self._faults
