"""Mutual TLS between peers in one process, on real sockets (asyncio's loop and uvloop): a
connection is taken only with a certificate of the cluster's CA naming the id claimed, every
other is refused with its reason; certificates are replaced without a restart. The clusters of
`senate serve` processes are in test_peer_tls_cluster.py."""

from __future__ import annotations

import asyncio
import datetime
import errno
import re
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cluster import free_ports
from intruder import client_context, high_term_frames, intrude, presented_serial
from senate import Node, ReplCounter
from senate.errors import ConfigError
from senate.runtime.metrics import NodeMetrics
from senate.runtime.transport import HELLO, HELLO_MAGIC, PeerConnection, Transport, encode_hello
from senate.security.certs import (
    Issued,
    issue_node,
    load_ca,
    make_ca,
    write_cluster_certs,
    write_issued,
)
from senate.security.peer_tls import PeerTls, identity_problem
from senate.security.tls_files import TlsFiles
from waiting import until

CLUSTER = "senate"
IDS = (1, 2, 3)
LOCALHOST = "127.0.0.1"
DEADLINE_S = 20.0
#: Tries at starting in-process nodes on ports picked free (another process may take one).
PORT_ATTEMPTS = 3


@dataclass
class Certs:
    directory: Path
    files: dict[int, TlsFiles]
    ca: Issued


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    directory = tmp_path / "certs"
    files = write_cluster_certs(directory, CLUSTER, {i: [] for i in IDS})
    return Certs(directory, files, load_ca(directory))


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Iterator[Callable[[Coroutine[Any, Any, None]], None]]:
    """Runs a test's coroutine on each event loop the runtime may use."""
    if request.param == "uvloop":
        import uvloop

        yield uvloop.run
    else:
        yield asyncio.run


class Received:
    """What a transport handed to its node: every connection's input."""

    def __init__(self) -> None:
        self.data: dict[int | None, bytes] = {}

    def __call__(self, conn: PeerConnection) -> None:
        self.data[conn.peer_id] = self.data.get(conn.peer_id, b"") + conn.take_input()


def transport(
    node_id: int, files: TlsFiles | None, peers: dict[int, tuple[str, int]], got: Received
) -> Transport:
    tls = PeerTls(files, CLUSTER, node_id) if files is not None else None
    return Transport(node_id, CLUSTER, (LOCALHOST, 0), peers, got, tls=tls)


def test_three_transports_connect_over_tls_and_carry_frames(
    certs: Certs, run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    async def scenario() -> None:
        got = {i: Received() for i in IDS}
        nodes: dict[int, Transport] = {}
        for i in sorted(IDS, reverse=True):  # the higher ids accept: start them first
            peers = {j: (LOCALHOST, nodes[j].port) for j in IDS if j > i}
            peers.update({j: (LOCALHOST, 1) for j in IDS if j < i})  # never dialed
            nodes[i] = transport(i, certs.files[i], peers, got[i])
            await nodes[i].start()
        try:
            await until(
                "every pair connected", lambda: all(len(nodes[i].connected()) == 2 for i in IDS)
            )
            assert nodes[1].send(3, b"from one")
            assert nodes[3].send(1, b"from three")
            await until("frames both ways", lambda: got[3].data.get(1) and got[1].data.get(3))
            assert got[3].data[1] == b"from one"
            assert got[1].data[3] == b"from three"
            assert all(nodes[i].refused_connections == 0 for i in IDS)
        finally:
            for node in nodes.values():
                await node.stop()

    run(scenario())


def other_ca_files(certs: Certs, tmp_path: Path, node_id: int) -> TlsFiles:
    other = make_ca("another CA")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "ca.crt").write_bytes(other.cert_pem)
    return write_issued(tmp_path / "other", f"node-{node_id}", issue_node(other, CLUSTER, node_id))


def expired_files(certs: Certs, tmp_path: Path, node_id: int) -> TlsFiles:
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    issued = issue_node(certs.ca, CLUSTER, node_id, valid_days=1, not_before=long_ago)
    return write_issued(certs.directory, f"expired-{node_id}", issued)


#: Each intruder: the certificate it shows (None: none), whose it is, and the reason the node
#: gives. All claim to be node 1, dialing node 2.
INTRUDERS = {
    "no certificate": "no_certificate",
    "another CA": "unknown_ca",
    "expired": "expired",
    "node 3's, claiming node 1": "identity",
    "no TLS at all": "not_tls",
}


