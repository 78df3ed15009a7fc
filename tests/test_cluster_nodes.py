"""`senate cluster add-node` and `senate cluster remove-node ID` against a running `senate
cluster` of real processes: the new node is a process started with `join = true`, added and
promoted; a removed node leaves the configuration and its process stops."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import free_base_port, senate_command, stop_cluster_command
from senate.cluster_control import (
    ANSWER_TIMEOUT_S,
    ClusterControl,
    ClusterControlError,
    ClusterControlServer,
)
from senate.launcher import LocalCluster
from senate.member_calls import MemberCallError, call_leader
from senate.status import resp_call
from waiting import wait_until

#: Seconds a command may take: more than it waits for the cluster's answer.
COMMAND_TIMEOUT_S = ANSWER_TIMEOUT_S + 30.0


def senate(*args: str) -> subprocess.CompletedProcess[str]:
    return senate_command(*args, timeout=COMMAND_TIMEOUT_S)


@contextlib.contextmanager
def running_cluster(data_dir: Path, protocol: str) -> Iterator[tuple[int, list[str]]]:
    """`senate cluster --nodes 3` in the foreground; (base port, its first four lines)."""
    for _attempt in range(3):  # a port taken between the choice and the bind: another base
        base = free_base_port(4)
        proc = subprocess.Popen(
            [sys.executable, "-m", "senate", "cluster", "--nodes", "3", "--data-dir",
             str(data_dir), "--base-port", str(base), "--protocol", protocol],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            lines = [proc.stdout.readline() for _ in range(4)]
            if not lines[3].startswith("cluster ready"):
                proc.wait(30)
                error = proc.stderr.read()
                if "not available" in error:
                    continue
                raise AssertionError(f"{lines} {error}")
            yield base, lines
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            return
        finally:
            stop_cluster_command(proc)  # a failed test: SIGTERM first, so it stops its nodes
    raise AssertionError("no free ports for the cluster")


@contextlib.contextmanager
def taken(address: tuple[str, int]) -> Iterator[None]:
    """The port at `address` is taken meanwhile: by a listener of this test, or by whoever
    took it since it was chosen free (no matter which)."""
    try:
        listener = socket.create_server(address)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        yield
        return
    with listener:
        yield


def roles_at_leader(clients: dict[int, str]) -> dict[int, str]:
    """{id: role} of the configuration at the leader (LIST answered by any node; a change is
    refused at a follower, so the leader is found by a change that cannot apply)."""
    with pytest.raises(MemberCallError, match="is not a learner") as refused:
        call_leader(list(clients.values()), "SENATE.MEMBER", "PROMOTE", "99", by_id=clients)
    leader = refused.value.address
    assert leader is not None
    reply = resp_call(_host_port(leader), "SENATE.MEMBER", "LIST", timeout_s=5)
    assert isinstance(reply, list)
    return {int(row[0]): row[1].decode() for row in reply}


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_adds_and_removes_local_nodes(tmp_path: Path) -> None:
    """Raft only: the commands do the same for both protocols (tests/test_chaos.py replaces a
    Multi-Paxos member with real processes), and CI's seconds are few."""
    data_dir = tmp_path / "cluster"
    with running_cluster(data_dir, "raft") as (base, lines):
        pids = {i: int(lines[i - 1].split("pid=")[1].split()[0]) for i in (1, 2, 3)}
        client = {i: f"127.0.0.1:{base + 100 + i}" for i in (1, 2, 3, 4)}
        resp_call(_host_port(client[1]), "SET", "before", "1", timeout_s=10)

        with taken(("127.0.0.1", base + 104)):  # node 4's client port
            refused = senate("cluster", "add-node", "--data-dir", str(data_dir))
        assert refused.returncode == 1
        assert f"port {base + 104} on 127.0.0.1 (node 4 client) is not available" in refused.stderr
        assert "join = true" not in (data_dir / "cluster.toml").read_text()

        added = senate("cluster", "add-node", "--data-dir", str(data_dir))
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("node 4 added: pid="), added.stdout
        assert f"client={client[4]}" in added.stdout
        new_pid = int(added.stdout.split("pid=")[1].split()[0])
        assert alive(new_pid)
        assert "join = true" in (data_dir / "cluster.toml").read_text()
        roles = roles_at_leader(client)
        assert roles == {1: "voter", 2: "voter", 3: "voter", 4: "voter"}, roles
        # The new node holds what was written before it joined.
        assert resp_call(_host_port(client[4]), "GET", "before", timeout_s=10) == b"1"

        removed = senate("cluster", "remove-node", "1", "--data-dir", str(data_dir))
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == "node 1 removed, exit 0"
        assert not alive(pids[1])
        rest = {i: client[i] for i in (2, 3, 4)}
        wait_until("node 1 out of the configuration", lambda: 1 not in roles_at_leader(rest))
        assert roles_at_leader(rest) == {2: "voter", 3: "voter", 4: "voter"}
        resp_call(_host_port(client[4]), "SET", "after", "2", timeout_s=10)  # still a quorum

        again = senate("cluster", "remove-node", "1", "--data-dir", str(data_dir))
        assert again.returncode == 1
        assert "node 1 is not a running node of this cluster (2, 3, 4)" in again.stderr
    with pytest.raises(ConnectionRefusedError):  # every node stopped with the cluster
        resp_call(_host_port(client[4]), "PING", timeout_s=1)
    assert not alive(new_pid)


