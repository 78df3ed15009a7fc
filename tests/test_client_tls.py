"""TLS on the client port, with real clients: redis-cli, redis-py, `senate.Client`,
`senate status`, the load generator and an HTTPS scrape of the metrics, against a local
cluster of `senate serve` processes made with `tls=True` (the certificates of
`senate cluster --tls`) whose nodes require client certificates; a certificate replaced
on disk is served without a restart; random bytes, before or inside TLS, leave a node
serving. The verify modes none / optional / required are checked against an in-process
server.

One cluster serves the module; waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster import free_base_port, free_ports
from senate import Client, ClientSecurity, Node, kv
from senate.launcher import LocalCluster, LocalNode
from senate.loadgen_process import run_load_subprocess
from senate.loadspec import LoadSpec
from senate.local_certs import CERTS_DIR
from senate.runtime.transport import parse_host_port
from senate.security.certs import CLIENT_NAME, issue, issue_node, load_ca, make_ca, write_issued
from senate.security.server_tls import ServerTls
from senate.status import RespError, probe, resp_call
from waiting import wait_until

REDIS_CLI = shutil.which("redis-cli")
READY_S = 60.0


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("tls")
    with LocalCluster(
        3,
        data_dir=root / "cluster",
        base_port=free_base_port(3),
        fsync=False,
        tls=True,
        client_certs="required",
    ) as cluster:
        cluster.wait_ready(READY_S)
        yield cluster


def certs_dir(cluster: LocalCluster) -> Path:
    return cluster.data_dir / CERTS_DIR


def security(cluster: LocalCluster) -> ClientSecurity:
    security = cluster.client_security
    assert security is not None
    assert security.cert_file is not None, "the nodes require a client certificate"
    return security


def redis_cli(node: LocalNode, *args: str) -> subprocess.CompletedProcess[str]:
    assert REDIS_CLI is not None
    host, port = parse_host_port(node.client)
    command = [REDIS_CLI, "-h", host, "-p", str(port), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def redis_cli_tls(
    cluster: LocalCluster, node: LocalNode, *args: str, cert: bool = True
) -> subprocess.CompletedProcess[str]:
    certs = certs_dir(cluster)
    mine = ["--cert", str(certs / "client.crt"), "--key", str(certs / "client.key")]
    tls = ["--tls", "--cacert", str(certs / "ca.crt"), *(mine if cert else [])]
    return redis_cli(node, *tls, *args)


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")
def test_redis_cli_over_tls_shows_a_certificate_or_is_refused(tls_cluster: LocalCluster) -> None:
    first, second, _ = tls_cluster.nodes
    assert redis_cli_tls(tls_cluster, first, "SET", "tls:cli", "v").stdout.strip() == "OK"
    got = redis_cli_tls(tls_cluster, second, "GET", "tls:cli")  # a follower too
    assert got.stdout.strip() == "v"
    # The server closes the connection: redis-cli says so, or dies of the broken pipe.
    refused = redis_cli_tls(tls_cluster, first, "GET", "tls:cli", cert=False)
    assert refused.returncode != 0
    assert refused.stdout.strip() != "v"
    plain = redis_cli(first, "GET", "tls:cli")
    assert plain.returncode != 0
    assert plain.stdout.strip() != "v"


def test_redis_py_with_ssl_true_and_a_client_certificate(tls_cluster: LocalCluster) -> None:
    node = tls_cluster.nodes[0]
    host, port = parse_host_port(node.client)
    certs = certs_dir(tls_cluster)
    with redis.Redis(
        host=host,
        port=port,
        ssl=True,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "client.crt"),
        ssl_keyfile=str(certs / "client.key"),
        socket_timeout=30,
    ) as client:
        assert client.set("tls:py", "1")
        assert client.incr("tls:py") == 2
    without_cert = redis.Redis(host=host, port=port, ssl=True, ssl_ca_certs=str(certs / "ca.crt"))
    with pytest.raises(redis.ConnectionError):
        without_cert.ping()
    without_cert.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host=host, port=port, socket_timeout=5).ping()  # plain TCP


def test_a_certificate_of_another_ca_is_refused(tls_cluster: LocalCluster, tmp_path: Path) -> None:
    other = make_ca("another CA")
    files = write_issued(tmp_path, CLIENT_NAME, issue(other, CLIENT_NAME, [CLIENT_NAME]))
    stranger = ClientSecurity(
        tls=True,
        ca_file=security(tls_cluster).ca_file,
        cert_file=files.cert_file,
        key_file=files.key_file,
    )
    address = parse_host_port(tls_cluster.nodes[0].client)
    with pytest.raises((OSError, RespError)):
        resp_call(address, "PING", timeout_s=10, security=stranger)
    assert resp_call(address, "PING", timeout_s=10, security=security(tls_cluster)) == "PONG"


def test_senate_client_over_tls(tls_cluster: LocalCluster) -> None:
    endpoints = [node.client for node in tls_cluster.nodes]

    async def main() -> None:
        async with Client(endpoints, security=security(tls_cluster), timeout_s=20) as client:
            assert await client.set("tls:client", "v")
            assert await client.get("tls:client") == b"v"
            assert await client.incr("tls:client:n") == 1
            assert client.leader is not None

    asyncio.run(main())


def senate_status(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "senate", "status", "--json", "--timeout", "10", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_senate_status_takes_tls_from_the_cluster_file_or_the_options(
    tls_cluster: LocalCluster,
) -> None:
    done = senate_status("--config", str(tls_cluster.config_path))
    assert done.returncode == 0, done.stderr
    assert [r["up"] for r in json.loads(done.stdout)] == [True, True, True]
    node = tls_cluster.nodes[1]
    certs = certs_dir(tls_cluster)
    given = ["--endpoints", node.client, "--tls", "--cacert", str(certs / "ca.crt")]
    mine = ["--cert", str(certs / "client.crt"), "--key", str(certs / "client.key")]
    done = senate_status(*given, *mine)
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["up"]
    assert report["id"] == node.id
    done = senate_status(*given)  # no client certificate: refused
    assert done.returncode == 1
    (report,) = json.loads(done.stdout)
    assert not report["up"]
    assert report["error"]
    report = probe(node.client, timeout_s=10, security=security(tls_cluster))
    assert report.up


def scrape(address: str, context: ssl.SSLContext) -> str:
    with urllib.request.urlopen(f"https://{address}/metrics", context=context, timeout=30) as r:
        text: str = r.read().decode()
        return text


def test_metrics_over_https_with_a_client_certificate(tls_cluster: LocalCluster) -> None:
    node = tls_cluster.nodes[0]
    assert node.metrics is not None
    context = security(tls_cluster).ssl_context()
    assert context is not None
    assert f'senate_term{{node="{node.id}"}}' in scrape(node.metrics, context)
    anonymous = ClientSecurity(tls=True, ca_file=security(tls_cluster).ca_file).ssl_context()
    assert anonymous is not None
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        scrape(node.metrics, anonymous)


def test_the_load_generator_over_tls(tls_cluster: LocalCluster) -> None:
    endpoints = tuple(node.client for node in tls_cluster.nodes)
    spec = LoadSpec(
        endpoints=endpoints,
        clients=3,
        pipeline=2,
        duration_s=0.3,
        warmup_s=0.0,
        security=security(tls_cluster),
    )
    assert "--tls" in spec.to_args()
    result = run_load_subprocess(spec)
    assert result.ok, result.error_messages
    assert result.ops > 0
    assert result.spec.security == spec.security
    through_client = dataclasses.replace(spec, client="senate", pipeline=1)
    result = run_load_subprocess(through_client)
    assert result.ok, result.error_messages
    assert result.ops > 0


def served_certificate(address: str, security: ClientSecurity) -> bytes:
    """The DER certificate a TLS handshake with `address` shows."""
    context = security.ssl_context()
    assert context is not None
    host, port = parse_host_port(address)
    with (
        socket.create_connection((host, port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der


def replace_file(path: Path, data: bytes) -> None:
    """Writes `data` beside `path` and renames it over `path` (as a renewal should)."""
    temporary = path.with_suffix(path.suffix + ".new")
    temporary.write_bytes(data)
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def test_a_renewed_certificate_is_served_without_a_restart(tls_cluster: LocalCluster) -> None:
    node = tls_cluster.nodes[2]
    assert node.metrics is not None
    client = security(tls_cluster)
    before = served_certificate(node.client, client)
    assert served_certificate(node.metrics, client) == before
    certs = certs_dir(tls_cluster)
    renewed = issue_node(load_ca(certs), "senate", node.id, ["127.0.0.1"])
    # The key first: until the certificate follows, the pair does not match and is refused.
    replace_file(certs / f"node-{node.id}.key", renewed.key_pem)
    replace_file(certs / f"node-{node.id}.crt", renewed.cert_pem)
    after = wait_until(
        "the renewed certificate on the client port",
        lambda: (der := served_certificate(node.client, client)) != before and der,
    )
    assert ssl.DER_cert_to_PEM_cert(after).strip() == renewed.cert_pem.decode().strip()
    wait_until(
        "the renewed certificate on the metrics endpoint",
        lambda: served_certificate(node.metrics or "", client) == after,
    )
    assert tls_cluster.nodes[2].pid == node.pid, "the node was not restarted"
    address = parse_host_port(node.client)
    assert resp_call(address, "PING", timeout_s=10, security=client) == "PONG"


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=512), after_tls=st.booleans())
def test_random_bytes_on_the_client_port_leave_the_node_serving(
    tls_cluster: LocalCluster, data: bytes, after_tls: bool
) -> None:
    """Random bytes as the TLS handshake, or inside TLS with the client certificate (as RESP
    input): the connection is answered or closed, and the node serves the next client."""
    node = tls_cluster.nodes[0]
    address = parse_host_port(node.client)
    raw = socket.create_connection(address, timeout=5)
    sock: socket.socket = raw
    try:
        if after_tls:
            context = security(tls_cluster).ssl_context()
            assert context is not None
            sock = context.wrap_socket(raw, server_hostname=address[0])
        sock.sendall(data)
        sock.settimeout(0.2)
        while sock.recv(4096):
            pass
    except OSError:
        pass  # refused, closed or timed out: each is fine
    finally:
        sock.close()
        raw.close()
    assert resp_call(address, "PING", timeout_s=10, security=security(tls_cluster)) == "PONG"
    assert tls_cluster.nodes[0].pid == node.pid


# --- the verify modes, on an in-process server ---------------------------------------------


@pytest.mark.parametrize(
    ("mode", "without_cert", "with_cert", "with_a_strangers_cert"),
    [
        ("none", True, True, True),  # not asked for: not checked either
        ("optional", True, True, False),
        ("required", False, True, False),
    ],
)
def test_client_certificate_modes(
    tmp_path: Path, mode: str, without_cert: bool, with_cert: bool, with_a_strangers_cert: bool
) -> None:
    ca = make_ca("test CA")
    node_files = write_issued(tmp_path, "node-1", issue_node(ca, "senate", 1))
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    mine = write_issued(tmp_path / "mine", CLIENT_NAME, issue(ca, CLIENT_NAME, [CLIENT_NAME]))
    other = make_ca("another CA")
    theirs = write_issued(tmp_path / "theirs", CLIENT_NAME, issue(other, CLIENT_NAME, []))
    ca_file = str(tmp_path / "ca.crt")

    def as_client(cert: str | None, key: str | None) -> ClientSecurity:
        return ClientSecurity(tls=True, ca_file=ca_file, cert_file=cert, key_file=key)

    async def main() -> list[bool]:
        peer_port, client_port = free_ports(2)
        machine = kv.KvMachine()
        node = Node(
            machine, id=1, peers={1: f"127.0.0.1:{peer_port}"}, data_dir=str(tmp_path / "d")
        )
        await node.start()
        tls = ServerTls(node_files, mode)
        server = kv.KvServer(node, machine, f"127.0.0.1:{client_port}", tls=tls)
        await server.start()
        outcomes = []
        try:
            for security in (
                as_client(None, None),
                as_client(mine.cert_file, mine.key_file),
                as_client(theirs.cert_file, theirs.key_file),
            ):
                call = asyncio.to_thread(
                    resp_call, ("127.0.0.1", server.port), "PING", timeout_s=10, security=security
                )
                try:
                    outcomes.append(await call == "PONG")
                except (OSError, RespError):
                    outcomes.append(False)
        finally:
            await server.stop()
            await node.stop()
        return outcomes

    assert asyncio.run(main()) == [without_cert, with_cert, with_a_strangers_cert]


def test_senate_bench_takes_tls_from_the_cluster_file(tls_cluster: LocalCluster) -> None:
    """`senate bench --config` loads the cluster of the file, over TLS with its CA and the
    client certificate beside it (its nodes require one)."""
    command = [
        sys.executable, "-m", "senate", "bench", "--config", str(tls_cluster.config_path),
        "--duration", "0.3", "--warmup", "0", "--clients", "2", "--pipeline", "2",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    total = next(line for line in done.stdout.splitlines() if line.strip().startswith("total"))
    assert int(total.split()[1].replace(",", "")) > 0  # ops/s
    assert int(total.split()[2]) == 0  # errors
