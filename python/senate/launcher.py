"""Local clusters of real processes: each node a `senate serve` process on this machine.

    with LocalCluster(nodes=3) as cluster:
        leader = cluster.wait_ready(timeout_s=30)
        ...

Ports, from `base_port` (P) and node id N (1 <= N <= 99):

    peer    = P + N         the Raft peer address
    client  = P + 100 + N   the RESP client address
    metrics = P + 200 + N   the Prometheus endpoint

All must be free on `host` when the cluster starts, or `LauncherError` names the one taken.
The data directory holds `cluster.toml`, each node's log in `node-N/` and each process's
output (stdout and stderr, appended across restarts) in `node-N.log`. With `tls`, also
`certs/`: a throwaway CA, a certificate per node and one for clients (`client.crt`), made
when the cluster is created; the cluster file's `[tls]` table points at them, so peers speak
mutual TLS and clients TLS (`client_security` is how to connect).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from senate.config import ClusterConfig, NodeAddresses
from senate.errors import ConfigError
from senate.local_certs import (
    client_security_of,
    issue_added_node_cert,
    make_cluster_certs,
)
from senate.runtime.transport import parse_host_port
from senate.security.client_security import ClientSecurity
from senate.status import RespError, SenateInfo, resp_call

#: Offsets of the client and metrics ports from the base port (the peer port is base + id).
CLIENT_PORT_OFFSET = 100
METRICS_PORT_OFFSET = 200
#: Nodes in a local cluster, at most (the port scheme leaves 99 ids per kind).
MAX_NODES = 99
#: With `host_per_node`, node N listens on 127.0.0.(LOOPBACK_HOST_BASE + N).
LOOPBACK_HOST_BASE = 10
#: Lines of a node's log shown when it dies, and the bytes read to find them.
LOG_TAIL_LINES = 30
LOG_TAIL_BYTES = 16 * 1024
#: Timeout of one probe of one node while waiting for the cluster.
PROBE_TIMEOUT_S = 0.5
#: The program that runs one node; `--config FILE --id N` follow.
SERVE_COMMAND = (sys.executable, "-m", "senate", "serve")


class LauncherError(Exception):
    """A local cluster could not be started, or a node died while starting."""


@dataclass(frozen=True)
class LocalNode:
    id: int
    #: The process id, or None when the node is not running.
    pid: int | None
    peer: str
    client: str
    metrics: str | None
    log_path: Path


def port_scheme(node_id: int, base_port: int) -> tuple[int, int, int]:
    """(peer, client, metrics) ports of a node."""
    assert 1 <= node_id <= MAX_NODES, node_id
    peer = base_port + node_id
    return peer, peer + CLIENT_PORT_OFFSET, peer + METRICS_PORT_OFFSET


def check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as e:
            reason = "in use" if e.errno == errno.EADDRINUSE else str(e)
            raise LauncherError(
                f"port {port} on {host} ({what}) is not available: {reason}; "
                "choose another base port"
            ) from None


def free_base_port(nodes: int, host: str = "127.0.0.1") -> int:
    """A base port whose whole scheme (P+N, P+100+N, P+200+N for N in 1..nodes) is free on
    `host` right now, drawn from [10000, 32000): below Linux's ephemeral range, so client
    connections made meanwhile cannot take the ports."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(10_000, 32_000 - 300)
        try:
            for node_id in range(1, nodes + 1):
                for port in port_scheme(node_id, base):
                    check_port_free(host, port, f"node {node_id}")
        except LauncherError:
            continue
        return base
    raise LauncherError(f"no free range of ports for {nodes} nodes on {host}")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ("" when there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


class LocalCluster:
    """`nodes` `senate serve` processes on `host`, sharing one cluster file.

    `data_dir` None makes a temporary directory, removed when the cluster stops (as a context
    manager, on exit). `overrides` are cluster file settings (e.g. `{"tick_ms": 5}`).
    `command` is the program run per node, `--config FILE --id N` appended. With
    `fault_control`, each node serves its fault switches on `fault_socket(N)` (chaos tests).
    With `host_per_node`, node N listens on its own loopback address `node_host(N)`
    (127.0.0.(10 + N)) instead of `host`, so that firewall rules can cut one pair of nodes.
    With `tls`, certificates are made in `data_dir/certs` and the cluster file has a `[tls]`
    table (`client_certs` says whether clients must show one: see `senate.config`).
    `credentials` (user name or None, password) are what the launcher's own probes send in
    AUTH, for a cluster whose `[auth]` table (in `overrides`) lets no anonymous client in.
    """

    def __init__(
        self,
        nodes: int = 3,
        data_dir: Path | None = None,
        base_port: int = 7100,
        fsync: bool = True,
        host: str = "127.0.0.1",
        overrides: dict[str, Any] | None = None,
        command: Sequence[str] = SERVE_COMMAND,
        fault_control: bool = False,
        host_per_node: bool = False,
        tls: bool = False,
        client_certs: str = "none",
        credentials: tuple[str | None, str] | None = None,
    ) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise LauncherError(f"a local cluster has 1 to {MAX_NODES} nodes, not {nodes}")
        if not 0 < base_port < 65536 - METRICS_PORT_OFFSET - nodes:
            raise LauncherError(f"base port {base_port} leaves no room for {nodes} nodes")
        self.host = host
        self.host_per_node = host_per_node
        self.base_port = base_port
        self.command = list(command)
        self.fault_control = fault_control
        self._temporary = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="senate-")) if data_dir is None else data_dir
        self.config_path = self.data_dir / "cluster.toml"
        table: dict[str, Any] = {"data_dir": ".", "fsync": fsync, **(overrides or {})}
        table["nodes"] = []
        for i in range(1, nodes + 1):
            node_host = self.node_host(i) if host_per_node else host
            address = f"[{node_host}]" if ":" in node_host else node_host
            ports = (f"{address}:{p}" for p in port_scheme(i, base_port))
            table["nodes"].append(
                dict(zip(("peer", "client", "metrics"), ports, strict=True), id=i)
            )
        self.credentials = credentials
        if tls:
            table["tls"] = make_cluster_certs(self.data_dir, table, client_certs)
        self.config = ClusterConfig.from_dict(table, base_dir=self.data_dir)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        #: Nodes stopped on purpose (`kill`): `wait_ready` expects them neither up nor alive.
        self._killed: set[int] = set()

    @property
    def client_security(self) -> ClientSecurity | None:
        """How clients connect (`senate.local_certs.client_security_of`)."""
        return client_security_of(self.config, self.credentials)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Writes the cluster file and starts every node."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_previous_cluster()
        for node in self.config.nodes:
            for kind in ("peer", "client", "metrics"):
                address = getattr(node, kind)
                check_port_free(*parse_host_port(address), f"node {node.id} {kind}")
        self.config_path.write_text(self.config.to_toml())
        for node_id in self.config.ids:
            self._spawn(node_id)

    def _check_previous_cluster(self) -> None:
        """A data directory of another cluster's shape would mix logs of different members."""
        if not self.config_path.exists():
            return
        try:
            previous = ClusterConfig.load(self.config_path)
        except ConfigError:
            return
        if previous.ids != self.config.ids:
            raise LauncherError(
                f"{self.data_dir} holds a cluster of nodes {previous.ids}; use another data "
                "directory or remove it"
            )

    def _spawn(self, node_id: int) -> None:
        assert node_id not in self._procs or self._procs[node_id].poll() is not None
        self._killed.discard(node_id)
        log_path = self.log_path(node_id)
        args = [*self.command, "--config", str(self.config_path), "--id", str(node_id)]
        if self.fault_control:
            args += ["--fault-control", str(self.fault_socket(node_id))]
        with log_path.open("ab") as log_file:
            self._procs[node_id] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C at the terminal reaches the launcher only, which
                # stops the nodes in order.
                start_new_session=True,
            )

    def stop(self, timeout_s: float = 10.0) -> dict[int, int]:
        """SIGTERM to every running node, SIGKILL to those still running at the deadline.
        Returns each node's exit status (negative: the signal that ended it)."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        statuses = {}
        for node_id, proc in self._procs.items():
            try:
                statuses[node_id] = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                statuses[node_id] = proc.wait()
        return statuses

    def close(self) -> None:
        self.stop()
        if self._temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- one node -----------------------------------------------------------------------
    def add_node(self) -> int:
        """Adds the next node (id one above the highest) to the cluster file as one that joins
        (`join = true`: no voter of the first configuration) and starts it; returns its id.
        It serves once a member adds it (`senate member add`, docs/membership.md)."""
        node_id = max(self.config.ids) + 1
        if node_id > MAX_NODES:
            raise LauncherError(f"a local cluster has at most {MAX_NODES} node ids")
        node_host = self.node_host(node_id) if self.host_per_node else self.host
        address = f"[{node_host}]" if ":" in node_host else node_host
        peer, client, metrics = (f"{address}:{p}" for p in port_scheme(node_id, self.base_port))
        added = NodeAddresses(node_id, peer, client, metrics, join=True)
        for kind in ("peer", "client", "metrics"):
            check_port_free(*parse_host_port(getattr(added, kind)), f"node {node_id} {kind}")
        if self.config.tls is not None:
            try:
                issue_added_node_cert(self.config, node_id, node_host)
            except FileNotFoundError as e:
                raise LauncherError(str(e)) from None
        self.config = dataclasses.replace(self.config, nodes=[*self.config.nodes, added])
        self.config_path.write_text(self.config.to_toml())
        self._spawn(node_id)
        return node_id

    def stop_node(self, node_id: int, timeout_s: float = 10.0) -> int:
        """Stops one node for good (a member removed from the configuration): SIGTERM, SIGKILL
        at the deadline; returns its exit status. It counts as stopped on purpose."""
        proc = self._procs[node_id]
        self._killed.add(node_id)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        return proc.wait()

    def forget_node(self, node_id: int, set_data_aside: bool) -> None:
        """Takes a stopped node out of the cluster file (an addition undone: it is in no
        configuration), so that the next `add_node` takes its id again and the file lists no
        member that never was. With `set_data_aside` (it never joined: its log holds nothing
        anyone needs) its data directory is renamed `node-N.undone-K`, so that the next node
        under its id starts empty and whatever made this one fail stays for a look; without
        (it was a member once), the next node under its id keeps the log, votes included."""
        proc = self._procs.get(node_id)
        if proc is not None and proc.poll() is None:
            raise LauncherError(f"node {node_id} still runs: stop it first")
        data = self.config.data_path / f"node-{node_id}"
        if set_data_aside and data.exists():
            k = 1
            while data.with_name(f"{data.name}.undone-{k}").exists():
                k += 1
            data.rename(data.with_name(f"{data.name}.undone-{k}"))
        nodes = [n for n in self.config.nodes if n.id != node_id]
        self.config = dataclasses.replace(self.config, nodes=nodes)
        self.config_path.write_text(self.config.to_toml())
        self._procs.pop(node_id, None)
        self._killed.discard(node_id)

    def stopped_on_purpose(self, node_id: int) -> bool:
        """Whether the node was stopped by `kill`, `stop_node` or found exited by
        `wait_exit` (and not started again since)."""
        return node_id in self._killed

    def kill(self, node_id: int, sig: int = signal.SIGKILL) -> int:
        """Sends `sig` to a node and waits for it to exit; returns its exit status."""
        proc = self._procs[node_id]
        self._killed.add(node_id)
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait()

    def restart(self, node_id: int, timeout_s: float = 10.0) -> None:
        """Stops a node if it runs (SIGTERM, then SIGKILL at the deadline) and starts it again
        over the same data directory."""
        proc = self._procs[node_id]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._spawn(node_id)

    @staticmethod
    def node_host(node_id: int) -> str:
        """The loopback address of a node with `host_per_node`."""
        assert 1 <= node_id <= MAX_NODES, node_id
        return f"127.0.0.{LOOPBACK_HOST_BASE + node_id}"

    def wait_exit(self, node_id: int, timeout_s: float) -> int:
        """Waits for a node to exit on its own (a node refusing to start); returns its exit
        status, TimeoutError at the deadline. The node then counts as stopped on purpose."""
        try:
            status = self._procs[node_id].wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"node {node_id} still running after {timeout_s:g} s") from None
        self._killed.add(node_id)
        return status

    def log_path(self, node_id: int) -> Path:
        return self.data_dir / f"node-{node_id}.log"

    def fault_socket(self, node_id: int) -> Path:
        """Where the node serves its fault switches, with `fault_control`."""
        return self.data_dir / f"node-{node_id}.faults"

    @property
    def nodes(self) -> list[LocalNode]:
        result = []
        for n in self.config.nodes:
            proc = self._procs.get(n.id)
            running = proc is not None and proc.poll() is None
            pid = proc.pid if proc is not None and running else None
            result.append(LocalNode(n.id, pid, n.peer, n.client, n.metrics, self.log_path(n.id)))
        return result

    # --- waiting ------------------------------------------------------------------------
    def wait_ready(self, timeout_s: float = 30.0) -> int:
        """Waits until every node answers PING on its client port and all of them name the same
        leader in `INFO senate`, which says it leads; returns the leader's id. Nodes stopped
        with `kill` are left out. Raises `LauncherError` with the tail of its log if a node
        exits meanwhile, TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout_s
        waiting_for = "every node to answer PING"
        while time.monotonic() < deadline:
            self._check_alive()
            running = [n for n in self.config.nodes if n.id not in self._killed]
            if all(_pings(n.client, self.client_security) for n in running):
                waiting_for = "a leader"
                leader = _agreed_leader(running, self.client_security)
                if leader is not None:
                    return leader
            time.sleep(0.05)
        raise TimeoutError(
            f"local cluster not ready after {timeout_s:g} s: waiting for {waiting_for}"
        )

    def _check_alive(self) -> None:
        for node_id, proc in self._procs.items():
            status = proc.poll()
            if status is not None and node_id not in self._killed:
                path = self.log_path(node_id)
                raise LauncherError(
                    f"node {node_id} exited with status {status}; the end of {path}:\n"
                    f"{log_tail(path)}"
                )


def _pings(address: str, security: ClientSecurity | None) -> bool:
    with contextlib.suppress(OSError, RespError):
        reply = resp_call(
            parse_host_port(address), "PING", timeout_s=PROBE_TIMEOUT_S, security=security
        )
        return reply == "PONG"
    return False


def _agreed_leader(nodes: Sequence[NodeAddresses], security: ClientSecurity | None) -> int | None:
    """The leader every node in `nodes` names, one of them saying it is that leader; None
    until they agree (a node that has not heard from the new leader yet, or a second
    election right after the first, would fail the first requests sent to it)."""
    leaders: set[int | None] = set()
    leading: set[int] = set()
    for node in nodes:
        info = None
        with contextlib.suppress(OSError, RespError, ValueError):
            reply = resp_call(
                parse_host_port(node.client),
                "INFO",
                "senate",
                timeout_s=PROBE_TIMEOUT_S,
                security=security,
            )
            if isinstance(reply, bytes):
                info = SenateInfo.parse(reply.decode(errors="replace"))
        if info is None:
            return None
        leaders.add(info.leader)
        if info.role == "leader":
            leading.add(info.node_id)
    if len(leaders) == 1 and leading == leaders:
        return leading.pop()
    return None