def test_add_node_without_a_running_cluster_says_so(tmp_path: Path) -> None:
    done = senate("cluster", "add-node", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert f"no `senate cluster` runs over {tmp_path}" in done.stderr


def test_control_socket_is_its_owners_only_from_the_bind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bound under umask 0177: no moment with the umask's permissions (022 here) in which
    another local user could connect; the umask is restored after. The chmod after the
    bind is switched off, so that the mode seen is the bind's."""
    monkeypatch.setattr(os, "chmod", lambda *_args: None)
    control = ClusterControl(LocalCluster(1, data_dir=tmp_path, base_port=free_base_port(1)))
    previous = os.umask(0o022)
    try:
        server = ClusterControlServer(control, tmp_path / "control.sock")
        server.start()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)
    try:
        assert stat.S_IMODE((tmp_path / "control.sock").stat().st_mode) == 0o600
    finally:
        server.stop()


def test_an_addition_undone_leaves_no_node_in_the_cluster_file(tmp_path: Path) -> None:
    """An addition that fails before the node is added (here: no time to answer PING) stops
    the node and takes it out of the cluster file, so that the next addition takes its id
    and the file lists no member that never was. No member is asked anything on this path,
    so the cluster's own nodes need not run."""
    for attempt in range(3):  # node 2's ports taken between the choice and the check
        data_dir = tmp_path / f"attempt-{attempt}"
        data_dir.mkdir()
        (data_dir / "node-2").mkdir()  # what the failed node left (it may not get so far)
        (data_dir / "node-2" / "left").write_text("x")
        local = LocalCluster(nodes=1, data_dir=data_dir, base_port=free_base_port(2))
        control = ClusterControl(local, add_node_timeout_s=0.0)
        with pytest.raises(ClusterControlError) as failed:
            control.add_node()
        if "is not available" not in str(failed.value):
            break
    assert "does not answer PING" in str(failed.value)
    assert "may remain" not in str(failed.value)  # all of it undone
    assert [n.id for n in local.nodes] == [1]
    assert "join = true" not in (data_dir / "cluster.toml").read_text()
    assert local.config.ids == [1]
    # The directory of the node that never joined is moved aside: the next node 2 starts
    # on an empty one (whatever made this one fail stays for a look).
    assert not (data_dir / "node-2").exists()
    assert (data_dir / "node-2.undone-1" / "left").read_text() == "x"
