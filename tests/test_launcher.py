"""Local clusters of real `senate serve` processes.

The clusters run the real `senate serve` (the key-value service). Waits are conditions with
deadlines.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import free_base_port, senate_command, stop_cluster_command
from senate.launcher import SERVE_COMMAND, LauncherError, LocalCluster
from senate.status import probe

PROGRAMS = [pytest.param(SERVE_COMMAND, id="senate-serve")]
READY_S = 30.0


@pytest.fixture(params=PROGRAMS)
def program(request: pytest.FixtureRequest) -> tuple[str, ...]:
    command: tuple[str, ...] = request.param
    return command


@pytest.fixture
def local(program: tuple[str, ...], tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        3,
        data_dir=tmp_path / "cluster",
        base_port=free_base_port(3),
        overrides={"tick_ms": 5.0},
        command=program,
    )
    with cluster:
        yield cluster


def test_a_cluster_starts_elects_and_stops_cleanly(local: LocalCluster) -> None:
    leader = local.wait_ready(READY_S)
    assert leader in {1, 2, 3}
    nodes = local.nodes
    assert [n.id for n in nodes] == [1, 2, 3]
    assert all(n.pid is not None for n in nodes)
    base = local.base_port
    assert [n.peer for n in nodes] == [f"127.0.0.1:{base + i}" for i in (1, 2, 3)]
    assert [n.client for n in nodes] == [f"127.0.0.1:{base + 100 + i}" for i in (1, 2, 3)]
    assert [n.metrics for n in nodes] == [f"127.0.0.1:{base + 200 + i}" for i in (1, 2, 3)]
    reports = [probe(n.client, timeout_s=5) for n in nodes]
    assert [r.info.node_id for r in reports if r.info is not None] == [1, 2, 3]
    assert all(
        r.info is not None and r.info.pid == n.pid for r, n in zip(reports, nodes, strict=True)
    )
    assert (local.data_dir / "cluster.toml").exists()
    # SIGTERM stops every node with status 0.
    assert local.stop() == {1: 0, 2: 0, 3: 0}
    assert all(n.pid is None for n in local.nodes)


def test_a_killed_node_restarts_over_its_data(local: LocalCluster) -> None:
    leader = local.wait_ready(READY_S)
    follower = next(i for i in (1, 2, 3) if i != leader)
    assert local.kill(follower) == -signal.SIGKILL
    assert not probe(local.nodes[follower - 1].client, timeout_s=1).up
    assert local.wait_ready(READY_S) in {1, 2, 3}  # the killed node is not waited for
    local.restart(follower)
    local.wait_ready(READY_S)
    report = probe(local.nodes[follower - 1].client, timeout_s=5)
    assert report.info is not None
    assert report.info.pid == local.nodes[follower - 1].pid
    assert (local.data_dir / f"node-{follower}").is_dir()


def test_status_command_reports_a_live_cluster(local: LocalCluster) -> None:
    local.wait_ready(READY_S)
    down = local.nodes[2]
    local.kill(3)
    endpoints = ",".join(n.client for n in local.nodes)

    def status() -> list[dict[str, object]]:
        result = senate_command("status", "--endpoints", endpoints, "--json", timeout=30)
        assert result.returncode == 0, result.stderr
        records: list[dict[str, object]] = json.loads(result.stdout)
        return records

    deadline = time.monotonic() + READY_S
    while True:  # until the leader's view of the dead node settles
        records = status()
        if any(r.get("role") == "leader" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [r["up"] for r in records] == [True, True, False]
    assert records[2]["address"] == down.client
    assert records[2]["error"]
    assert {r["role"] for r in records[:2]} == {"leader", "follower"}
    assert all(isinstance(r["lag"], int) and r["lag"] >= 0 for r in records[:2])
    table = senate_command("status", "--config", str(local.config_path), timeout=30)
    assert table.returncode == 0, table.stderr
    assert "down" in table.stdout
    assert "leader" in table.stdout


def test_a_node_dying_at_startup_shows_its_log(tmp_path: Path) -> None:
    crash = (sys.executable, "-c", "import sys; print('no such luck', flush=True); sys.exit(3)")
    with (
        LocalCluster(2, data_dir=tmp_path, base_port=free_base_port(2), command=crash) as local,
        pytest.raises(LauncherError, match=r"exited with status 3(.|\n)*no such luck"),
    ):
        local.wait_ready(READY_S)


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    base = free_base_port(3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 102))
        taken.listen()
        local = LocalCluster(3, data_dir=tmp_path, base_port=base, command=("false",))
        with pytest.raises(LauncherError, match=rf"port {base + 102} .*node 2 client.*in use"):
            local.start()
    assert local.nodes[0].pid is None  # nothing was started


def test_a_data_dir_of_another_cluster_shape_is_refused(tmp_path: Path) -> None:
    base = free_base_port(3)
    with LocalCluster(3, data_dir=tmp_path, base_port=base, command=("true",)):
        pass
    with pytest.raises(LauncherError, match=r"holds a cluster of nodes \[1, 2, 3\]"):
        LocalCluster(2, data_dir=tmp_path, base_port=base, command=("true",)).start()


def test_a_temporary_data_dir_is_removed() -> None:
    with LocalCluster(1, base_port=free_base_port(1), command=("true",)) as local:
        data_dir = local.data_dir
        assert (data_dir / "cluster.toml").exists()
    assert not data_dir.exists()


# --- the commands ----------------------------------------------------------------------------


def test_serve_rejects_a_bad_file_and_an_unknown_id(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('fsyncc = true\n[[nodes]]\nid = 1\npeer = "127.0.0.1:1"\nclient = "x"\n')
    result = senate_command("serve", "--config", str(bad), "--id", "1", timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "fsyncc" in result.stderr
    good = tmp_path / "good.toml"
    good.write_text('[[nodes]]\nid = 1\npeer = "127.0.0.1:1"\nclient = "127.0.0.1:2"\n')
    result = senate_command("serve", "--config", str(good), "--id", "7", timeout=30)
    assert result.returncode == 2
    assert "no node 7" in result.stderr


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    local = LocalCluster(1, data_dir=tmp_path, base_port=free_base_port(1), command=SERVE_COMMAND)
    with local:
        local.wait_ready(READY_S)
        assert local.kill(1, signal.SIGTERM) == 0
        assert local.kill(1, signal.SIGINT) == 0  # already gone: its status again
    assert "stopped on SIGTERM" in local.log_path(1).read_text()


def test_cluster_command_refuses_an_unknown_protocol() -> None:
    result = senate_command("cluster", "--protocol", "zab", timeout=30)
    assert result.returncode == 2
    assert "'zab' is not one of 'raft', 'paxos'" in result.stderr


def test_cluster_command_runs_until_sigterm(tmp_path: Path, protocol: str) -> None:
    base = free_base_port(3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "senate", "cluster", "--nodes", "3", "--data-dir", str(tmp_path),
         "--base-port", str(base), "--protocol", protocol],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        for i in (1, 2, 3):
            assert lines[i - 1].startswith(f"node {i} pid=")
            assert f"peer=127.0.0.1:{base + i} client=127.0.0.1:{base + 100 + i}" in lines[i - 1]
        assert lines[3].startswith("cluster ready: leader ")
        assert f'protocol = "{protocol}"' in (tmp_path / "cluster.toml").read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "node 1 exit 0" in proc.stdout.read()
    finally:
        stop_cluster_command(proc)  # a failed test: SIGTERM first, so it stops its nodes


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_cluster_command_with_tls_prints_how_to_connect(tmp_path: Path) -> None:
    """`senate cluster --tls` makes certificates in its data directory, writes a `[tls]`
    table, and prints a redis-cli command line that works as printed."""
    base = free_base_port(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "senate", "cluster", "--nodes", "1", "--data-dir", str(tmp_path),
         "--base-port", str(base), "--no-fsync", "--tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[1].startswith("cluster ready: leader 1"), lines
        prefix = "connect with: "
        assert lines[2].startswith(prefix + "redis-cli --tls --cacert "), lines
        assert (tmp_path / "certs" / "ca.crt").is_file()
        assert "[tls]" in (tmp_path / "cluster.toml").read_text()
        command = shlex.split(lines[2].removeprefix(prefix))
        done = subprocess.run([*command, "PING"], capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == "PONG"
        plain = subprocess.run(
            ["redis-cli", "-p", str(base + 101), "PING"], capture_output=True, text=True, timeout=30
        )
        assert plain.stdout.strip() != "PONG"
        # A node added later gets a certificate from the same CA: its peers take it, and
        # clients reach it as printed.
        added = senate_command("cluster", "add-node", "--data-dir", str(tmp_path), timeout=200)
        assert added.returncode == 0, added.stderr
        assert (tmp_path / "certs" / "node-2.crt").is_file()
        command[command.index("-p") + 1] = str(base + 102)
        done = subprocess.run([*command, "PING"], capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == "PONG"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop_cluster_command(proc)  # a failed test: SIGTERM first, so it stops its nodes
