"""A 3-node cluster in three OS processes on 127.0.0.1: real sockets, real disk, kill -9.

Every acknowledged call must be present after every crash and restart. Waits are conditions
with deadlines; the only time bound asserted is a generous liveness bound on re-election.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import free_ports

NODE_PROGRAM = Path(__file__).with_name("node_process.py")
TICK_MS = 10.0
#: Election timeouts are drawn from [15, 30) ticks; a new leader within ten times the largest
#: is a liveness bound, not a speed target.
ELECTION_BOUND_S = 10 * 30 * TICK_MS / 1000


def wait_for(what: str, cond: Callable[[], Any], deadline_s: float = 30.0) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Control:
    """A JSON-lines client of one node process's control socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rwb")

    def call(self, **request: Any) -> dict[str, Any]:
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        line = self.file.readline()
        if not line:
            raise ConnectionError("node closed the control connection")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class ProcCluster:
    def __init__(
        self,
        root: Path,
        size: int = 3,
        snapshot_entries: int = 100_000,
        protocol: str = "raft",
        extra_args: list[str] | None = None,
    ) -> None:
        self.root = root
        #: More arguments for every node process (`tests/node_process.py`).
        self.extra_args = extra_args or []
        self.protocol = protocol
        self.ids = list(range(1, size + 1))
        ports = free_ports(2 * size)
        self.peer_ports = dict(zip(self.ids, ports[:size], strict=True))
        self.control_ports = dict(zip(self.ids, ports[size:], strict=True))
        self.snapshot_entries = snapshot_entries
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.controls: dict[int, Control] = {}
        self.logs: dict[int, Any] = {}

    def start(self, node_id: int) -> None:
        peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in self.peer_ports.items())
        log_file = open(self.root / f"node{node_id}.log", "ab")  # noqa: SIM115
        self.logs[node_id] = log_file
        proc = subprocess.Popen(
            [
                sys.executable,
                str(NODE_PROGRAM),
                f"--id={node_id}",
                f"--peers={peers}",
                f"--data={self.root / f'data{node_id}'}",
                f"--control={self.control_ports[node_id]}",
                f"--tick-ms={TICK_MS}",
                f"--snapshot-entries={self.snapshot_entries}",
                f"--protocol={self.protocol}",
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"ready {node_id}".encode(), (line, self.log_text(node_id))
        self.procs[node_id] = proc
        self.controls[node_id] = Control(self.control_ports[node_id])

    def kill(self, node_id: int) -> None:
        self.controls.pop(node_id).close()
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        self.logs.pop(node_id).close()

    def stop_all(self) -> None:
        for node_id in list(self.procs):
            self.kill(node_id)

    def log_text(self, node_id: int) -> str:
        path = self.root / f"node{node_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def status(self, node_id: int) -> dict[str, Any]:
        reply = self.controls[node_id].call(op="status")
        assert reply["ok"], reply
        status: dict[str, Any] = reply["value"]
        return status

    def leader(self) -> int | None:
        """The leader all running nodes agree on, if they do."""
        leaders = {self.status(i)["leader"] for i in self.procs}
        if len(leaders) == 1:
            (leader,) = leaders
            if leader in self.procs:
                return int(leader)
        return None

    def add(self, node_id: int, n: int, tag: str) -> dict[str, Any]:
        return self.controls[node_id].call(op="add", n=n, tag=tag)

    def tags(self, node_id: int) -> list[str]:
        reply = self.controls[node_id].call(op="tags")
        assert reply["ok"], reply
        tags: list[str] = reply["value"]
        return tags


@pytest.fixture
def cluster(tmp_path: Path, protocol: str) -> Iterator[ProcCluster]:
    c = ProcCluster(tmp_path, protocol=protocol)
    try:
        yield c
    finally:
        c.stop_all()


def add_many(c: ProcCluster, node_id: int, tags: list[str], acked: list[str]) -> None:
    """Adds 1 under each tag through `node_id`, recording the acknowledged ones."""
    for tag in tags:
        reply = c.add(node_id, 1, tag)
        if reply["ok"]:
            acked.append(tag)


def test_calls_survive_kill_9_of_the_leader_and_restart(cluster: ProcCluster) -> None:
    c = cluster
    for i in c.ids:
        c.start(i)
    leader = wait_for("a leader", c.leader)
    acked: list[str] = []
    # Calls from every node (followers forward to the leader).
    for i in c.ids:
        add_many(c, i, [f"n{i}-{k}" for k in range(30)], acked)
    assert len(acked) == 90
    value = c.controls[leader].call(op="get")
    assert value == {"ok": True, "value": 90}

    # kill -9 the leader: a new one is elected among the others, calls go on.
    c.kill(leader)
    killed_at = time.monotonic()
    new_leader = wait_for("a new leader", c.leader, deadline_s=30)
    assert new_leader != leader
    assert time.monotonic() - killed_at < ELECTION_BOUND_S + 5.0  # generous liveness bound
    survivor = next(i for i in c.ids if i in c.procs)
    add_many(c, survivor, [f"after-{k}" for k in range(30)], acked)
    assert acked[-30:] == [f"after-{k}" for k in range(30)]

    # The killed node restarts from its data directory and catches up by the log.
    c.start(leader)
    wait_for("the restarted node to catch up", lambda: len(c.tags(leader)) >= len(acked))
    for i in c.ids:

        def caught_up(node_id: int = i) -> bool:
            return len(c.tags(node_id)) >= len(acked)

        wait_for(f"node {i} to apply all", caught_up)
        tags = c.tags(i)
        assert set(acked) <= set(tags), f"node {i} lost acknowledged calls"
        assert tags == c.tags(new_leader), f"node {i} applied in another order"
    # It rejoined: every node names one leader. Usually the new one; on a busy machine the
    # restarted node may win an election of its own, which is as correct.
    agreed = wait_for("every node to name one leader", c.leader)
    assert c.status(leader)["role"] == ("leader" if agreed == leader else "follower")


def test_a_restarted_node_catches_up_by_snapshot_after_compaction(
    tmp_path: Path, protocol: str
) -> None:
    c = ProcCluster(tmp_path, snapshot_entries=50, protocol=protocol)
    try:
        for i in c.ids:
            c.start(i)
        leader = wait_for("a leader", c.leader)
        acked: list[str] = []
        add_many(c, leader, [f"a{k}" for k in range(20)], acked)
        lagging = next(i for i in c.ids if i != leader)
        c.kill(lagging)
        # Far more than `snapshot_entries` while it is down: the leader compacts past it.
        add_many(c, leader, [f"b{k}" for k in range(300)], acked)
        assert len(acked) == 320
        wait_for("the leader to compact", lambda: c.status(leader)["snapshot_index"] > 20)
        c.start(lagging)
        wait_for("the lagging node to catch up", lambda: len(c.tags(lagging)) >= len(acked))
        assert c.tags(lagging) == c.tags(leader)
        assert c.status(lagging)["snapshot_index"] > 20, "caught up without a snapshot"
        assert "restored a snapshot" in c.log_text(lagging)
        # Crash it again: it recovers from its own snapshot and log.
        c.kill(lagging)
        c.start(lagging)
        wait_for("recovery", lambda: len(c.tags(lagging)) >= len(acked))
        assert set(acked) <= set(c.tags(lagging))
    finally:
        c.stop_all()


def test_a_node_refuses_a_peer_of_another_cluster(tmp_path: Path) -> None:
    c = ProcCluster(tmp_path)
    try:
        c.start(2)
        # Speak the handshake of node 1 with the wrong cluster id: refused, connection closed.
        from senate.runtime.transport import encode_hello

        with socket.create_connection(("127.0.0.1", c.peer_ports[2]), timeout=10) as s:
            s.sendall(encode_hello("other-cluster", 1, 2))
            assert s.recv(100) == b""
        wait_for("the refusal in the log", lambda: "refused connection" in c.log_text(2))
        # Garbage after a valid handshake: the connection is closed, the node keeps serving.
        with socket.create_connection(("127.0.0.1", c.peer_ports[2]), timeout=10) as s:
            s.sendall(encode_hello("senate", 1, 2) + os.urandom(64))
            data = s.recv(1000)  # the hello reply, then EOF
            while chunk := s.recv(1000):
                data += chunk
        assert c.status(2)["id"] == 2
    finally:
        c.stop_all()
