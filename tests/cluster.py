"""A small in-test harness: a cluster of `RaftNode`s driven through the Python API.

It ticks the nodes, moves the `messages` bytes of each `Ready` between them (through a list
of in-flight messages that tests may drop, duplicate or reorder), and applies `committed`
entries to a per-node application: the data of every normal entry by index. Time is ticks
only; nothing sleeps.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from senate import RaftNode
from senate.launcher import free_base_port as free_base_port  # re-exported for the tests


@dataclass
class App:
    """The replicated application of one node: normal entries' data by log index."""

    applied_index: int = 0
    data: dict[int, bytes] = field(default_factory=dict)
    #: Indexes in the order they were applied (or restored from a snapshot).
    order: list[int] = field(default_factory=list)

    def snapshot_bytes(self, upto: int) -> bytes:
        kept = {index: data.hex() for index, data in self.data.items() if index <= upto}
        return json.dumps({"applied": upto, "data": kept}).encode()

    def restore(self, snapshot: bytes) -> None:
        state = json.loads(snapshot)
        self.applied_index = state["applied"]
        self.data = {int(index): bytes.fromhex(data) for index, data in state["data"].items()}
        self.order = sorted(self.data)

    def apply(self, index: int, data: bytes, is_noop: bool) -> None:
        assert index == self.applied_index + 1, f"applied {index} after {self.applied_index}"
        self.applied_index = index
        if not is_noop:
            self.data[index] = data
            self.order.append(index)

    def values(self) -> list[bytes]:
        """Applied data in log order."""
        return [self.data[index] for index in sorted(self.data)]


@dataclass
class InFlight:
    """Frames from one node to another, not delivered yet."""

    src: int
    dst: int
    frames: bytes


