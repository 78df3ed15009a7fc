"""The driver task: feeds one node's input to the core's driver (`NodeDriver`, the policy in
Rust: `senate_core::driver`) and carries out the actions it hands back.

The policy (when to take a Ready, pipelined writes and the stall rule, apply slices, the
snapshot freeze and its backlog, when a read may be served, when to restore the leader's
snapshot) is the core's, the same code the deterministic simulation runs. This module is the
I/O around it: frames to the transport, commands to the state machines, snapshots to worker
threads (taken, and restored: what waits meanwhile is docs/embedding.md's), reads and calls
to their waiters. Log writes never come here: the core submits them to the log's writer
thread itself, and this module hears them complete through the writer's wake-up pipe
(`on_writes_done`).

Exactly one task (the driver) polls the core's driver. Everything else (the peer
connections, the ticker, callers of `propose` and `read_barrier`) leaves input in bounded
places and wakes the driver, which takes it all in one go, so input arriving while a write
is in progress is batched into the next Ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from senate._core import (
    ACTION_APPLY,
    ACTION_COMPACT,
    ACTION_CONF_CHANGED,
    ACTION_DURABLE,
    ACTION_RESTORE,
    ACTION_ROLE,
    ACTION_SEND,
    ACTION_SEND_SNAPSHOT,
    ACTION_SERVE_READS,
    ACTION_SNAPSHOT_SKIPPED,
    ACTION_TAKE_SNAPSHOT,
    NEXT_IDLE,
    NEXT_YIELD,
    NodeDriver,
    WalWriter,
)
from senate.config import NodeConfig
from senate.runtime.calls import Calls, resolve
from senate.runtime.core import AppliedState
from senate.runtime.envelope import ENVELOPE, KEYED_SLOT_FLAG
from senate.runtime.inputs import Inputs
from senate.runtime.members import Members
from senate.runtime.metrics import NodeMetrics
from senate.runtime.reads import Reads
from senate.runtime.snapshot_stream import Limits, SnapshotSender
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import Transport

log = logging.getLogger("senate.node")

#: How long a follower's loop waits for its log write before leaving it to the writer thread
#: (the core's `WalDriver::follower_wait`): above the 0.1 to 0.4 ms a write with fsync took on
#: the machines measured here, and small against a tick.
FOLLOWER_WRITE_WAIT_S = 0.002


class Applier:
    """Applies committed commands to the state machines and answers their callers, until the
    deadline the core's driver gave (the rest comes again in the next `Apply`)."""

    def __init__(self, node_id: int, state: AppliedState, calls: Calls) -> None:
        self.node_id = node_id
        self.state = state
        self._calls = calls

    def apply(self, payloads: list[bytes], last_index: int, deadline_ns: int) -> int:
        """Applies `payloads`, the entries up to `last_index`, in order, and answers their
        callers; stops after the first entry applied past `deadline_ns` (`time.monotonic_ns`).
        An entry naming a request id that ran before is not run again: its caller gets the
        kept outcome (`senate.runtime.requests`). Returns the index of the last entry applied."""
        state = self.state
        apply = [sm.apply for sm in state.machines]
        pending = self._calls.pending
        my_id = self.node_id
        size = ENVELOPE.size
        applied_to = last_index
        monotonic_ns = time.monotonic_ns
        for position, data in enumerate(payloads):
            if position and monotonic_ns() >= deadline_ns:
                applied_to = last_index - (len(payloads) - position)
                break
            if not data:
                continue  # a leader's no-op entry
            origin, seq, slot = ENVELOPE.unpack_from(data)
            failed = False
            if slot < KEYED_SLOT_FLAG:
                try:
                    result = apply[slot](data[size:])
                except Exception as e:  # the command's own error, the same on every node
                    result, failed = e, True
            else:
                index = last_index - len(payloads) + 1 + position
                result, failed = state.requests.apply_once(data, index, apply)
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
        state.applied_index = applied_to
        return applied_to


