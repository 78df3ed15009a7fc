"""The `Node`: a consensus node embedded in this process. It owns the runtime's parts and
wires them: the core (`RaftNode`) and its durable log, the transport, the input for the
driver (`inputs`), the calls and read barriers waiting (`calls`, `reads`), the snapshots
(`snapshots`) and the driver that carries out the core's Readies (`driver`)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from senate._core import NodeDriver, Wal, WalWriter
from senate.config import NodeConfig
from senate.errors import NodeNotRunning
from senate.runtime import member_changes
from senate.runtime.calls import Calls, Waiter
from senate.runtime.consensus import new_core, open_wal
from senate.runtime.core import AppliedState, Machine
from senate.runtime.driver import FOLLOWER_WRITE_WAIT_S, ReadyDriver
from senate.runtime.faults import Faults
from senate.runtime.inputs import Inputs
from senate.runtime.member_changes import MAX_TRANSFER_WAITERS
from senate.runtime.members import Members, Membership
from senate.runtime.metrics import NodeMetrics
from senate.runtime.node_status import NodeStatus, PeerInfo, node_status
from senate.runtime.reads import Reads, first_read_id
from senate.runtime.snapshot_stream import INCOMING_DIR, Limits, SnapshotReceiver
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import Transport, TransportLimits, parse_host_port
from senate.security.peer_tls import PeerTls

log = logging.getLogger("senate.node")

__all__ = ["MAX_TRANSFER_WAITERS", "AttachableMachine", "Node", "NodeStatus", "PeerInfo"]


@runtime_checkable
class AttachableMachine(Machine, Protocol):
    """A state machine a node attaches itself to (`senate.StateMachine` is one): the node
    tells it which node and slot are its own, for the calls it makes."""

    def _senate_attach(self, node: Node, slot: int) -> None: ...


class Node:
    """A consensus node embedded in this process, replicating `state_machine`.

    `state_machine` is one `StateMachine` or a sequence of them (each gets a slot; commands
    name their slot). Configure with a `NodeConfig` or its fields as keywords. With `metrics`,
    the node and its transport record into it (see `senate.runtime.metrics`); without, nothing
    is recorded.
    """

    def __init__(
        self,
        state_machine: AttachableMachine | Sequence[AttachableMachine],
        config: NodeConfig | None = None,
        metrics: NodeMetrics | None = None,
        **config_fields: Any,
    ) -> None:
        if config is None:
            config = NodeConfig(**config_fields)
        elif config_fields:
            raise TypeError("pass a NodeConfig or its fields, not both")
        self.config = config
        self.metrics = metrics
        machines = (
            [state_machine] if isinstance(state_machine, AttachableMachine) else state_machine
        )
        self.state_machines: list[AttachableMachine] = list(machines)
        for slot, sm in enumerate(self.state_machines):
            sm._senate_attach(self, slot)
        self.id = config.id
        self.loop: asyncio.AbstractEventLoop | None = None
        self._core: NodeDriver | None = None
        self._follower_write_wait_s = FOLLOWER_WRITE_WAIT_S
        self._wal: Wal | None = None
        self._transport: Transport | None = None
        self._snapshot_receiver: SnapshotReceiver | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._faults: Faults | None = None
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"senate-{self.id}-disk")
        # The parts, all woken through one event: the driver waits on it.
        wake = asyncio.Event()
        self._wake = wake
        self._state = AppliedState(self.state_machines)
        self._calls = Calls(
            config.id, config.max_pending_calls, config.call_timeout_s, wake, metrics
        )
        self._reads = Reads(config.id, wake)
        self._members = Members(
            config.id, config.peers, config.data_dir, parse_host_port, self._disk
        )
        self._snapshots = Snapshots(config, self._state, wake, metrics, self._members)
        self._inputs = Inputs(config.id, config.tick_ms / 1000, wake, metrics)
        if metrics is not None:
            self._members.on_change = metrics.on_membership
        self._driver = ReadyDriver(
            config,
            self._state,
            self._calls,
            self._reads,
            self._snapshots,
            self._inputs,
            wake,
            metrics,
            on_fatal=self._on_fatal,
            members=self._members,
        )

    # --- what the parts know --------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the node serves: started, not stopped, no fatal error."""
        return self._driver.running

    @property
    def applied_index(self) -> int:
        return self._state.applied_index

    @property
    def snapshot_index(self) -> int:
        return self._state.snapshot_index

    @property
    def role(self) -> str:
        return self._driver.role

    @property
    def leader(self) -> int | None:
        return self._driver.leader

    @property
    def fatal_error(self) -> BaseException | None:
        """What stopped the node, if an error did (a durable log that cannot write)."""
        return self._driver.fatal_error

    @property
    def follower_write_wait_s(self) -> float:
        """How long a follower waits for its log write in the loop thread (0: never)."""
        return self._follower_write_wait_s

    @follower_write_wait_s.setter
    def follower_write_wait_s(self, seconds: float) -> None:
        self._follower_write_wait_s = seconds
        if self._core is not None:
            self._core.follower_write_wait_s = seconds

    @property
    def peer_port(self) -> int:
        assert self._transport is not None
        return self._transport.port

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Recovers from the data directory, starts listening and joins the cluster."""
        if self.running:
            return
        self.loop = loop = asyncio.get_running_loop()
        cfg = self.config
        writer = None
        snapshot_bytes = 0
        if cfg.data_dir is not None:
            self._wal = wal = await open_wal(cfg, loop, self._disk)
            writer = WalWriter(wal)
            snapshot = wal.recovered_snapshot()
            if snapshot is not None:
                await self._snapshots.recover(snapshot)
                snapshot_bytes = snapshot.data_bytes
            consensus = new_core(cfg, wal)
        else:
            consensus = new_core(cfg, None)
        # The driver takes the core over: it is the one caller of the core from now on.
        self._core = core = NodeDriver(
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
        self._snapshots.wal = self._wal
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
        self._transport = Transport(
            cfg.id,
            cfg.cluster_id,
            listen,
            peers,
            inputs.on_frames,
            inputs.on_peer_change,
            limits,
            metrics=self.metrics,
            tls=tls,
        )
        # The configuration in force (replayed from the log) names the peers to connect to.
        self._members.start(core.conf_state(), self._transport, self._wake.set)
        self._snapshot_receiver = self._new_snapshot_receiver()
        self._transport.on_stream = self._snapshot_receiver.accept
        await self._transport.start()
        inputs.start(loop, core)
        self._driver.start(loop, core, writer, self._transport)
        log.info("node %d: started (applied %d)", cfg.id, self.applied_index)

    def _new_snapshot_receiver(self) -> SnapshotReceiver:
        """Receives the leader's snapshots streamed out of band, into part files in the data
        directory (a temporary one without: removed when the node stops)."""
        cfg = self.config
        if cfg.data_dir is not None:
            directory = Path(cfg.data_dir) / INCOMING_DIR
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix=f"senate-{cfg.id}-")
            directory = Path(self._scratch.name)
        limits = Limits(cfg.snapshot_chunk_bytes, cfg.snapshot_chunks_in_flight)
        return SnapshotReceiver(
            cfg.id, directory, self._inputs.on_snapshot, lambda: self._state.applied_index, limits
        )

    async def stop(self) -> None:
        """Stops serving (also after a fatal error stopped the driver: this releases the data
        directory); calls still waiting fail with `NodeNotRunning`."""
        if not self._driver.started:
            return
        self._inputs.stop()
        await self._driver.stop()
        if self._transport is not None:
            await self._transport.stop()
        if self._snapshot_receiver is not None:
            self._snapshot_receiver.shutdown()
        if self._scratch is not None:
            self._scratch.cleanup()
        await self._snapshots.wait_idle()
        self._fail_all(NodeNotRunning(f"node {self.id} stopped"))
        self._disk.shutdown(wait=True)
        self._snapshots.shutdown()
        self._driver.close_writer()
        if self._wal is not None:
            self._wal.close()  # releases the data directory for the next start
        log.info("node %d: stopped", self.id)

    def _on_fatal(self, error: BaseException) -> None:
        """The driver stopped on `error`: the node stops serving."""
        self._inputs.stop()
        self._fail_all(NodeNotRunning(f"node {self.id} stopped: {error}"))

    def _fail_all(self, error: BaseException) -> None:
        self._calls.fail_all(error)
        self._reads.fail_all(error)
        self._members.fail_all(error)
        for _to, fut in self._driver.leader_waiters:
            if not fut.done():
                fut.set_exception(error)
        self._driver.leader_waiters.clear()

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the public calls ---------------------------------------------------------------
    def propose(
        self,
        command: bytes,
        slot: int = 0,
        timeout: float | None = None,
        request_id: str | bytes | None = None,
    ) -> Awaitable[Any]:
        """Replicates `command`; the awaitable gives what `apply` returned for it on this node
        (or raises what it raised), once the command is committed and applied here.

        With `request_id` (1 to 255 bytes, a str as UTF-8) the command runs at most once
        among all calls naming that id, on any node, within the bounds of
        `senate.runtime.requests`: retry a call that raised `CallTimeout` with the same id
        and it gets the outcome of the one run (docs/exactly-once.md)."""
        # The hot path of every call: the driver's flag and the calls' `add` directly, without
        # `running` and `propose_with_callback` in between: three Python calls less per call.
        loop = self.loop
        if loop is None or not self._driver.running:
            raise NodeNotRunning(f"node {self.id} is not running")
        fut: asyncio.Future[Any] = loop.create_future()
        self._calls.add(command, fut, slot, timeout, loop.time(), request_id)
        return fut

    def propose_with_callback(
        self,
        command: bytes,
        on_done: Waiter,
        slot: int = 0,
        timeout: float | None = None,
        request_id: str | bytes | None = None,
    ) -> None:
        """`propose` for callers that answer many requests (a server): `on_done(result,
        error)` is called once, from the node's driver, when the command was applied here
        (`error` is None) or failed (`result` is None: `error` is what `apply` raised, or
        `CallTimeout`, `ProposalDropped`, `NodeNotRunning`). It must not block or raise. No
        future is made: a future and its callbacks cost a server more than the rest of its
        Python work per request. A future may be passed as `on_done`: it gets the outcome.
        `request_id` as for `propose`."""
        loop = self.loop
        if loop is None or not self._driver.running:
            raise NodeNotRunning(f"node {self.id} is not running")
        self._calls.add(command, on_done, slot, timeout, loop.time(), request_id)

    async def read_barrier(self, timeout: float | None = None) -> None:
        """Returns once this node has applied everything committed before the call (a
        ReadIndex round, batched with other reads): a read of the state machine after it is
        linearizable."""
        if not self.running:
            raise NodeNotRunning(f"node {self.id} is not running")
        assert self.loop is not None
        timeout_s = self.config.call_timeout_s if timeout is None else timeout
        await self._reads.barrier(self.loop, timeout_s)

    def status(self) -> NodeStatus:
        if self._core is None:
            raise NodeNotRunning(f"node {self.id} is not started")
        return node_status(
            self.config,
            self._core.status(),
            self._transport.connected() if self._transport else (),
            self._members.current,
            self.applied_index,
            self.snapshot_index,
        )

    def reload_tls(self) -> bool:
        """Re-reads the peer TLS files (`NodeConfig.tls`) now, as a change to them or SIGHUP
        in `senate serve` does; True if new ones were taken. New peer connections use them,
        established ones are kept; files that cannot be loaded are logged and the ones in use
        kept (False). False too without TLS or before `start`."""
        return self._transport is not None and self._transport.reload_tls()

    @property
    def faults(self) -> Faults:
        """Fault switches of the started node, for chaos tests: cut links, a stalled disk."""
        if self._faults is None:
            assert self._transport is not None, "the node is not started"
            assert self._snapshot_receiver is not None
            self._faults = Faults(
                self.id,
                self._transport,
                self._driver,
                self._snapshot_receiver,
                lambda seconds: setattr(self, "follower_write_wait_s", seconds),
                lambda: self.follower_write_wait_s,
            )
        return self._faults

    def transfer_leader(self, to: int, timeout: float | None = None) -> asyncio.Future[None]:
        """Asks the leader (this node, or the one a follower forwards it to) to hand its
        leadership to node `to`, a voter. Starts at once; the future completes when this node
        hears `to` lead, or fails with `CallTimeout` (a transfer may fail: the leader keeps its
        place). Awaiting it is optional. At most `MAX_TRANSFER_WAITERS` wait at once: more
        raise `Overloaded`."""
        return member_changes.transfer_leader(
            self._running_core(),
            self._driver,
            self._running_loop(),
            to,
            self._timeout_s(timeout),
            self._wake.set,
        )

    # --- membership -------------------------------------------------------------------------
    def conf_state(self) -> Membership:
        """The configuration in force at this node: voters, learners, the outgoing voters
        while joint, each member's role (`Membership.roles()`) and address."""
        return self._members.current

    async def add_learner(
        self, node_id: int, address: str, timeout: float | None = None
    ) -> Membership:
        """Adds node `node_id`, listening for peers at `address` ("host:port"), as a learner:
        it receives the log (or a snapshot) and neither votes nor counts. Returns the
        configuration once the change is in force here. At the leader only: a follower raises
        `NotLeader` (its `leader_hint` names the leader); `ProposalDropped`
        ("conf_change_pending") while another change is under way; `CallTimeout` when the
        change did not take effect in time (leadership lost: try again)."""
        return await member_changes.add_learner(
            self._members,
            self._running_core(),
            node_id,
            address,
            parse_host_port,
            self._timeout_s(timeout),
        )

    async def promote(self, node_id: int, timeout: float | None = None) -> Membership:
        """Makes learner `node_id` a voter, once it holds every entry committed when the call
        was made (so the cluster does not count on a member still catching up). Errors as
        for `add_learner`; `CallTimeout` also when it does not catch up in time."""
        return await member_changes.promote(
            self._members,
            self._running_core(),
            node_id,
            self._timeout_s(timeout),
            self.config.tick_ms / 1000,
        )

    async def remove(self, node_id: int, timeout: float | None = None) -> Membership:
        """Removes member `node_id` (voter or learner). A leader that removes itself hands
        its leadership over to the voter holding the most of its log once the change is
        committed. Errors as for `add_learner`."""
        return await member_changes.remove(
            self._members, self._running_core(), node_id, self._timeout_s(timeout)
        )

    def _timeout_s(self, timeout: float | None) -> float:
        return self.config.call_timeout_s if timeout is None else timeout

    def _running_core(self) -> NodeDriver:
        if self._core is None or not self.running:
            raise NodeNotRunning(f"node {self.id} is not running")
        return self._core

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        assert self.loop is not None
        return self.loop

    def snapshot_now(self) -> None:
        """Starts a snapshot of the state machines at the applied index; once taken (in a
        worker thread), the log is compacted up to it (in another) and `snapshot_index` moves.
        Meanwhile the node keeps its leadership and its log; it applies nothing unless every
        state machine captured its state (`StateMachine.capture`)."""
        self._driver.snapshot_now()
