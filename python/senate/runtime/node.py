"""The `Node`: a consensus node embedded in this process, the public face of the runtime. It
owns the runtime's parts and wires them: the input for the driver (`inputs`), the calls and
read barriers waiting (`calls`, `reads`), the members (`members`), the snapshots
(`snapshots`) and the driver that carries out the core's Readies (`driver`). Starting and
stopping them, with the core (`RaftNode`), its durable log and the transport, is the
`lifecycle`'s part."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from senate._core import NodeDriver
from senate.config import NodeConfig
from senate.errors import NodeNotRunning
from senate.runtime import member_changes
from senate.runtime.calls import Calls, Waiter
from senate.runtime.core import AppliedState, Machine
from senate.runtime.driver import ReadyDriver
from senate.runtime.faults import Faults
from senate.runtime.inputs import Inputs
from senate.runtime.lifecycle import Lifecycle
from senate.runtime.member_changes import MAX_TRANSFER_WAITERS
from senate.runtime.members import Members, Membership
from senate.runtime.metrics import NodeMetrics
from senate.runtime.node_status import NodeStatus, PeerInfo, node_status
from senate.runtime.reads import Reads
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import parse_host_port

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
        disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"senate-{self.id}-disk")
        # The parts, all woken through one event: the driver waits on it.
        wake = asyncio.Event()
        self._wake = wake
        self._state = AppliedState(self.state_machines)
        self._calls = Calls(
            config.id, config.max_pending_calls, config.call_timeout_s, wake, metrics
        )
        self._reads = Reads(config.id, wake)
        self._members = Members(config.id, config.peers, config.data_dir, parse_host_port, disk)
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
        self._lifecycle = Lifecycle(
            config,
            metrics,
            state=self._state,
            calls=self._calls,
            reads=self._reads,
            members=self._members,
            snapshots=self._snapshots,
            inputs=self._inputs,
            driver=self._driver,
            wake=wake,
            disk=disk,
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
        return self._lifecycle.follower_write_wait_s

    @follower_write_wait_s.setter
    def follower_write_wait_s(self, seconds: float) -> None:
        self._lifecycle.follower_write_wait_s = seconds

    @property
    def peer_port(self) -> int:
        assert self._lifecycle.transport is not None
        return self._lifecycle.transport.port

    @property
    def _core(self) -> NodeDriver | None:
        """The core's driver while started (None before): the one caller of the core."""
        return self._lifecycle.core

    # --- lifecycle (`senate.runtime.lifecycle`) -----------------------------------------
    async def start(self) -> None:
        """Recovers from the data directory, starts listening and joins the cluster."""
        if self.running:
            return
        self.loop = asyncio.get_running_loop()
        await self._lifecycle.start(self.loop)

    async def stop(self) -> None:
        """Stops serving (also after a fatal error stopped the driver: this releases the data
        directory); calls still waiting fail with `NodeNotRunning`."""
        if not self._driver.started:
            return
        await self._lifecycle.stop()

    def _on_fatal(self, error: BaseException) -> None:
        """The driver stopped on `error`: the node stops serving."""
        self._lifecycle.on_fatal(error)

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
            transport.connected() if (transport := self._lifecycle.transport) else (),
            self._members.current,
            self.applied_index,
            self.snapshot_index,
        )

    def reload_tls(self) -> bool:
        """Re-reads the peer TLS files (`NodeConfig.tls`) now, as a change to them or SIGHUP
        in `senate serve` does; True if new ones were taken. New peer connections use them,
        established ones are kept; files that cannot be loaded are logged and the ones in use
        kept (False). False too without TLS or before `start`."""
        transport = self._lifecycle.transport
        return transport is not None and transport.reload_tls()

    @property
    def faults(self) -> Faults:
        """Fault switches of the started node, for chaos tests: cut links, a stalled disk."""
        return self._lifecycle.faults()

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
