"""A 3-node cluster of `senate serve` processes with mutual TLS between peers (uvloop, as
served): it elects and commits; intruders on a peer port (no certificate, another CA's, an
expired one, node 3's claiming node 1, random bytes plain and after TLS) are refused with
the reason logged, and the cluster's term and log stay as they were; a certificate replaced
on disk and announced with SIGHUP is presented to the next connection. Client ports stay plain
here: their TLS is tested with the clients."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster import free_base_port
from intruder import client_context, high_term_frames, intrude, presented_serial
from senate.launcher import SERVE_COMMAND, LocalCluster
from senate.runtime.transport import encode_hello, parse_host_port
from senate.security.certs import (
    issue_node,
    load_ca,
    make_ca,
    write_cluster_certs,
    write_issued,
)
from senate.status import RespError, SenateInfo, resp_call
from waiting import wait_until

CLUSTER = "senate"
DEADLINE_S = 30.0
#: Long enough that a loaded machine (2 cores, other tests) does not elect anew meanwhile:
#: the tests compare terms before and after.
SETTINGS = {"tick_ms": 10, "election_timeout_ticks": 100}


def start_cluster(root: Path) -> LocalCluster:
    certs = root / "certs"
    write_cluster_certs(certs, CLUSTER, {1: [], 2: [], 3: []})
    tls = {"ca": str(certs / "ca.crt"), "peers": True, "clients": False, "metrics": False}
    cluster = LocalCluster(
        3,
        data_dir=root / "cluster",
        base_port=free_base_port(3),
        fsync=False,
        overrides={**SETTINGS, "tls": tls},
    )
    cluster.start()
    return cluster


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("peer-tls"))
    try:
        cluster.wait_ready(DEADLINE_S)
        yield cluster
    finally:
        cluster.close()


def info(cluster: LocalCluster, node_id: int) -> SenateInfo:
    client = next(n.client for n in cluster.nodes if n.id == node_id)
    reply = resp_call(parse_host_port(client), "INFO", "senate", timeout_s=2.0)
    assert isinstance(reply, bytes)
    return SenateInfo.parse(reply.decode())


def state(cluster: LocalCluster) -> dict[int, tuple[int, int, int]]:
    """Each node's term, commit index and last index."""
    states = {}
    for i in cluster.config.ids:
        s = info(cluster, i)
        states[i] = (s.term, s.commit_index, s.last_index)
    return states


def settled(cluster: LocalCluster) -> dict[int, tuple[int, int, int]]:
    """The state once every node has the leader's log (nothing in flight)."""
    cluster.wait_ready(DEADLINE_S)

    def same() -> dict[int, tuple[int, int, int]] | None:
        s = state(cluster)
        return s if len(set(s.values())) == 1 else None

    result: dict[int, tuple[int, int, int]] = wait_until("the nodes agreeing", same)
    return result


def peer_address(cluster: LocalCluster, node_id: int) -> tuple[str, int]:
    return parse_host_port(next(n.peer for n in cluster.nodes if n.id == node_id))


def certs_dir(cluster: LocalCluster) -> Path:
    return cluster.data_dir.parent / "certs"


def set_ok(cluster: LocalCluster, node_id: int, key: str, value: str) -> bool:
    client = next(n.client for n in cluster.nodes if n.id == node_id)
    try:
        return resp_call(parse_host_port(client), "SET", key, value, timeout_s=2.0) == "OK"
    except (OSError, RespError):
        return False


def test_a_tls_cluster_elects_and_commits(tls_cluster: LocalCluster) -> None:
    leader = tls_cluster.wait_ready(DEADLINE_S)
    wait_until("a write", lambda: set_ok(tls_cluster, leader, "k", "v"))
    s = settled(tls_cluster)
    assert all(commit >= 1 for _term, commit, _last in s.values())
    for node_id in tls_cluster.config.ids:
        log = tls_cluster.log_path(node_id).read_text()
        assert "refused connection" not in log


def intruder_context(cluster: LocalCluster, tmp_path: Path, case: str) -> ssl.SSLContext:
    certs = certs_dir(cluster)
    ca_file = str(certs / "ca.crt")
    if case == "no certificate":
        return client_context(ca_file, None, None)
    if case == "another CA":
        issued = issue_node(make_ca("another CA"), CLUSTER, 1)
    elif case == "expired":
        long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
        issued = issue_node(load_ca(certs), CLUSTER, 1, valid_days=1, not_before=long_ago)
    else:
        assert case == "node 3's, claiming node 1"
        return client_context(ca_file, str(certs / "node-3.crt"), str(certs / "node-3.key"))
    files = write_issued(tmp_path, "intruder", issued)
    return client_context(ca_file, files.cert_file, files.key_file)


INTRUDERS = {
    "no certificate": "no_certificate",
    "another CA": "unknown_ca",
    "expired": "expired",
    "node 3's, claiming node 1": "identity",
}