@pytest.mark.parametrize("case", sorted(INTRUDERS))
def test_an_intruder_is_refused_with_its_reason_and_reaches_nothing(
    certs: Certs,
    tmp_path: Path,
    run: Callable[[Coroutine[Any, Any, None]], None],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca = certs.files[2].ca_file
    contexts: dict[str, ssl.SSLContext | None] = {
        "no certificate": client_context(ca, None, None),
        "no TLS at all": None,
    }
    if case == "another CA":
        files = other_ca_files(certs, tmp_path, 1)
        contexts[case] = client_context(ca, files.cert_file, files.key_file)
    elif case == "expired":
        files = expired_files(certs, tmp_path, 1)
        contexts[case] = client_context(ca, files.cert_file, files.key_file)
    elif case == "node 3's, claiming node 1":
        files = certs.files[3]
        contexts[case] = client_context(ca, files.cert_file, files.key_file)
    frames = high_term_frames(1, 2)

    async def scenario() -> None:
        got = Received()
        node = transport(2, certs.files[2], {1: (LOCALHOST, 1), 3: (LOCALHOST, 1)}, got)
        await node.start()
        try:
            address = (LOCALHOST, node.port)
            result = await asyncio.to_thread(intrude, address, contexts[case], 1, 2, frames)
            assert not result.answered, result
            reason = INTRUDERS[case]
            await until("the refusal", lambda: node.refused_by_reason.get(reason) == 1)
            assert node.refused_connections == 1, node.refused_by_reason
            assert node.connected() == []
            assert got.data == {}
            assert f"refused connection ({reason})" in caplog.text
            # The same frames from the holder of node 1's certificate do arrive: the refusal
            # above is what kept them out.
            own = client_context(ca, certs.files[1].cert_file, certs.files[1].key_file)
            arrived = threading.Event()
            member = asyncio.create_task(
                asyncio.to_thread(_speak_as_member, address, own, frames, arrived)
            )
            await until("the member's frames", lambda: got.data.get(1) == frames)
            arrived.set()
            await member
        finally:
            await node.stop()

    run(scenario())


def _speak_as_member(
    address: tuple[str, int], context: ssl.SSLContext, frames: bytes, arrived: threading.Event
) -> None:
    """Node 1, with its own certificate: the node answers its hello; the connection stays
    open until the frames `arrived`."""
    with socket.create_connection(address, timeout=5) as raw, context.wrap_socket(raw) as sock:
        sock.sendall(encode_hello(CLUSTER, 1, 2) + frames)
        answer = b""
        while len(answer) < HELLO.size:
            answer += sock.recv(4096)
        assert answer.startswith(HELLO_MAGIC)
        assert arrived.wait(DEADLINE_S)


def test_the_dialer_refuses_a_node_whose_certificate_names_another(
    certs: Certs, run: Callable[[Coroutine[Any, Any, None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    """Node 1 dials node 2's address, where a process with node 3's certificate answers."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        impostor = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        impostor.load_cert_chain(certs.files[3].cert_file, certs.files[3].key_file)
        heard: list[bytes] = []

        class Listener(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                heard.append(data)

        server = await loop.create_server(Listener, LOCALHOST, 0, ssl=impostor)
        port = server.sockets[0].getsockname()[1]
        node = transport(1, certs.files[1], {2: (LOCALHOST, port), 3: (LOCALHOST, 1)}, Received())
        await node.start()
        try:
            await until("the refusal", lambda: node.refused_by_reason.get("identity"))
            assert node.connected() == []
            assert heard == [], "the dialer says nothing to an impostor"
            assert "names node-3.senate, but it claims node 2" in caplog.text
        finally:
            await node.stop()
            server.close()

    run(scenario())


def test_identity_problem_names_what_the_certificate_says() -> None:
    cert = {"subjectAltName": (("DNS", "node-3.senate"), ("IP Address", "127.0.0.1"))}
    assert identity_problem(cert, "senate", 3) is None
    assert "names node-3.senate, but it claims node 1" in str(identity_problem(cert, "senate", 1))
    assert identity_problem(cert, "prod", 3) is not None, "another cluster's node 3"
    assert "names no node" in str(identity_problem({}, "senate", 1))
    assert "names no node" in str(identity_problem(None, "senate", 1))


def test_a_node_does_not_start_with_files_that_do_not_fit(certs: Certs, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("names node-3.senate, not this node")):
        PeerTls(certs.files[3], CLUSTER, 1)  # another node's certificate
    mismatched = TlsFiles(certs.files[1].ca_file, certs.files[1].cert_file, certs.files[2].key_file)
    with pytest.raises(ConfigError, match="do they match"):
        PeerTls(mismatched, CLUSTER, 1)
    garbage = tmp_path / "garbage.crt"
    garbage.write_bytes(b"not a certificate")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "garbage.crt"))):
        PeerTls(TlsFiles(certs.files[1].ca_file, str(garbage), certs.files[1].key_file), CLUSTER, 1)


def test_rotated_certificates_are_taken_without_a_restart(
    certs: Certs, run: Callable[[Coroutine[Any, Any, None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    """A new certificate of the same CA is taken when its file changes; a bad one is logged
    and the one in use kept; a second CA appended to the CA file is trusted from then on."""
    files = certs.files[2]
    as_node_1 = client_context(files.ca_file, certs.files[1].cert_file, certs.files[1].key_file)

    async def scenario() -> None:
        node = transport(2, files, {1: (LOCALHOST, 1), 3: (LOCALHOST, 1)}, Received())
        await node.start()
        address = (LOCALHOST, node.port)
        try:
            assert node.tls is not None
            first = await asyncio.to_thread(presented_serial, address, as_node_1)
            assert first == node.tls.contexts.serial
            # A new certificate, written over the old files: taken on the next poll.
            write_issued(certs.directory, "node-2", issue_node(certs.ca, CLUSTER, 2))
            second = await _wait_serial(address, as_node_1, lambda s: s != first)
            # A bad certificate: logged, the one in use kept.
            Path(files.cert_file).write_bytes(b"half written")
            await until("the failed reload", lambda: node.tls and node.tls.reload_failures >= 1)
            assert "new TLS files not taken" in caplog.text
            assert await asyncio.to_thread(presented_serial, address, as_node_1) == second
            assert not node.reload_tls()
            # A CA rotation: the new CA appended, node 2 re-issued by it; node 1 still holds
            # a certificate of the old CA and is still taken, and so is one of the new CA.
            new_ca = make_ca("the next CA")
            with open(files.ca_file, "ab") as f:
                f.write(new_ca.cert_pem)
            write_issued(certs.directory, "node-2", issue_node(new_ca, CLUSTER, 2))
            assert node.reload_tls()
            both_cas = client_context(
                files.ca_file, certs.files[1].cert_file, certs.files[1].key_file
            )
            assert (
                await asyncio.to_thread(presented_serial, address, both_cas)
                == node.tls.contexts.serial
            )
            renewed = write_issued(
                certs.directory.parent / "next", "node-1", issue_node(new_ca, CLUSTER, 1)
            )
            of_new_ca = client_context(files.ca_file, renewed.cert_file, renewed.key_file)
            assert (
                await asyncio.to_thread(presented_serial, address, of_new_ca)
                == node.tls.contexts.serial
            )
            assert node.refused_connections == 0, node.refused_by_reason
        finally:
            await node.stop()

    run(scenario())


async def _wait_serial(
    address: tuple[str, int], context: ssl.SSLContext, ok: Callable[[int], bool]
) -> int:
    seen: list[int] = []

    def check() -> bool:
        seen.append(presented_serial(address, context))
        return ok(seen[-1])

    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while not await asyncio.to_thread(check):
        assert loop.time() < end, f"still presenting serial {seen[-1]:x}"
        await asyncio.sleep(0.05)
    return seen[-1]


def test_embedded_nodes_with_tls_elect_commit_reload_and_count_refusals(
    certs: Certs, tmp_path: Path, run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    """`Node(tls=...)`, the embedding API: three nodes elect and commit over TLS; a node's
    `reload_tls` takes its files again; a refused peer shows in the node's metrics."""

    async def scenario() -> None:
        for attempt in range(PORT_ATTEMPTS):  # ports picked then bound: retried if taken
            peers = {i: f"{LOCALHOST}:{p}" for i, p in zip(IDS, free_ports(len(IDS)), strict=True)}
            counters = {i: ReplCounter() for i in IDS}
            metrics = {i: NodeMetrics(i) for i in IDS}
            nodes = {
                i: Node(counters[i], metrics=metrics[i], id=i, peers=peers, tls=certs.files[i])
                for i in IDS
            }
            try:
                for node in nodes.values():
                    await node.start()
                break
            except OSError as e:
                for node in nodes.values():
                    await node.stop()
                if e.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1:
                    raise
        try:
            leader = await until(
                "a leader", lambda: next((i for i in IDS if nodes[i].role == "leader"), None)
            )
            assert await counters[leader].add(5) == 5
            applied = nodes[leader].applied_index
            await until(
                "every node applying",
                lambda: all(n.applied_index >= applied for n in nodes.values()),
            )
            assert nodes[2].reload_tls()
            address = (LOCALHOST, nodes[3].peer_port)
            no_cert = client_context(certs.files[3].ca_file, None, None)
            result = await asyncio.to_thread(intrude, address, no_cert, 1, 3, b"")
            assert not result.answered
            sample = "senate_peer_connections_refused_total"
            labels = {"node": "3", "reason": "no_certificate"}
            await until(
                "the refusal counted",
                lambda: metrics[3].registry.get_sample_value(sample, labels) == 1,
            )
            assert await counters[leader].add(1) == 6, "the cluster goes on"
        finally:
            for node in nodes.values():
                await node.stop()

    run(scenario())