class ReadyDriver:
    """The task that takes one node's input to its core's driver and carries out the actions
    it hands back: send, apply, serve reads, snapshot, restore."""

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
        members: Members,
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
        self._members = members
        #: Calls of `Node.transfer_leader` waiting for their target to lead, by target.
        self.leader_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.applier = Applier(config.id, state, calls)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.core: NodeDriver | None = None
        self.transport: Transport | None = None
        #: Streams the core's snapshots to peers (`ACTION_SEND_SNAPSHOT`), once started.
        self.snapshot_sender: SnapshotSender | None = None
        self.writer: WalWriter | None = None
        self.running = False
        self._task: asyncio.Task[None] | None = None
        self.role = "follower"
        self.leader: int | None = None
        #: What the core says of an empty disk (its own, and followers' at a leader): checked
        #: every tick, logged and recorded when it changes.
        self.empty_disk = "no"
        self.lost_logs_seen = (0, 0)
        self.fatal_error: BaseException | None = None

    @property
    def now_ticks(self) -> int:
        """Ticks handed to the core since the start."""
        return 0 if self.core is None else self.core.now_ticks

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        core: NodeDriver,
        writer: WalWriter | None,
        transport: Transport,
    ) -> None:
        """Starts the driver's task; with `writer`, the loop hears its writes completing."""
        self.loop = loop
        self.core = core
        self.transport = transport
        limits = Limits(self.config.snapshot_chunk_bytes, self.config.snapshot_chunks_in_flight)
        self.snapshot_sender = SnapshotSender(transport, limits, self.metrics)
        self.writer = writer
        if writer is not None:
            wake_fd = writer.fileno()
            os.set_blocking(wake_fd, False)
            loop.add_reader(wake_fd, self.on_writes_done, wake_fd)
        self.running = True
        self._task = asyncio.create_task(self._drive(core), name=f"senate-node-{self.node_id}")

    async def stop(self) -> None:
        """Stops the task (after the actions it is carrying out, if any)."""
        self.running = False
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):  # already logged by the driver
                await self._task
            self._task = None
        if self.snapshot_sender is not None:
            await self.snapshot_sender.stop()

    @property
    def started(self) -> bool:
        """Started and not stopped (it may have stopped on a fatal error meanwhile)."""
        return self._task is not None

    def close_writer(self) -> None:
        """Stops hearing the log writer and closes it (once the driver stopped)."""
        if self.writer is not None:
            assert self.loop is not None
            self.loop.remove_reader(self.writer.fileno())
            self.writer.close()

    def snapshot_now(self) -> None:
        if self.core is not None and self.running:
            self.core.snapshot_now()
            self._wake.set()

    # --- the loop -----------------------------------------------------------------------
    async def _drive(self, core: NodeDriver) -> None:
        wake = self._wake
        monotonic_ns = time.monotonic_ns
        next_step = NEXT_IDLE
        try:
            while self.running:
                if next_step == NEXT_IDLE:
                    await wake.wait()
                elif next_step == NEXT_YIELD:
                    await asyncio.sleep(0)  # the loop runs, then the work goes on
                wake.clear()
                if not self.running:
                    break
                self._take_input(core)
                next_step, actions = core.poll(monotonic_ns())
                if actions:
                    self._carry_out(core, actions)
        except Exception as e:
            # A durable log that cannot write (disk full, I/O error) stops the node: serving
            # on would acknowledge what is not durable.
            log.exception("node %d: stopping on a fatal error", self.node_id)
            self.fatal_error = e
            self.running = False
            self._on_fatal(e)
            raise

    def _take_input(self, core: NodeDriver) -> None:
        inputs = self._inputs
        if inputs.inbound:
            inputs.step_inbound(core)
        if inputs.snapshots:
            inputs.step_snapshots(core)
        if inputs.ticks_due:
            core.add_ticks(inputs.ticks_due)
            inputs.ticks_due = 0
            self._check_empty_disk(core)
            assert self.loop is not None
            self._calls.expire(self.loop.time(), self._describe_state)
        calls = self._calls
        if calls.outbox and core.may_propose():
            calls.propose(core, self.config.max_batch_proposals)
        if self._snapshots.job_done():
            self._snapshots.settle(core)
        if self._snapshots.restore_job_done():
            self._snapshots.settle_restore(core)

    def _check_empty_disk(self, core: NodeDriver) -> None:
        empty_disk, lost = core.empty_disk, core.lost_logs_seen
        if empty_disk == self.empty_disk and lost == self.lost_logs_seen:
            return
        if empty_disk != self.empty_disk:
            if empty_disk == "abstaining":
                log.warning(
                    "node %d: started with an empty disk in a cluster that has a log: it neither"
                    " votes nor campaigns until the leader has sent it the log",
                    self.node_id,
                )
            elif empty_disk == "recovered":
                log.info(
                    "node %d: has the log again after its empty disk: votes again", self.node_id
                )
        new_losses = lost[0] - self.lost_logs_seen[0]
        if new_losses > 0:
            log.warning(
                "node %d: peer %d lost entries it had acknowledged (an empty disk?): sending"
                " it the log again (%d such losses seen)",
                self.node_id,
                lost[1],
                lost[0],
            )
        self.empty_disk, self.lost_logs_seen = empty_disk, lost
        if self.metrics is not None:
            self.metrics.on_empty_disk(empty_disk, max(new_losses, 0))

    def _describe_state(self) -> str | None:
        """The node's state, for the log line of calls that timed out."""
        core = self.core
        if core is None:
            return None
        return (
            f"{core.protocol} {core.role}, term {core.term}, leader {core.leader},"
            f" commit {core.commit_index}, applied {self.state.applied_index},"
            f" log writes in flight {core.writes_in_flight}"
        )

    def on_writes_done(self, wake_fd: int) -> None:
        """The writer thread finished writes: the messages that waited for them leave now,
        and the driver goes on (it advances the core past them)."""
        with contextlib.suppress(BlockingIOError):
            os.read(wake_fd, 4096)
        core = self.core
        if core is None:
            return
        actions = core.take_completions(time.monotonic_ns())
        if actions:
            self._carry_out(core, actions)
        self._wake.set()

    # --- the actions --------------------------------------------------------------------
    def _carry_out(self, core: NodeDriver, actions: list[tuple]) -> None:  # type: ignore[type-arg]
        transport = self.transport
        assert transport is not None
        for action in actions:
            kind = action[0]
            if kind == ACTION_SEND:
                if not transport.send(action[1], action[2]):
                    core.report_unreachable(action[1])
            elif kind == ACTION_APPLY:
                payloads = action[1]
                applied = self.applier.apply(payloads, action[2], action[3])
                core.applied_to(applied)
                if self.metrics is not None:
                    self.metrics.on_ready(len(payloads), core.term, core.commit_index, applied)
            elif kind == ACTION_SERVE_READS:
                self._reads.serve(action[1])
            elif kind == ACTION_DURABLE:
                self._on_durable(action[2], action[3])
            elif kind == ACTION_ROLE:
                self._note_role(action[1], action[2])
            elif kind == ACTION_TAKE_SNAPSHOT:
                index = action[1]
                core.snapshot_started(index, self._snapshots.start(index))
            elif kind == ACTION_COMPACT:
                self._snapshots.compact(action[1], core.compaction_done)
            elif kind == ACTION_SNAPSHOT_SKIPPED:
                log.warning(
                    "node %d: snapshot at index %d not recorded: %s",
                    self.node_id,
                    action[1],
                    action[2],
                )
            elif kind == ACTION_RESTORE:
                self._snapshots.start_restore(action[1])
            elif kind == ACTION_CONF_CHANGED:
                self._members.on_conf_changed(action[1], action[2], action[3], action[4])
            elif kind == ACTION_SEND_SNAPSHOT:
                assert self.snapshot_sender is not None
                self.snapshot_sender.send(*action[1:])

    def _on_durable(self, took_s: float, slow: bool) -> None:
        if self.metrics is not None:
            self.metrics.on_persisted(took_s)
        if slow:
            # etcd logs slow fsyncs too: without the stall rule it would have cost the
            # leadership.
            log.warning(
                "node %d: a log write took %.0f ms (slow disk)", self.node_id, took_s * 1000
            )

    def _note_role(self, role: str, leader: int | None) -> None:
        if self.snapshot_sender is not None:
            self.snapshot_sender.note_role(leading=role == "leader")
        if role != self.role or leader != self.leader:
            log.info("node %d: %s, leader %s", self.node_id, role, leader)
            if self.metrics is not None:
                self.metrics.on_role(role)
                if leader != self.leader:
                    self.metrics.on_leader_change()
        self.role, self.leader = role, leader
        if self.leader_waiters:
            waiting = self.leader_waiters
            self.leader_waiters = [(to, fut) for to, fut in waiting if to != leader]
            for to, fut in waiting:
                if to == leader and not fut.done():
                    fut.set_result(None)