class Cluster:
    """`size` nodes with ids 1..size, all voters."""

    def __init__(self, size: int = 3, *, seed: int = 0, **config: Any) -> None:
        self.ids = list(range(1, size + 1))
        self.config = config
        self.nodes = {i: RaftNode(i, self.ids, seed=seed * 1000 + i, **config) for i in self.ids}
        self.apps = {i: App() for i in self.ids}
        self.read_states: dict[int, list[tuple[int, int]]] = {i: [] for i in self.ids}
        self.snapshots_restored: dict[int, int] = {i: 0 for i in self.ids}
        self.inflight: list[InFlight] = []
        #: Nodes cut off from everyone: what they send or are sent is dropped.
        self.isolated: set[int] = set()

    # --- one node ------------------------------------------------------------------------

    def handle_ready(self, node_id: int) -> None:
        """Drains every `Ready` of a node: restore, apply, queue messages, advance."""
        node = self.nodes[node_id]
        while (ready := node.ready()) is not None:
            snapshot = ready.snapshot
            if snapshot is not None:
                index, _term, data = snapshot
                self.apps[node_id].restore(data)
                assert self.apps[node_id].applied_index == index
                self.snapshots_restored[node_id] += 1
            for entry in ready.committed:
                self.apps[node_id].apply(entry.index, entry.data, entry.is_noop)
            for dst, frames in ready.messages:
                assert dst != node_id
                assert dst in self.nodes
                self.inflight.append(InFlight(node_id, dst, frames))
            self.read_states[node_id].extend(ready.read_states)
            node.advance()

    def crash_restart(self, node_id: int) -> None:
        """Restarts a node from its persisted state; its application state survives."""
        self.nodes[node_id].crash_restart(self.apps[node_id].applied_index)

    # --- the network ---------------------------------------------------------------------

    def deliver(self, message: InFlight) -> None:
        if message.src in self.isolated or message.dst in self.isolated:
            return
        self.nodes[message.dst].step(message.frames)
        self.handle_ready(message.dst)

    def deliver_all(self, max_rounds: int = 1000) -> None:
        """Delivers messages (and the replies they cause) until none is in flight."""
        for _ in range(max_rounds):
            if not self.inflight:
                return
            batch, self.inflight = self.inflight, []
            for message in batch:
                self.deliver(message)
        raise AssertionError(f"messages still in flight after {max_rounds} rounds")

    def tick(self, n: int = 1) -> None:
        """Ticks every node once, then delivers everything; `n` times."""
        for _ in range(n):
            for node_id, node in self.nodes.items():
                node.tick()
                self.handle_ready(node_id)
            self.deliver_all()

    def settle(self) -> None:
        for node_id in self.ids:
            self.handle_ready(node_id)
        self.deliver_all()

    def run_until(self, condition: Callable[[], bool], max_ticks: int = 200) -> int:
        """Ticks until `condition()` holds; returns the ticks it took. Fails past `max_ticks`."""
        self.settle()
        for ticks in range(max_ticks + 1):
            if condition():
                return ticks
            self.tick()
        raise AssertionError(f"condition not reached within {max_ticks} ticks")

    # --- views ---------------------------------------------------------------------------

    def leader(self, among: Iterable[int] | None = None) -> int | None:
        """The leader of the highest term among `among` (default: every node)."""
        best: tuple[int, int] | None = None
        for node_id in among if among is not None else self.ids:
            status = self.nodes[node_id].status()
            if status.role == "leader" and (best is None or status.term > best[0]):
                best = (status.term, node_id)
        return None if best is None else best[1]

    def wait_for_leader(self, max_ticks: int = 200, among: Iterable[int] | None = None) -> int:
        candidates = list(among) if among is not None else self.ids
        self.run_until(lambda: self.leader(candidates) is not None, max_ticks)
        leader = self.leader(candidates)
        assert leader is not None
        return leader

    def followers(self) -> list[int]:
        leader = self.leader()
        return [i for i in self.ids if i != leader]

    def all_applied(self, data: bytes, among: Iterable[int] | None = None) -> bool:
        return all(
            data in self.apps[i].data.values() for i in (among if among is not None else self.ids)
        )

    def assert_agreement(self) -> None:
        """No two nodes applied different data at the same index; applied order is log order."""
        seen: dict[int, tuple[int, bytes]] = {}
        for node_id, app in self.apps.items():
            assert app.order == sorted(app.order), f"node {node_id} applied out of order"
            for index, data in app.data.items():
                first = seen.setdefault(index, (node_id, data))
                assert first[1] == data, (
                    f"index {index}: node {first[0]} applied {first[1]!r}, "
                    f"node {node_id} applied {data!r}"
                )


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports free on 127.0.0.1 right now (the OS picks them)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


#: Attempts of a scenario whose ports, picked free, were taken before its nodes bound them.
PORT_ATTEMPTS = 3


async def on_free_ports(
    count: int, tmp_path: Path, scenario: Callable[[Path, dict[int, str]], Awaitable[None]]
) -> None:
    """Runs `scenario(data_dir, addresses)` with the addresses of ids 1..count on ports free
    when picked; again, with new ports and a new data directory, when a node cannot bind its
    port (taken meanwhile by another process). The scenario stops its nodes as it ends."""
    for attempt in range(PORT_ATTEMPTS):
        addresses = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(free_ports(count))}
        try:
            await scenario(tmp_path / f"attempt-{attempt}", addresses)
            return
        except OSError as e:
            if e.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1:
                raise


#: Seconds `senate cluster` gets to stop its nodes after SIGTERM before it is SIGKILLed.
CLUSTER_STOP_TIMEOUT_S = 30.0


def stop_cluster_command(proc: subprocess.Popen[str]) -> None:
    """Stops a `senate cluster` process a failed test left running: SIGTERM first, so that
    it stops its nodes (they run in sessions of their own: a SIGKILL of the launcher leaves
    them running), SIGKILL at the deadline. Its pipes are closed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(CLUSTER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def senate_command(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs the `senate` command of this interpreter, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "senate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