@pytest.mark.parametrize("case", sorted(INTRUDERS))
def test_an_intruder_is_refused_and_the_cluster_untouched(
    tls_cluster: LocalCluster, tmp_path: Path, case: str
) -> None:
    """Each intruder dials node 3 as node 1 and, if let through, would send a vote request
    and appends at term 1000: the node refuses it, logs why, and no term moves."""
    before = settled(tls_cluster)
    log_path = tls_cluster.log_path(3)
    log_start = log_path.stat().st_size
    context = intruder_context(tls_cluster, tmp_path, case)
    result = intrude(peer_address(tls_cluster, 3), context, 1, 3, high_term_frames(1, 3))
    assert not result.answered, result
    reason = INTRUDERS[case]

    def logged() -> bool:
        with log_path.open("rb") as f:
            f.seek(log_start)
            return f"refused connection ({reason})".encode() in f.read()

    wait_until(f"node 3 logging the refusal ({reason})", logged)
    assert settled(tls_cluster) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=512), after_tls=st.booleans(), with_hello=st.booleans())
def test_random_bytes_on_a_peer_port_change_nothing(
    tls_cluster: LocalCluster, data: bytes, after_tls: bool, with_hello: bool
) -> None:
    """Random bytes as the TLS handshake, or inside TLS (with node 1's certificate: a member's
    key, so only the hello and the core's frame checks stand) where they follow a hello or
    stand in for it. The node stays up and its term does not move."""
    certs = certs_dir(tls_cluster)
    address = peer_address(tls_cluster, 3)
    before = info(tls_cluster, 3).term
    raw = socket.create_connection(address, timeout=5)
    sock: socket.socket = raw
    try:
        if after_tls:
            context = client_context(
                str(certs / "ca.crt"), str(certs / "node-1.crt"), str(certs / "node-1.key")
            )
            sock = context.wrap_socket(raw)
            if with_hello:
                data = encode_hello(CLUSTER, 1, 3) + data
        sock.sendall(data)
        sock.settimeout(0.2)
        while sock.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass  # refused, closed or timed out: each is fine
    finally:
        sock.close()
        raw.close()
    assert info(tls_cluster, 3).term == before


def test_random_bytes_left_the_cluster_as_it_was(tls_cluster: LocalCluster) -> None:
    """Run after the hypothesis test (pytest keeps the file's order): every node still up,
    one leader, writes commit."""
    leader = tls_cluster.wait_ready(DEADLINE_S)
    wait_until("a write", lambda: set_ok(tls_cluster, leader, "after", "bytes"))
    settled(tls_cluster)


def test_a_certificate_replaced_and_announced_with_sighup_is_presented(
    tls_cluster: LocalCluster,
) -> None:
    certs = certs_dir(tls_cluster)
    address = peer_address(tls_cluster, 2)
    as_node_1 = client_context(
        str(certs / "ca.crt"), str(certs / "node-1.crt"), str(certs / "node-1.key")
    )
    first = presented_serial(address, as_node_1)
    issued = issue_node(load_ca(certs), CLUSTER, 2)
    write_issued(certs, "node-2", issued)
    new_serial = x509.load_pem_x509_certificate(issued.cert_pem).serial_number
    assert new_serial != first
    pid = next(n.pid for n in tls_cluster.nodes if n.id == 2)
    assert pid is not None
    os.kill(pid, signal.SIGHUP)
    wait_until("the new certificate", lambda: presented_serial(address, as_node_1) == new_serial)
    log = tls_cluster.log_path(2).read_text()
    assert "TLS files reloaded" in log
    wait_until(
        "the SIGHUP", lambda: "SIGHUP: TLS files reloaded" in tls_cluster.log_path(2).read_text()
    )
    # Established links were kept; a node restarting later dials with the new certificate.
    leader = tls_cluster.wait_ready(DEADLINE_S)
    wait_until("a write", lambda: set_ok(tls_cluster, leader, "rotated", "yes"))


def test_a_member_with_its_own_key_does_move_the_term(tmp_path: Path) -> None:
    """The control of the intruder tests: the same frames sent with node 1's own certificate
    (a member's key) reach node 3 and raise its term, so the tests above can fail."""
    cluster = start_cluster(tmp_path)
    try:
        before = settled(cluster)
        certs = certs_dir(cluster)
        context = client_context(
            str(certs / "ca.crt"), str(certs / "node-1.crt"), str(certs / "node-1.key")
        )
        with (
            socket.create_connection(peer_address(cluster, 3), timeout=5) as raw,
            context.wrap_socket(raw) as sock,
        ):
            sock.sendall(encode_hello(CLUSTER, 1, 3) + high_term_frames(1, 3))
            wait_until("node 3 taking term 1000", lambda: info(cluster, 3).term > 1000)
        assert before[3][0] < 1000
    finally:
        cluster.close()


def test_a_node_given_another_nodes_certificate_refuses_to_start(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    write_cluster_certs(certs, CLUSTER, {1: [], 2: [], 3: []})
    base = free_base_port(3)
    lines = [f'data_dir = "{tmp_path / "data"}"', "", "[tls]", f'ca = "{certs / "ca.crt"}"']
    for i in (1, 2, 3):
        cert = "node-3" if i == 1 else f"node-{i}"
        lines += ["", "[[nodes]]", f"id = {i}", f'peer = "127.0.0.1:{base + i}"']
        lines += [f'client = "127.0.0.1:{base + 100 + i}"']
        lines += [f'cert = "{certs / cert}.crt"', f'key = "{certs / cert}.key"']
    config = tmp_path / "cluster.toml"
    config.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [*SERVE_COMMAND, "--config", str(config), "--id", "1"],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "error: node 1 refuses to start" in done.stderr
    assert "names node-3.senate, not this node (node-1.senate)" in done.stderr
