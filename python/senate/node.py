"""The asyncio runtime that drives a consensus core: tick, step, propose, ready, persist, send,
apply, advance.

Exactly one task (the driver) calls into the core. Everything else (the peer connections,
the ticker, callers of `propose` and `read_barrier`) leaves input in bounded places and wakes
the driver, which takes it all in one go, so input arriving while a Ready is being persisted
is batched into the next Ready. Persistence (write + fsync) runs in a writer thread with the
GIL released; the loop keeps serving meanwhile. Readies are pipelined: up to
`max_writes_in_flight` may be writing at once (the writer thread writes those that queued up
with one fsync), each advanced in order once durable, so a leader counts the acknowledgements
that arrive while its own write is in progress. At that limit, Readies that write nothing
(committed entries to apply, confirmed reads, messages that may leave at once) are still
taken, so a leader answers its callers as soon as a quorum holds their entries; its new
proposals wait for the next write. While a write is stalled (in flight for a tick or more),
only one more Ready per heartbeat interval is taken, so heartbeats and their answers keep
flowing, a slow disk does not cost the leadership, and the Readies waiting behind the stalled
write stay few. A follower, which has nothing to write meanwhile, waits for its write in the
loop thread for up to `FOLLOWER_WRITE_WAIT_S` and answers the leader at once; a slower write
is left to the writer thread as a leader's are.

The runtime speaks to the core through `Core` (tick, step_stream, propose_batch, read_index,
ready, advance, status), so any core offering it (Raft today) can be driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgpack

from senate._core import (
    MAX_READIES_IN_FLIGHT,
    DecodeError,
    InvalidMessage,
    NotLeader,
    ProposalDropped,
    RaftNode,
    Ready,
    SenateError,
    Snapshot,
    SnapshotOutOfDate,
    Status,
    UnknownPeer,
    Wal,
    WalWriter,
    encode_snapshot_envelope,
)
from senate.config import NodeConfig
from senate.transport import PeerConnection, Transport, TransportLimits, parse_host_port

if TYPE_CHECKING:
    from senate.metrics import NodeMetrics
    from senate.statemachine import StateMachine

log = logging.getLogger("senate.node")

T = TypeVar("T")

#: Every proposal's entry starts with (origin node id, origin's call sequence, state machine
#: slot); the origin resolves its caller's future when it applies the entry.
ENVELOPE = struct.Struct("<QQH")
#: Ticks handed to the core per wake-up, at most: a loop stalled for a second must not make
#: this node's followers' timers all fire at once when it comes back.
MAX_TICKS_PER_WAKE = 2
#: However large the state, a snapshot is taken once this many times `snapshot_entries`
#: entries were applied since the last one.
SNAPSHOT_ENTRIES_CAP_FACTOR = 10
#: Each node's snapshot thresholds are `snapshot_entries` and `snapshot_bytes` times a factor
#: in [1, 1 + SNAPSHOT_STAGGER) drawn from its id: nodes apply the same log, so with the same
#: thresholds they would all snapshot at the same index, at the same moment, and nodes that
#: share a disk and CPUs (a local cluster) would slow each other down all at once.
SNAPSHOT_STAGGER = 0.25
#: Bytes of committed commands that may wait while the state machines are being snapshotted
#: (they are frozen at the snapshot's index); past it, the driver waits for the snapshot.
MAX_APPLY_BACKLOG_BYTES = 64 << 20
#: How long a follower's loop waits for its log write before leaving it to the writer thread
#: (see `Node._wait_for_write`): above the 0.1 to 0.4 ms a write with fsync took on the
#: machines measured here, and small against a tick.
FOLLOWER_WRITE_WAIT_S = 0.002
#: How early a timer may fire (uvloop's clock granule), in seconds.
TIMER_SLACK_S = 0.001
#: How long the driver works through Readies before it lets the loop run (socket reads,
#: ticks, client requests) and goes on: a backlog of committed entries (a node catching up,
#: a mass insert) comes in Readies of about 1 MiB (the core's
#: `max_committed_bytes_per_ready`), and applying them back to back without yielding held
#: a loop for over 150 ms (an election timeout) here, so followers campaigned.
DRIVE_SLICE_S = 0.005
#: How long the driver applies one run of committed entries before it puts the rest back at
#: the head of the backlog and lets the loop run (see `Node._apply_now`): one Ready of 1 MiB
#: of commands can take longer than an election timeout to apply on a busy machine, e.g.
#: right after a snapshot captured a key-value store, when the first write to each of its
#: tables copies that table (21-44 ms for 500,000 keys here, measured alone; a store of
#: 1,000,000 keys captured so held loops 300-600 ms under load without this slice).
APPLY_SLICE_S = 0.005
#: Calls that time out are logged at most once per this many seconds (with the node's state
#: then), so that a client's TRYAGAIN can be traced in the node's log without a line per call.
EXPIRED_CALLS_LOG_INTERVAL_S = 1.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (unless `SENATE_LOOP=asyncio`), else asyncio's."""
    if os.environ.get("SENATE_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
        except ImportError:
            pass
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `new_event_loop` picks."""
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        asyncio.set_event_loop(None)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class Core(Protocol):
    """What the runtime needs of a consensus core."""

    def tick(self, n: int = 1) -> None: ...
    def step_stream(self, data: bytes | bytearray) -> int: ...
    def propose_batch(self, data: list[bytes]) -> None: ...
    def read_index(self, request_id: int) -> None: ...
    def transfer_leader(self, id: int) -> None: ...
    def report_unreachable(self, id: int) -> None: ...
    def has_ready(self) -> bool: ...
    def ready(self) -> Ready | None: ...
    def has_ready_without_write(self) -> bool: ...
    def ready_without_write(self) -> Ready | None: ...
    def advance(self) -> None: ...
    def status(self) -> Status: ...
    def compact(self, index: int, data: bytes) -> Snapshot: ...


#: What waits for a call's outcome: a future, or a callback `(result, error)` (see
#: `Node.propose_with_callback`).
Waiter = asyncio.Future[Any] | Callable[[Any, BaseException | None], None]


class CallTimeout(SenateError, TimeoutError):
    """A replicated call or read was not answered in time. A call that timed out may still be
    committed and applied later: make commands idempotent where that matters."""


class Overloaded(SenateError):
    """Too many calls are waiting for commit (`max_pending_calls`); try again later."""


class NodeNotRunning(SenateError):
    """The node is not started, or was stopped."""


@dataclass(frozen=True)
class PeerInfo:
    id: int
    connected: bool
    #: The highest log index known replicated on that peer (known at the leader only).
    match_index: int | None


@dataclass(frozen=True)
class NodeStatus:
    id: int
    role: str
    term: int
    leader: int | None
    commit_index: int
    applied_index: int
    snapshot_index: int
    last_index: int
    peers: list[PeerInfo]


class Node:
    """A consensus node embedded in this process, replicating `state_machine`.

    `state_machine` is one `StateMachine` or a sequence of them (each gets a slot; commands
    name their slot). Configure with a `NodeConfig` or its fields as keywords. With `metrics`,
    the node and its transport record into it (see `senate.metrics`); without, nothing is
    recorded.
    """

    def __init__(
        self,
        state_machine: StateMachine | Sequence[StateMachine],
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
        #: The term and commit index of the last hard state seen (kept for `metrics` only).
        self._metrics_term = 0
        self._metrics_commit = 0
        from senate.statemachine import StateMachine as _StateMachine

        machines = [state_machine] if isinstance(state_machine, _StateMachine) else state_machine
        self.state_machines: list[StateMachine] = list(machines)
        for slot, sm in enumerate(self.state_machines):
            sm._senate_attach(self, slot)
        self.id = config.id
        self.loop: asyncio.AbstractEventLoop | None = None
        self._core: Core | None = None
        self._wal: Wal | None = None
        #: Makes Readies durable in its own thread; wakes the loop through a pipe (or a
        #: follower waiting for its write directly: `_wait_for_write`).
        self._writer: WalWriter | None = None
        #: The Readies taken and not yet advanced, oldest first: (write id, or None for one
        #: that wrote nothing, messages to send once it is durable, time its write started).
        #: Those with a write id number at most `config.max_writes_in_flight` (more while a
        #: write is stalled: `_take_ready_past_limit`), all of them at most the core's
        #: `MAX_READIES_IN_FLIGHT`.
        self._unadvanced: deque[tuple[int | None, list[tuple[int, bytes]], float]] = deque()
        self._writes_in_flight = 0
        #: How long a follower waits for its write in the loop thread (0: never; see
        #: `_wait_for_write`).
        self.follower_write_wait_s = FOLLOWER_WRITE_WAIT_S
        #: The tick at which the last Ready past `max_writes_in_flight` was taken (see
        #: `_take_ready_past_limit`).
        self._past_limit_tick = 0
        #: A write slower than an election timeout is logged (etcd logs slow fsyncs too):
        #: without `_take_ready_past_limit` it would have cost the leadership.
        self._slow_write_s = config.election_timeout_ticks * config.tick_ms / 1000
        #: Loop time of the last "calls not committed" line, and calls expired since.
        self._expired_logged_s = float("-inf")
        self._expired_unlogged = 0
        #: Readies at the front of `_unadvanced` that became durable (their messages were
        #: sent); the driver advances the core past them.
        self._advance_due = 0
        #: Done when `_unadvanced` empties (the driver waits on it before restoring a snapshot).
        self._drained: asyncio.Future[None] | None = None
        self._write_error: BaseException | None = None
        self._transport: Transport | None = None
        self._driver: asyncio.Task[None] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._running = False
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"senate-{self.id}-disk")
        self._compactor = ThreadPoolExecutor(1, thread_name_prefix=f"senate-{self.id}-compact")
        self._snapshotter = ThreadPoolExecutor(1, thread_name_prefix=f"senate-{self.id}-snapshot")
        # Input for the driver.
        self._ticks_due = 0
        self._last_tick_s = 0.0
        self._now_ticks = 0
        self._inbound: dict[int, PeerConnection] = {}
        self._outbox: list[bytes] = []
        self._read_waiters: list[asyncio.Future[None]] = []
        # Calls in flight: seq -> what waits for the outcome. Their (deadline, seq): in call
        # order for the default timeout (so in deadline order: the loop's clock only grows),
        # in a heap for calls given their own.
        self._next_seq = time.time_ns()
        self._pending: dict[int, Waiter] = {}
        self._default_deadlines: deque[tuple[float, int]] = deque()
        self._deadlines: list[tuple[float, int]] = []
        # Reads: request id -> (waiters, tick issued); confirmed reads wait for their index.
        self._next_read_id = 1
        self._reads_in_flight: dict[int, tuple[list[asyncio.Future[None]], int]] = {}
        self._reads_confirmed: list[tuple[int, int, list[asyncio.Future[None]]]] = []
        # Application state.
        self.applied_index = 0
        self.snapshot_index = 0
        self._bytes_since_snapshot = 0
        #: Bytes of the last snapshot taken or restored: the next one waits until at least as
        #: many bytes were applied, so snapshotting a large state costs at most what writing
        #: its log does (a 100 MB state is not rewritten after every 64 MB of commands).
        self._last_snapshot_bytes = 0
        # The golden ratio spreads consecutive ids evenly over the range.
        self._snapshot_scale = 1 + SNAPSHOT_STAGGER * (config.id * 0.6180339887 % 1)
        self._compaction: asyncio.Future[None] | None = None
        #: The state machines' bytes being taken in a worker thread, at `_snapshot_job_index`.
        #: Meanwhile the node goes on (ticks, messages, log writes). Unless every machine
        #: captured its state (`StateMachine.capture`), it applies nothing (`_snapshot_frozen`):
        #: committed commands wait in `_apply_backlog` (at most `MAX_APPLY_BACKLOG_BYTES`),
        #: oldest first, and the driver applies them a Ready's worth at a time afterwards
        #: (`_apply_from_backlog`), letting the loop run in between; commands committed while
        #: any wait there queue behind them.
        self._snapshot_job: asyncio.Future[bytes] | None = None
        self._snapshot_job_index = 0
        self._snapshot_frozen = False
        self._apply_backlog: deque[tuple[list[bytes], int]] = deque()
        self._apply_backlog_bytes = 0
        #: After a failed snapshot, the next automatic one waits for this applied index, so a
        #: state machine whose `snapshot()` keeps failing is not retried after every Ready.
        self._next_snapshot_index = 0
        self.role = "follower"
        self.leader: int | None = None
        self.fatal_error: BaseException | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Recovers from the data directory, starts listening and joins the cluster."""
        if self._running:
            return
        self.loop = asyncio.get_running_loop()
        cfg = self.config
        voters = sorted(cfg.peers)
        options: dict[str, Any] = dict(
            election_timeout_ticks=cfg.election_timeout_ticks,
            heartbeat_interval_ticks=cfg.heartbeat_interval_ticks,
            pre_vote=cfg.pre_vote,
            check_quorum=cfg.check_quorum,
            lease_reads=cfg.lease_reads,
            seed=cfg.seed if cfg.seed is not None else int.from_bytes(os.urandom(8), "little"),
        )
        options.update(cfg.core_options)
        if cfg.data_dir is not None:
            data_dir = cfg.data_dir
            os.makedirs(data_dir, exist_ok=True)
            self._wal = await self.loop.run_in_executor(
                self._disk,
                lambda: Wal(
                    data_dir,
                    fsync=cfg.fsync,
                    max_segment_bytes=cfg.max_segment_bytes,
                    max_record_bytes=cfg.max_record_bytes,
                ),
            )
            self._writer = WalWriter(self._wal)
            wake_fd = self._writer.fileno()
            os.set_blocking(wake_fd, False)
            self.loop.add_reader(wake_fd, self._on_writes_done, wake_fd)
            snapshot = self._wal.recovered_snapshot()
            if snapshot is not None:
                self._restore(snapshot.data)
                self._last_snapshot_bytes = len(snapshot.data)
                self.applied_index = self.snapshot_index = snapshot.index
            self._core = RaftNode(cfg.id, voters, wal=self._wal, **options)
        else:
            self._core = RaftNode(cfg.id, voters, **options)
        listen = parse_host_port(cfg.peers[cfg.id])
        peers = {i: parse_host_port(a) for i, a in cfg.peers.items() if i != cfg.id}
        limits = TransportLimits(
            max_send_buffer_bytes=cfg.max_send_buffer_bytes,
            max_inbound_buffer_bytes=cfg.max_inbound_buffer_bytes,
        )
        self._transport = Transport(
            cfg.id,
            cfg.cluster_id,
            listen,
            peers,
            self._on_frames,
            self._on_peer_change,
            limits,
            metrics=self.metrics,
        )
        await self._transport.start()
        self._running = True
        self._last_tick_s = self.loop.time()
        self._ticker = self.loop.call_later(cfg.tick_ms / 1000, self._on_tick)
        self._driver = asyncio.create_task(self._drive(), name=f"senate-node-{cfg.id}")
        log.info("node %d: started (applied %d)", cfg.id, self.applied_index)

    async def stop(self) -> None:
        """Stops serving; calls still waiting fail with `NodeNotRunning`."""
        if not self._running:
            return
        self._running = False
        if self._ticker is not None:
            self._ticker.cancel()
        self._wake.set()
        if self._driver is not None:
            with contextlib.suppress(Exception):  # already logged by the driver
                await self._driver
        if self._transport is not None:
            await self._transport.stop()
        if self._snapshot_job is not None:
            await asyncio.gather(self._snapshot_job, return_exceptions=True)
        if self._compaction is not None:
            await asyncio.gather(self._compaction, return_exceptions=True)
        self._fail_all(NodeNotRunning(f"node {self.id} stopped"))
        self._disk.shutdown(wait=True)
        self._compactor.shutdown(wait=True)
        self._snapshotter.shutdown(wait=True)
        if self._writer is not None:
            assert self.loop is not None
            self.loop.remove_reader(self._writer.fileno())
            self._writer.close()
        if self._wal is not None:
            self._wal.close()  # releases the data directory for the next start
        log.info("node %d: stopped", self.id)

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def peer_port(self) -> int:
        assert self._transport is not None
        return self._transport.port

    # --- the public calls ---------------------------------------------------------------
    def propose(
        self, command: bytes, slot: int = 0, timeout: float | None = None
    ) -> Awaitable[Any]:
        """Replicates `command`; the awaitable gives what `apply` returned for it on this node
        (or raises what it raised), once the command is committed and applied here."""
        if not self._running or self.loop is None:
            raise NodeNotRunning(f"node {self.id} is not running")
        fut: asyncio.Future[Any] = self.loop.create_future()
        self.propose_with_callback(command, fut, slot, timeout)
        return fut

    def propose_with_callback(
        self,
        command: bytes,
        on_done: Waiter,
        slot: int = 0,
        timeout: float | None = None,
    ) -> None:
        """`propose` for callers that answer many requests (a server): `on_done(result,
        error)` is called once, from the node's driver, when the command was applied here
        (`error` is None) or failed (`result` is None: `error` is what `apply` raised, or
        `CallTimeout`, `ProposalDropped`, `NodeNotRunning`). It must not block or raise. No
        future is made: a future and its callbacks cost a server more than the rest of its
        Python work per request. A future may be passed as `on_done`: it gets the outcome."""
        if not self._running:
            raise NodeNotRunning(f"node {self.id} is not running")
        pending = self._pending
        if len(pending) >= self.config.max_pending_calls:
            raise Overloaded(f"{len(pending)} calls waiting (max_pending_calls)")
        assert self.loop is not None
        seq = self._next_seq
        self._next_seq = seq + 1
        pending[seq] = on_done
        if timeout is None:
            self._default_deadlines.append((self.loop.time() + self.config.call_timeout_s, seq))
        else:
            heapq.heappush(self._deadlines, (self.loop.time() + timeout, seq))
        outbox = self._outbox
        if not outbox:
            # The driver proposes what the outbox holds on every wake-up (or is woken again
            # when it could not: a write finishing, the next tick), so only the first
            # proposal of a batch wakes it: one Python call less for the others.
            self._wake.set()
        outbox.append(ENVELOPE.pack(self.id, seq, slot) + command)

    async def read_barrier(self, timeout: float | None = None) -> None:
        """Returns once this node has applied everything committed before the call (a
        ReadIndex round, batched with other reads): a read of the state machine after it is
        linearizable."""
        if not self._running:
            raise NodeNotRunning(f"node {self.id} is not running")
        assert self.loop is not None
        fut: asyncio.Future[None] = self.loop.create_future()
        self._read_waiters.append(fut)
        self._wake.set()
        try:
            await asyncio.wait_for(fut, self.config.call_timeout_s if timeout is None else timeout)
        except asyncio.TimeoutError:
            raise CallTimeout(f"node {self.id}: read not confirmed in time") from None

    def status(self) -> NodeStatus:
        if self._core is None:
            raise NodeNotRunning(f"node {self.id} is not started")
        s = self._core.status()
        match = {p[0]: p[1] for p in s.peers}
        connected = set(self._transport.connected()) if self._transport else set()
        peers = [
            PeerInfo(i, i in connected, match.get(i))
            for i in sorted(self.config.peers)
            if i != self.id
        ]
        return NodeStatus(
            id=self.id,
            role=s.role,
            term=s.term,
            leader=s.leader,
            commit_index=s.commit,
            applied_index=self.applied_index,
            snapshot_index=self.snapshot_index,
            last_index=s.last_index,
            peers=peers,
        )

    def transfer_leader(self, to: int) -> None:
        assert self._core is not None
        self._core.transfer_leader(to)
        self._wake.set()

    # --- input from the world -----------------------------------------------------------
    def _on_tick(self) -> None:
        assert self.loop is not None
        if not self._running:
            return
        period_s = self.config.tick_ms / 1000
        now = self.loop.time()
        # Timers may fire up to a clock granule early (uvloop rounds to 1 ms): count a tick
        # that is due within it, or the timer is re-armed for the same instant and spins.
        elapsed = int((now - self._last_tick_s + TIMER_SLACK_S) / period_s)
        if self.metrics is not None:
            self.metrics.on_tick_late(max(0.0, now - self._last_tick_s - period_s))
        if elapsed > 0:
            self._ticks_due += elapsed
            self._last_tick_s += elapsed * period_s
            self._wake.set()
        self._ticker = self.loop.call_at(self._last_tick_s + period_s, self._on_tick)

    def _on_frames(self, conn: PeerConnection) -> None:
        assert conn.peer_id is not None
        self._inbound[conn.peer_id] = conn
        self._wake.set()

    def _on_peer_change(self, peer_id: int, connected: bool) -> None:
        if not connected and self._core is not None:
            self._core.report_unreachable(peer_id)
            self._wake.set()

    # --- the driver ---------------------------------------------------------------------
    async def _drive(self) -> None:
        core = self._core
        assert core is not None
        try:
            while self._running:
                if self._backlog_due():
                    await asyncio.sleep(0)  # the loop runs, then the backlog goes on
                else:
                    await self._wake.wait()
                self._wake.clear()
                limit = self.config.max_writes_in_flight
                slice_started = time.perf_counter()
                while self._running:
                    if time.perf_counter() - slice_started >= DRIVE_SLICE_S:
                        await asyncio.sleep(0)
                        slice_started = time.perf_counter()
                    if self._snapshot_job is not None:
                        await self._settle_snapshot(core)
                    backlog_due = self._backlog_due()
                    if backlog_due:
                        self._apply_from_backlog()
                    self._take_input(core)
                    # At the limit, the next Ready that writes waits for a write to finish
                    # (which wakes the driver); input arriving meanwhile is batched into it.
                    # What needs no write (committed entries to apply, confirmed reads,
                    # messages that may leave at once) goes out meanwhile in Readies
                    # without writes: a leader answers its callers as soon as a quorum
                    # holds their entries, not one fsync later.
                    if not core.has_ready():
                        if backlog_due:
                            continue
                        break
                    if len(self._unadvanced) >= MAX_READIES_IN_FLIGHT:
                        break  # the core's limit: Readies that wrote nothing count too
                    if self._writes_in_flight >= limit:
                        if self._write_stalled():
                            if not self._take_ready_past_limit():
                                break
                        elif core.has_ready_without_write():
                            await self._handle_ready(core, write=False)
                            continue
                        else:
                            break
                    await self._handle_ready(core)
        except Exception as e:
            # A durable log that cannot write (disk full, I/O error) stops the node: serving
            # on would acknowledge what is not durable.
            log.exception("node %d: stopping on a fatal error", self.id)
            self.fatal_error = e
            self._running = False
            self._fail_all(NodeNotRunning(f"node {self.id} stopped: {e}"))
            raise

    def _take_input(self, core: Core) -> None:
        self._advance_durable(core)
        if self._inbound:
            conns = list(self._inbound.values())
            self._inbound.clear()
            for conn in conns:
                self._step_connection(core, conn)
        if self._ticks_due:
            n = min(self._ticks_due, MAX_TICKS_PER_WAKE)
            self._ticks_due = 0
            core.tick(n)
            self._now_ticks += n
            self._expire_calls()
            self._retry_stale_reads()
        # A leader's proposals wait while its writes are at the limit: they go into the Ready
        # that writes them (one fsync for all that arrived meanwhile), not out one by one in
        # Readies without writes. A follower forwards them at once (it writes nothing).
        if self._outbox and (
            self.role != "leader" or self._writes_in_flight < self.config.max_writes_in_flight
        ):
            self._propose_outbox(core)
        if self._read_waiters:
            self._issue_read(core)

    def _write_stalled(self) -> bool:
        """Whether the oldest Ready not advanced has waited a tick or more for its write (a
        stalled disk). Called with writes in flight, so `_unadvanced` is not empty."""
        return time.perf_counter() - self._unadvanced[0][2] >= self.config.tick_ms / 1000

    def _take_ready_past_limit(self) -> bool:
        """Whether to take a Ready while a write is stalled at `max_writes_in_flight`: yes
        once per heartbeat interval, so that a leader's heartbeats and a follower's answers go
        on (a stall longer than an election timeout would otherwise cost the leadership) and
        the Readies waiting behind the stalled write stay few (each Ready without a write
        taken meanwhile would wait there too, up to the core's limit). Its write queues behind
        the stalled one."""
        if self._now_ticks < self._past_limit_tick + self.config.heartbeat_interval_ticks:
            return False
        self._past_limit_tick = self._now_ticks
        return True

    def _step_connection(self, core: Core, conn: PeerConnection) -> None:
        data = conn.take_input()
        if not data:
            return
        try:
            used = core.step_stream(data)
        except (DecodeError, InvalidMessage, UnknownPeer) as e:
            log.warning("node %d: closing connection of peer %s: %s", self.id, conn.peer_id, e)
            conn.close()
            return
        except SenateError as e:
            log.debug("node %d: step from peer %s: %s", self.id, conn.peer_id, e)
            conn.close()
            return
        if used < len(data):
            conn.keep_partial(data[used:])

    def _propose_outbox(self, core: Core) -> None:
        limit = self.config.max_batch_proposals
        batch = self._outbox[:limit]
        try:
            core.propose_batch(batch)
            if self.metrics is not None:
                self.metrics.on_proposals(len(batch))
        except NotLeader:
            return  # no leader known: keep them; retried on the next wake-up until their deadline
        except ProposalDropped as e:
            for data in batch:
                waiter = self._pending.pop(ENVELOPE.unpack_from(data)[1], None)
                if waiter is not None:
                    self._resolve(waiter, None, ProposalDropped(str(e)))
        del self._outbox[:limit]
        if self._outbox:
            self._wake.set()

    def _issue_read(self, core: Core) -> None:
        rid = self._next_read_id
        try:
            core.read_index(rid)
        except NotLeader:
            return  # retried on the next wake-up (their own timeouts bound the wait)
        self._next_read_id += 1
        self._reads_in_flight[rid] = (self._read_waiters, self._now_ticks)
        self._read_waiters = []

    def _retry_stale_reads(self) -> None:
        """Read rounds lost with a leader change produce nothing: re-issue them."""
        horizon = self._now_ticks - self.config.election_timeout_ticks
        for rid, (waiters, issued) in list(self._reads_in_flight.items()):
            if issued < horizon:
                del self._reads_in_flight[rid]
                self._read_waiters.extend(w for w in waiters if not w.done())
                self._wake.set()

    def _expire_calls(self) -> None:
        assert self.loop is not None
        now = self.loop.time()
        pending = self._pending
        expired: list[Waiter] = []
        # Pops expired calls, and answered ones at the front (calls are mostly answered in the
        # order of their deadlines, so this keeps both about as small as `_pending`).
        in_order = self._default_deadlines
        while in_order and (in_order[0][0] <= now or in_order[0][1] not in pending):
            waiter = pending.pop(in_order.popleft()[1], None)
            if waiter is not None:
                expired.append(waiter)
        heap = self._deadlines
        while heap and (heap[0][0] <= now or heap[0][1] not in pending):
            waiter = pending.pop(heapq.heappop(heap)[1], None)
            if waiter is not None:
                expired.append(waiter)
        for waiter in expired:
            self._resolve(waiter, None, CallTimeout(f"node {self.id}: call not committed in time"))
        if expired:
            self._log_expired(len(expired), now)
        if self._outbox:  # calls that expired waiting for a leader are not proposed
            pending = self._pending
            self._outbox = [d for d in self._outbox if ENVELOPE.unpack_from(d)[1] in pending]

    def _log_expired(self, count: int, now: float) -> None:
        self._expired_unlogged += count
        if now - self._expired_logged_s < EXPIRED_CALLS_LOG_INTERVAL_S or self._core is None:
            return
        s = self._core.status()
        log.warning(
            "node %d: %d call(s) timed out since the last such line"
            " (%s, term %d, leader %s, commit %d, applied %d, last %d, log writes in flight %d)",
            self.id,
            self._expired_unlogged,
            s.role,
            s.term,
            s.leader,
            s.commit,
            s.applied,
            s.last_index,
            self._writes_in_flight,
        )
        self._expired_logged_s = now
        self._expired_unlogged = 0

    async def _handle_ready(self, core: Core, write: bool = True) -> None:
        rd = core.ready() if write else core.ready_without_write()
        if rd is None:
            return
        role = rd.role
        if role is not None:
            leader = rd.leader
            if role != self.role or leader != self.leader:
                log.info("node %d: %s, leader %s", self.id, role, leader)
                if self.metrics is not None:
                    self.metrics.on_role(role)
                    if leader != self.leader:
                        self.metrics.on_leader_change()
            self.role, self.leader = role, leader
        self._send(core, rd.messages)
        # A Ready that only moved the commit index (`must_persist` but not `must_sync`) is not
        # written at all: the commit index is volatile state (Raft paper, figure 2); after a
        # restart the leader tells it again, and the log still holds every entry it covers.
        write_id = None
        if rd.must_sync and self._writer is not None:
            write_id = self._writer.submit(rd)
        persisted_messages = rd.persisted_messages
        last = rd.committed_index
        committed: list[bytes] = []
        if last is not None:
            # Durable here already: over a log the core hands out only entries whose writes
            # completed, so they are applied (and their callers answered) at once. The
            # Ready's own write was submitted first, so that its fsync runs (and the messages
            # waiting for it can leave) while this thread applies.
            committed = rd.committed_data
            self._apply(committed, last)
        if write_id is None and not self._unadvanced:
            self._send(core, persisted_messages)
            core.advance()
        else:
            # Its messages promise what it and the Readies before it write: they leave, and
            # the core is advanced past it, once those writes are durable.
            self._unadvanced.append((write_id, persisted_messages, time.perf_counter()))
            if write_id is not None:
                self._writes_in_flight += 1
        snapshot = rd.snapshot
        if snapshot is not None:
            index, _term, data = snapshot
            await self._wait_all_durable(core)
            if self._snapshot_job is not None:
                # The leader's snapshot replaces the state: the one being taken is dropped.
                await asyncio.wait([self._snapshot_job])
                self._finish_snapshot(core, compact=False)
            # Commands waiting for a snapshot are applied first (their callers are answered);
            # the leader's snapshot then replaces the state. Rare: no slicing here.
            while self._apply_backlog:
                self._apply_from_backlog()
            self._restore(data)
            self.applied_index = self.snapshot_index = index
            self._bytes_since_snapshot = 0
            self._last_snapshot_bytes = len(data)
            log.info("node %d: restored a snapshot at index %d", self.id, index)
        if self.metrics is not None:
            self._record_ready(self.metrics, rd, len(committed))
        self._serve_read_states(rd)
        self._maybe_snapshot()
        if write_id is not None and self.role == "follower":
            self._wait_for_write(write_id)

    async def _wait_all_durable(self, core: Core) -> None:
        """Waits until every Ready taken is durable and advances the core past them."""
        if self._unadvanced and self._write_error is None:
            assert self.loop is not None
            self._drained = self.loop.create_future()
            try:
                await self._drained
            finally:
                self._drained = None
        self._advance_durable(core)

    def _advance_durable(self, core: Core) -> None:
        """Advances the core past the Readies that became durable (or raises the log's
        error: the node stops)."""
        if self._write_error is not None:
            raise self._write_error
        while self._advance_due:
            self._advance_due -= 1
            core.advance()

    def _serve_read_states(self, rd: Ready) -> None:
        read_states = rd.read_states
        if read_states:
            self._confirm_reads(read_states)
        if self._reads_confirmed:
            self._serve_reads()

    def _record_ready(self, metrics: NodeMetrics, rd: Ready, entries: int) -> None:
        hard_state = rd.hard_state
        if hard_state is not None:
            self._metrics_term, _vote, self._metrics_commit = hard_state
        metrics.on_ready(entries, self._metrics_term, self._metrics_commit, self.applied_index)

    def _wait_for_write(self, write_id: int) -> None:
        """A follower waits for its write in the loop thread, for a while: it could not write
        the leader's next entries before this write completes anyway, and its answer leaves
        at once, without a wake-up through the selector. Only while the disk is quick: a
        write slower than the bound goes on as the leader's do (the writer thread tells the
        loop), so a stalled disk holds the loop for one bound, not for the stall, and the
        follower keeps answering heartbeats."""
        writer = self._writer
        assert writer is not None
        bound = self.follower_write_wait_s
        # Only for its one write in flight (behind a stalled one it would wait in vain), and
        # not while the writes are slow (the last one took longer than the bound).
        if (
            self._writes_in_flight == 1
            and writer.last_write_s <= bound
            and writer.wait(write_id, bound)
        ):
            self._take_completions()

    def _on_writes_done(self, wake_fd: int) -> None:
        """The writer thread finished writes (in submission order): the Readies up to each
        are durable, so their messages leave now; the driver advances the core past them."""
        with contextlib.suppress(BlockingIOError):
            os.read(wake_fd, 4096)
        self._take_completions()
        self._wake.set()

    def _take_completions(self) -> None:
        """Drains the writer's finished writes: sends what waited for them and counts the
        Readies now due an advance (see `_on_writes_done`, `_wait_for_write`)."""
        assert self._writer is not None
        now = time.perf_counter()
        unadvanced = self._unadvanced
        for write_id, error in self._writer.completed():
            if error is not None:
                # The log failed: nothing after this write is durable either.
                self._write_error = self._write_error or error
                break
            while unadvanced:
                queued_id, then_send, started = unadvanced[0]
                if queued_id is not None and queued_id > write_id:
                    break
                unadvanced.popleft()
                if then_send and self._core is not None:
                    self._send(self._core, then_send)
                if queued_id is not None:
                    self._writes_in_flight -= 1
                    if self.metrics is not None:
                        self.metrics.on_persisted(now - started)
                    if now - started >= self._slow_write_s:
                        log.warning(
                            "node %d: a log write took %.0f ms (slow disk)",
                            self.id,
                            (now - started) * 1000,
                        )
                self._advance_due += 1
        drained = self._drained
        if drained is not None and not drained.done() and (not unadvanced or self._write_error):
            drained.set_result(None)

    def _send(self, core: Core, messages: list[tuple[int, bytes]]) -> None:
        assert self._transport is not None
        for to, frames in messages:
            if not self._transport.send(to, frames):
                core.report_unreachable(to)

    def _apply(self, payloads: list[bytes], last_index: int) -> None:
        if self._apply_backlog or self._snapshot_holds_applies():
            # Behind commands that waited for a snapshot, or being snapshotted.
            self._apply_backlog.append((payloads, last_index))
            self._apply_backlog_bytes += sum(map(len, payloads))
            return
        self._apply_now(payloads, last_index)

    def _snapshot_holds_applies(self) -> bool:
        """Whether a snapshot is being taken of state machines that could not capture their
        state (`_snapshot_frozen`): nothing is applied until it is taken."""
        return self._snapshot_job is not None and self._snapshot_frozen

    def _backlog_due(self) -> bool:
        """Whether commands wait in the backlog and may be applied now."""
        return bool(self._apply_backlog) and not self._snapshot_holds_applies()

    def _apply_from_backlog(self) -> None:
        """Applies the oldest Ready's worth of commands of the backlog (the core hands out
        at most `max_committed_bytes_per_ready` per Ready), then serves the reads that waited
        for them."""
        payloads, last_index = self._apply_backlog.popleft()
        self._apply_backlog_bytes -= sum(map(len, payloads))
        self._apply_now(payloads, last_index)
        self._serve_reads()

    def _apply_now(self, payloads: list[bytes], last_index: int) -> None:
        """Applies `payloads`, the entries up to `last_index`, and answers their callers. Once
        `APPLY_SLICE_S` has passed, the entries not applied yet go back to the head of the
        backlog, for the driver to apply after the loop has run."""
        apply = [sm.apply for sm in self.state_machines]
        pending = self._pending
        my_id = self.id
        size = ENVELOPE.size
        applied_bytes = 0
        applied_to = last_index
        perf_counter = time.perf_counter
        stop_at = perf_counter() + APPLY_SLICE_S
        for position, data in enumerate(payloads):
            if position and perf_counter() >= stop_at:
                rest = payloads[position:]
                self._apply_backlog.appendleft((rest, last_index))
                self._apply_backlog_bytes += sum(map(len, rest))
                applied_to = last_index - len(rest)
                break
            if not data:
                continue  # a leader's no-op entry
            applied_bytes += len(data)
            origin, seq, slot = ENVELOPE.unpack_from(data)
            failed = False
            try:
                result = apply[slot](data[size:])
            except Exception as e:  # the command's own error, the same on every node
                result, failed = e, True
            if origin == my_id:
                waiter = pending.pop(seq, None)
                if waiter is None:
                    continue
                if failed:
                    self._resolve(waiter, None, result)
                elif isinstance(waiter, asyncio.Future):
                    self._resolve(waiter, result, None)
                else:  # a server's callback, called here: one Python frame less per call
                    try:
                        waiter(result, None)
                    except Exception:  # the caller's bug must not stop the node
                        log.exception("node %d: a call's callback raised", my_id)
        self._bytes_since_snapshot += applied_bytes
        self.applied_index = applied_to

    def _resolve(self, waiter: Waiter, result: Any, error: BaseException | None) -> None:
        """Gives a call's outcome to what waits for it: a future, or a callback."""
        if isinstance(waiter, asyncio.Future):
            if waiter.done():
                return
            if error is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(error)
            return
        try:
            waiter(result, error)
        except Exception:  # the caller's bug must not stop the node
            log.exception("node %d: a call's callback raised", self.id)

    def _confirm_reads(self, read_states: list[tuple[int, int]]) -> None:
        for rid, index in read_states:
            entry = self._reads_in_flight.pop(rid, None)
            if entry is not None:
                heapq.heappush(self._reads_confirmed, (index, rid, entry[0]))

    def _serve_reads(self) -> None:
        while self._reads_confirmed and self._reads_confirmed[0][0] <= self.applied_index:
            _, _, waiters = heapq.heappop(self._reads_confirmed)
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    # --- snapshots ----------------------------------------------------------------------
    def _snapshot_bytes(self) -> bytes:
        """The snapshot of every state machine (msgpack: a list of their bytes). Runs in a
        worker thread; the envelope is built without the interpreter lock."""
        return encode_snapshot_envelope([sm.snapshot() for sm in self.state_machines])

    def _restore(self, data: bytes) -> None:
        parts = msgpack.unpackb(data)
        if len(parts) != len(self.state_machines):
            raise SenateError(
                f"snapshot holds {len(parts)} state machines, this node has "
                f"{len(self.state_machines)}"
            )
        for sm, part in zip(self.state_machines, parts, strict=True):
            sm.restore(part)

    def _maybe_snapshot(self) -> None:
        cfg = self.config
        entries = self.applied_index - self.snapshot_index
        scale = self._snapshot_scale
        due = (
            entries >= cfg.snapshot_entries * scale
            or self._bytes_since_snapshot >= cfg.snapshot_bytes * scale
        ) and (
            self._bytes_since_snapshot >= self._last_snapshot_bytes
            # Tiny commands on a large state: the log's entry count is bounded too.
            or entries >= SNAPSHOT_ENTRIES_CAP_FACTOR * cfg.snapshot_entries
        )
        if not due or (self._compaction is not None and not self._compaction.done()):
            return
        if self.applied_index < self._next_snapshot_index:
            return
        self.snapshot_now()

    def snapshot_now(self) -> None:
        """Starts a snapshot of the state machines at the applied index; once taken (in a
        worker thread), the log is compacted up to it (in another) and `snapshot_index` moves.
        Meanwhile the node keeps its leadership and its log; it applies nothing unless every
        state machine captured its state (`StateMachine.capture`)."""
        if not self._running or self.loop is None or self._snapshot_job is not None:
            return
        if self.applied_index <= self.snapshot_index:
            return
        self._snapshot_job_index = self.applied_index
        # A copy is worth making only if every machine makes one: stop at the first that
        # cannot (the node will not apply meanwhile anyway).
        parts: list[Callable[[], bytes]] = []
        for sm in self.state_machines:
            part = sm.capture()
            if part is None:
                break
            parts.append(part)
        self._snapshot_frozen = len(parts) < len(self.state_machines)
        take: Callable[[], bytes] = (
            self._snapshot_bytes
            if self._snapshot_frozen
            else lambda: encode_snapshot_envelope([part() for part in parts])
        )
        job = self.loop.run_in_executor(self._snapshotter, take)
        job.add_done_callback(lambda _job: self._wake.set())
        self._snapshot_job = job

    async def _settle_snapshot(self, core: Core) -> None:
        """In the driver, between Readies: finishes a snapshot that was taken, or waits for it
        when too many committed commands are waiting to be applied."""
        job = self._snapshot_job
        assert job is not None
        if not job.done():
            if self._apply_backlog_bytes <= MAX_APPLY_BACKLOG_BYTES:
                return
            await asyncio.wait([job])
            if self._snapshot_job is not job:
                return
        self._finish_snapshot(core, compact=True)

    def _finish_snapshot(self, core: Core, compact: bool) -> None:
        """Records the snapshot just taken in the core (`compact`; only between Readies) and
        the log. The commands committed meanwhile are applied by the driver afterwards, a
        Ready's worth at a time (`_apply_from_backlog`): applying tens of MB of them at once
        held the loop for seconds, past an election timeout."""
        job = self._snapshot_job
        assert job is not None
        assert job.done()
        self._snapshot_job = None
        index = self._snapshot_job_index
        error = None if job.cancelled() else job.exception()
        if error is not None:
            log.error("node %d: snapshot at index %d failed: %s", self.id, index, error)
            self._next_snapshot_index = index + self.config.snapshot_entries
        elif compact and index > self.snapshot_index:
            data = job.result()
            try:
                snap = core.compact(index, data)
            except SenateError as e:
                log.warning("node %d: snapshot at index %d not recorded: %s", self.id, index, e)
            else:
                self._last_snapshot_bytes = len(data)
                self.snapshot_index = snap.index
                self._bytes_since_snapshot = 0
                log.info("node %d: snapshot at index %d", self.id, snap.index)
                if self.metrics is not None:
                    self.metrics.on_snapshot()
                if self._wal is not None and self.loop is not None:
                    self._compaction = self.loop.run_in_executor(
                        self._compactor, self._wal.compact, snap
                    )
                    self._compaction.add_done_callback(self._compaction_done)

    def _compaction_done(self, fut: asyncio.Future[None]) -> None:
        error = None if fut.cancelled() else fut.exception()
        if isinstance(error, SnapshotOutOfDate):
            # A snapshot from the leader overtook it: the log is compacted past it already.
            log.info("node %d: compaction skipped: %s", self.id, error)
        elif error is not None:
            log.error("node %d: compaction failed: %s", self.id, error)

    def _fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            self._resolve(waiter, None, error)
        self._outbox.clear()
        waiters = list(self._read_waiters)
        for entry in self._reads_in_flight.values():
            waiters.extend(entry[0])
        for _, _, ws in self._reads_confirmed:
            waiters.extend(ws)
        for fut in waiters:
            if not fut.done():
                fut.set_exception(error)
        self._read_waiters.clear()
        self._reads_in_flight.clear()
        self._reads_confirmed.clear()
