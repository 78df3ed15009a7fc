"""The Ready driver: the policy that carries out a node's Readies, all of it in this module
(a sans-IO driver in the core is to take it over: this is the one module it replaces).

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

Committed entries are applied in slices (`APPLY_SLICE_S`, `Applier`), and wait in a bounded
backlog while a snapshot freezes the state machines (the core's
`DEFAULT_MAX_APPLY_BACKLOG_BYTES`).

The driver speaks to the core through `Core` (tick, step_stream, propose_batch, read_index,
ready, advance, status), so any core offering it (Raft today) can be driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable

from senate._core import (
    DEFAULT_MAX_APPLY_BACKLOG_BYTES,
    MAX_READIES_IN_FLIGHT,
    MAX_TICKS_PER_POLL,
    Ready,
    WalWriter,
)
from senate.config import NodeConfig
from senate.runtime.calls import ENVELOPE, Calls, resolve
from senate.runtime.core import AppliedState, Core
from senate.runtime.inputs import Inputs
from senate.runtime.metrics import NodeMetrics
from senate.runtime.reads import Reads
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import Transport

log = logging.getLogger("senate.node")

#: How long a follower's loop waits for its log write before leaving it to the writer thread
#: (see `WritePipeline.wait_for_write`): above the 0.1 to 0.4 ms a write with fsync took on the
#: machines measured here, and small against a tick.
FOLLOWER_WRITE_WAIT_S = 0.002
#: How long the driver works through Readies before it lets the loop run (socket reads,
#: ticks, client requests) and goes on: a backlog of committed entries (a node catching up,
#: a mass insert) comes in Readies of about 1 MiB (the core's
#: `max_committed_bytes_per_ready`), and applying them back to back without yielding held
#: a loop for over 150 ms (an election timeout) here, so followers campaigned.
DRIVE_SLICE_S = 0.005
#: How long the driver applies one run of committed entries before it puts the rest back at
#: the head of the backlog and lets the loop run (see `Applier.apply_now`): one Ready of 1 MiB
#: of commands can take longer than an election timeout to apply on a busy machine, e.g.
#: right after a snapshot captured a key-value store, when the first write to each of its
#: tables copies that table (21-44 ms for 500,000 keys here, measured alone; a store of
#: 1,000,000 keys captured so held loops 300-600 ms under load without this slice).
APPLY_SLICE_S = 0.005


class Applier:
    """Applies committed commands to the state machines and answers their callers, in slices
    of `APPLY_SLICE_S`; while a snapshot freezes the machines, and behind the commands that
    waited for one, the commands wait in `backlog`."""

    def __init__(
        self,
        node_id: int,
        state: AppliedState,
        calls: Calls,
        reads: Reads,
        snapshots: Snapshots,
    ) -> None:
        self.node_id = node_id
        self.state = state
        self._calls = calls
        self._reads = reads
        self._snapshots = snapshots
        #: Committed commands not applied yet, oldest first: (payloads, index of the last).
        #: Their bytes are `backlog_bytes`: past `DEFAULT_MAX_APPLY_BACKLOG_BYTES`, the driver
        #: waits for the snapshot that holds them. Commands committed while any wait here
        #: queue behind them; the driver applies them a Ready's worth at a time
        #: (`apply_from_backlog`), letting the loop run in between.
        self.backlog: deque[tuple[list[bytes], int]] = deque()
        self.backlog_bytes = 0

    def apply(self, payloads: list[bytes], last_index: int) -> None:
        """Applies `payloads`, the entries up to `last_index`, or queues them in the backlog."""
        if self.backlog or self._snapshots.holds_applies():
            # Behind commands that waited for a snapshot, or being snapshotted.
            self.backlog.append((payloads, last_index))
            self.backlog_bytes += sum(map(len, payloads))
            return
        self.apply_now(payloads, last_index)

    def backlog_due(self) -> bool:
        """Whether commands wait in the backlog and may be applied now."""
        return bool(self.backlog) and not self._snapshots.holds_applies()

    def apply_from_backlog(self) -> None:
        """Applies the oldest Ready's worth of commands of the backlog (the core hands out
        at most `max_committed_bytes_per_ready` per Ready), then serves the reads that waited
        for them."""
        payloads, last_index = self.backlog.popleft()
        self.backlog_bytes -= sum(map(len, payloads))
        self.apply_now(payloads, last_index)
        self._reads.serve(self.state.applied_index)

    def apply_now(self, payloads: list[bytes], last_index: int) -> None:
        """Applies `payloads`, the entries up to `last_index`, and answers their callers. Once
        `APPLY_SLICE_S` has passed, the entries not applied yet go back to the head of the
        backlog, for the driver to apply after the loop has run."""
        state = self.state
        apply = [sm.apply for sm in state.machines]
        pending = self._calls.pending
        my_id = self.node_id
        size = ENVELOPE.size
        applied_bytes = 0
        applied_to = last_index
        perf_counter = time.perf_counter
        stop_at = perf_counter() + APPLY_SLICE_S
        for position, data in enumerate(payloads):
            if position and perf_counter() >= stop_at:
                rest = payloads[position:]
                self.backlog.appendleft((rest, last_index))
                self.backlog_bytes += sum(map(len, rest))
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
                    resolve(my_id, waiter, None, result)
                elif isinstance(waiter, asyncio.Future):
                    resolve(my_id, waiter, result, None)
                else:  # a server's callback, called here: one Python frame less per call
                    try:
                        waiter(result, None)
                    except Exception:  # the caller's bug must not stop the node
                        log.exception("node %d: a call's callback raised", my_id)
        state.bytes_since_snapshot += applied_bytes
        state.applied_index = applied_to


class WritePipeline:
    """The Readies taken and not yet advanced, and their log writes in flight: each Ready's
    messages that promise what it writes leave, and the core is advanced past it, once its
    write and those before it are durable (the writer thread says so, in submission order)."""

    def __init__(
        self, config: NodeConfig, wake: asyncio.Event, metrics: NodeMetrics | None
    ) -> None:
        self.node_id = config.id
        self.metrics = metrics
        self._wake = wake
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Makes Readies durable in its own thread; wakes the loop through a pipe (or a
        #: follower waiting for its write directly: `wait_for_write`).
        self.writer: WalWriter | None = None
        #: Sends a Ready's messages once what they promise is durable.
        self._send: Callable[[list[tuple[int, bytes]]], None] = lambda _messages: None
        #: The Readies taken and not yet advanced, oldest first: (write id, or None for one
        #: that wrote nothing, messages to send once it is durable, time its write started).
        #: Those with a write id (`in_flight`) number at most `config.max_writes_in_flight`
        #: (more while a write is stalled: `ReadyDriver._take_ready_past_limit`), all of them
        #: at most the core's `MAX_READIES_IN_FLIGHT`.
        self.unadvanced: deque[tuple[int | None, list[tuple[int, bytes]], float]] = deque()
        self.in_flight = 0
        #: How long a follower waits for its write in the loop thread (0: never; see
        #: `wait_for_write`).
        self.follower_write_wait_s = FOLLOWER_WRITE_WAIT_S
        #: A write slower than an election timeout is logged (etcd logs slow fsyncs too):
        #: without `ReadyDriver._take_ready_past_limit` it would have cost the leadership.
        self._slow_write_s = config.election_timeout_ticks * config.tick_ms / 1000
        #: Readies at the front of `unadvanced` that became durable (their messages were
        #: sent); the driver advances the core past them.
        self._advance_due = 0
        #: Done when `unadvanced` empties (the driver waits on it before restoring a snapshot).
        self._drained: asyncio.Future[None] | None = None
        self._write_error: BaseException | None = None

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        writer: WalWriter | None,
        send: Callable[[list[tuple[int, bytes]]], None],
    ) -> None:
        """With `writer`, the loop hears its writes completing from now on."""
        self.loop = loop
        self.writer = writer
        self._send = send
        if writer is not None:
            wake_fd = writer.fileno()
            os.set_blocking(wake_fd, False)
            loop.add_reader(wake_fd, self.on_writes_done, wake_fd)

    def close_writer(self) -> None:
        """Stops hearing the writer and closes it (once the driver stopped)."""
        if self.writer is not None:
            assert self.loop is not None
            self.loop.remove_reader(self.writer.fileno())
            self.writer.close()

    def queue(self, write_id: int | None, persisted_messages: list[tuple[int, bytes]]) -> None:
        """Queues a Ready taken whose messages wait for its write (`write_id`) or for the
        writes before it."""
        self.unadvanced.append((write_id, persisted_messages, time.perf_counter()))
        if write_id is not None:
            self.in_flight += 1

    def stalled(self, tick_s: float) -> bool:
        """Whether the oldest Ready not advanced has waited a tick or more for its write (a
        stalled disk). Called with writes in flight, so `unadvanced` is not empty."""
        return time.perf_counter() - self.unadvanced[0][2] >= tick_s

    async def wait_all_durable(self, core: Core) -> None:
        """Waits until every Ready taken is durable and advances the core past them."""
        if self.unadvanced and self._write_error is None:
            assert self.loop is not None
            self._drained = self.loop.create_future()
            try:
                await self._drained
            finally:
                self._drained = None
        self.advance_durable(core)

    def advance_durable(self, core: Core) -> None:
        """Advances the core past the Readies that became durable (or raises the log's
        error: the node stops)."""
        if self._write_error is not None:
            raise self._write_error
        while self._advance_due:
            self._advance_due -= 1
            core.advance()

    def wait_for_write(self, write_id: int) -> None:
        """A follower waits for its write in the loop thread, for a while: it could not write
        the leader's next entries before this write completes anyway, and its answer leaves
        at once, without a wake-up through the selector. Only while the disk is quick: a
        write slower than the bound goes on as the leader's do (the writer thread tells the
        loop), so a stalled disk holds the loop for one bound, not for the stall, and the
        follower keeps answering heartbeats."""
        writer = self.writer
        assert writer is not None
        bound = self.follower_write_wait_s
        # Only for its one write in flight (behind a stalled one it would wait in vain), and
        # not while the writes are slow (the last one took longer than the bound).
        if self.in_flight == 1 and writer.last_write_s <= bound and writer.wait(write_id, bound):
            self._take_completions()

    def on_writes_done(self, wake_fd: int) -> None:
        """The writer thread finished writes (in submission order): the Readies up to each
        are durable, so their messages leave now; the driver advances the core past them."""
        with contextlib.suppress(BlockingIOError):
            os.read(wake_fd, 4096)
        self._take_completions()
        self._wake.set()

    def _take_completions(self) -> None:
        """Drains the writer's finished writes: sends what waited for them and counts the
        Readies now due an advance (see `on_writes_done`, `wait_for_write`)."""
        assert self.writer is not None
        now = time.perf_counter()
        unadvanced = self.unadvanced
        for write_id, error in self.writer.completed():
            if error is not None:
                # The log failed: nothing after this write is durable either.
                self._write_error = self._write_error or error
                break
            while unadvanced:
                queued_id, then_send, started = unadvanced[0]
                if queued_id is not None and queued_id > write_id:
                    break
                unadvanced.popleft()
                if then_send:
                    self._send(then_send)
                if queued_id is not None:
                    self._write_completed(now - started)
                self._advance_due += 1
        drained = self._drained
        if drained is not None and not drained.done() and (not unadvanced or self._write_error):
            drained.set_result(None)

    def _write_completed(self, took_s: float) -> None:
        self.in_flight -= 1
        if self.metrics is not None:
            self.metrics.on_persisted(took_s)
        if took_s >= self._slow_write_s:
            log.warning(
                "node %d: a log write took %.0f ms (slow disk)", self.node_id, took_s * 1000
            )


class ReadyDriver:
    """The task that takes one node's input to its core and carries out the core's Readies:
    persist (through the writer thread), send, apply, serve reads, advance."""

    def __init__(
        self,
        config: NodeConfig,
        state: AppliedState,
        calls: Calls,
        reads: Reads,
        snapshots: Snapshots,
        inputs: Inputs,
        wake: asyncio.Event,
        metrics: NodeMetrics | None,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self.config = config
        self.node_id = config.id
        self.state = state
        self.metrics = metrics
        self._calls = calls
        self._reads = reads
        self._snapshots = snapshots
        self._inputs = inputs
        self._wake = wake
        #: Called with the error when one stopped the driver (the node stops).
        self._on_fatal = on_fatal
        self.applier = Applier(config.id, state, calls, reads, snapshots)
        self.writes = WritePipeline(config, wake, metrics)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.core: Core | None = None
        self.transport: Transport | None = None
        self.running = False
        self._task: asyncio.Task[None] | None = None
        #: Ticks handed to the core since the start.
        self.now_ticks = 0
        #: The tick at which the last Ready past `max_writes_in_flight` was taken (see
        #: `_take_ready_past_limit`).
        self._past_limit_tick = 0
        #: The term and commit index of the last hard state seen (kept for `metrics` only).
        self._metrics_term = 0
        self._metrics_commit = 0
        self.role = "follower"
        self.leader: int | None = None
        self.fatal_error: BaseException | None = None

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        core: Core,
        writer: WalWriter | None,
        transport: Transport,
    ) -> None:
        """Starts the driver's task; with `writer`, the loop hears its writes completing."""
        self.loop = loop
        self.core = core
        self.transport = transport
        self.writes.start(loop, writer, lambda messages: self._send(core, messages))
        self.running = True
        self._task = asyncio.create_task(self._drive(core), name=f"senate-node-{self.node_id}")

    async def stop(self) -> None:
        """Stops the task (after the Ready it is handling, if any)."""
        self.running = False
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):  # already logged by the driver
                await self._task

    # --- the loop -----------------------------------------------------------------------
    async def _drive(self, core: Core) -> None:
        applier = self.applier
        writes = self.writes
        try:
            while self.running:
                if applier.backlog_due():
                    await asyncio.sleep(0)  # the loop runs, then the backlog goes on
                else:
                    await self._wake.wait()
                self._wake.clear()
                limit = self.config.max_writes_in_flight
                slice_started = time.perf_counter()
                while self.running:
                    if time.perf_counter() - slice_started >= DRIVE_SLICE_S:
                        await asyncio.sleep(0)
                        slice_started = time.perf_counter()
                    if self._snapshots.job is not None:
                        await self._settle_snapshot(core)
                    backlog_due = applier.backlog_due()
                    if backlog_due:
                        applier.apply_from_backlog()
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
                    if len(writes.unadvanced) >= MAX_READIES_IN_FLIGHT:
                        break  # the core's limit: Readies that wrote nothing count too
                    if writes.in_flight >= limit:
                        if writes.stalled(self.config.tick_ms / 1000):
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
            log.exception("node %d: stopping on a fatal error", self.node_id)
            self.fatal_error = e
            self.running = False
            self._on_fatal(e)
            raise

    def _take_input(self, core: Core) -> None:
        self.writes.advance_durable(core)
        inputs = self._inputs
        if inputs.inbound:
            inputs.step_inbound(core)
        if inputs.ticks_due:
            n = min(inputs.ticks_due, MAX_TICKS_PER_POLL)
            inputs.ticks_due = 0
            core.tick(n)
            self.now_ticks += n
            assert self.loop is not None
            self._calls.expire(self.loop.time(), self._describe_state)
            self._reads.retry_stale(self.now_ticks, self.config.election_timeout_ticks)
        # A leader's proposals wait while its writes are at the limit: they go into the Ready
        # that writes them (one fsync for all that arrived meanwhile), not out one by one in
        # Readies without writes. A follower forwards them at once (it writes nothing).
        if self._calls.outbox and (
            self.role != "leader" or self.writes.in_flight < self.config.max_writes_in_flight
        ):
            self._calls.propose(core, self.config.max_batch_proposals)
        if self._reads.waiting:
            self._reads.issue(core, self.now_ticks)

    def _describe_state(self) -> str | None:
        """The node's state, for the log line of calls that timed out."""
        if self.core is None:
            return None
        s = self.core.status()
        return (
            f"{s.role}, term {s.term}, leader {s.leader}, commit {s.commit},"
            f" applied {s.applied}, last {s.last_index},"
            f" log writes in flight {self.writes.in_flight}"
        )

    def _take_ready_past_limit(self) -> bool:
        """Whether to take a Ready while a write is stalled at `max_writes_in_flight`: yes
        once per heartbeat interval, so that a leader's heartbeats and a follower's answers go
        on (a stall longer than an election timeout would otherwise cost the leadership) and
        the Readies waiting behind the stalled write stay few (each Ready without a write
        taken meanwhile would wait there too, up to the core's limit). Its write queues behind
        the stalled one."""
        if self.now_ticks < self._past_limit_tick + self.config.heartbeat_interval_ticks:
            return False
        self._past_limit_tick = self.now_ticks
        return True

    # --- one Ready ----------------------------------------------------------------------
    async def _handle_ready(self, core: Core, write: bool = True) -> None:
        rd = core.ready() if write else core.ready_without_write()
        if rd is None:
            return
        self._note_role(rd)
        self._send(core, rd.messages)
        # A Ready that only moved the commit index (`must_persist` but not `must_sync`) is not
        # written at all: the commit index is volatile state (Raft paper, figure 2); after a
        # restart the leader tells it again, and the log still holds every entry it covers.
        writes = self.writes
        write_id = None
        if rd.must_sync and writes.writer is not None:
            write_id = writes.writer.submit(rd)
        persisted_messages = rd.persisted_messages
        last = rd.committed_index
        committed: list[bytes] = []
        if last is not None:
            # Durable here already: over a log the core hands out only entries whose writes
            # completed, so they are applied (and their callers answered) at once. The
            # Ready's own write was submitted first, so that its fsync runs (and the messages
            # waiting for it can leave) while this thread applies.
            committed = rd.committed_data
            self.applier.apply(committed, last)
        if write_id is None and not writes.unadvanced:
            self._send(core, persisted_messages)
            core.advance()
        else:
            # Its messages promise what it and the Readies before it write: they leave, and
            # the core is advanced past it, once those writes are durable.
            writes.queue(write_id, persisted_messages)
        snapshot = rd.snapshot
        if snapshot is not None:
            index, _term, data = snapshot
            await self._install_snapshot(core, index, data)
        if self.metrics is not None:
            self._record_ready(self.metrics, rd, len(committed))
        self._serve_read_states(rd)
        self._snapshots.maybe_start()
        if write_id is not None and self.role == "follower":
            writes.wait_for_write(write_id)

    def _note_role(self, rd: Ready) -> None:
        role = rd.role
        if role is None:
            return
        leader = rd.leader
        if role != self.role or leader != self.leader:
            log.info("node %d: %s, leader %s", self.node_id, role, leader)
            if self.metrics is not None:
                self.metrics.on_role(role)
                if leader != self.leader:
                    self.metrics.on_leader_change()
        self.role, self.leader = role, leader

    async def _install_snapshot(self, core: Core, index: int, data: bytes) -> None:
        """Replaces the state with the leader's snapshot, once every Ready taken is durable."""
        await self.writes.wait_all_durable(core)
        snapshots = self._snapshots
        if snapshots.job is not None:
            # The leader's snapshot replaces the state: the one being taken is dropped.
            await asyncio.wait([snapshots.job])
            snapshots.finish(core, compact=False)
        # Commands waiting for a snapshot are applied first (their callers are answered);
        # the leader's snapshot then replaces the state. Rare: no slicing here.
        while self.applier.backlog:
            self.applier.apply_from_backlog()
        snapshots.install(index, data)

    async def _settle_snapshot(self, core: Core) -> None:
        """Between Readies: finishes a snapshot that was taken, or waits for it when too many
        committed commands are waiting to be applied. The commands committed meanwhile are
        applied afterwards, a Ready's worth at a time (`Applier.apply_from_backlog`):
        applying tens of MB of them at once held the loop for seconds, past an election
        timeout."""
        job = self._snapshots.job
        assert job is not None
        if not job.done():
            if self.applier.backlog_bytes <= DEFAULT_MAX_APPLY_BACKLOG_BYTES:
                return
            await asyncio.wait([job])
            if self._snapshots.job is not job:
                return
        self._snapshots.finish(core, compact=True)

    def _serve_read_states(self, rd: Ready) -> None:
        read_states = rd.read_states
        reads = self._reads
        if read_states:
            reads.confirm(read_states)
        if reads.confirmed:
            reads.serve(self.state.applied_index)

    def _record_ready(self, metrics: NodeMetrics, rd: Ready, entries: int) -> None:
        hard_state = rd.hard_state
        if hard_state is not None:
            self._metrics_term, _vote, self._metrics_commit = hard_state
        term, commit = self._metrics_term, self._metrics_commit
        metrics.on_ready(entries, term, commit, self.state.applied_index)

    def _send(self, core: Core, messages: list[tuple[int, bytes]]) -> None:
        assert self.transport is not None
        for to, frames in messages:
            if not self.transport.send(to, frames):
                core.report_unreachable(to)
