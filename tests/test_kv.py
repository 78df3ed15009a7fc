"""The replicated key-value service against real Redis clients: redis-cli, redis-py and
redis-benchmark, on a 3-node cluster of `senate serve` processes (fsync on).

One cluster serves the module; tests use their own keys. Waits are conditions with
deadlines.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cluster import free_base_port, free_ports
from senate import Node, kv, kv_machine
from senate._core import GROUP_LOG, GROUP_READ, RespSession, count_replies, encode_command
from senate.launcher import LocalCluster, LocalNode

pytestmark = pytest.mark.skipif(
    shutil.which("redis-cli") is None or shutil.which("redis-benchmark") is None,
    reason="redis-tools (redis-cli, redis-benchmark) not installed; .ci/run installs them",
)


#: Limits of the test cluster, low enough to test.
MAX_VALUE_BYTES = 1 << 20
MAX_CLIENTS = 100


def until(what: str, cond: Callable[[], Any], deadline_s: float = 20.0) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        try:
            value = cond()
        except (redis.ConnectionError, redis.ResponseError, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def client(node: LocalNode, **options: Any) -> Any:
    """A redis-py client of the node (typed Any: redis-py's own annotations cover its sync and
    async clients at once)."""
    host, port = host_port(node.client)
    return redis.Redis(host=host, port=port, socket_timeout=30, **options)


def info_senate(node: LocalNode) -> dict[str, str]:
    """The node's `INFO senate` section (redis-py parses INFO into a dict)."""
    info = client(node).info("senate")
    return {key: str(value) for key, value in info.items()}


@pytest.fixture(scope="module", params=["raft", "paxos"])
def kv_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LocalCluster]:
    """A 3-node key-value cluster of each protocol in turn (the module's tests run on both)."""
    root = tmp_path_factory.mktemp("kv")
    base = free_base_port(3)
    overrides = {
        "max_value_bytes": MAX_VALUE_BYTES,
        "max_clients": MAX_CLIENTS,
        "protocol": request.param,
    }
    with LocalCluster(
        nodes=3, data_dir=root / "data", base_port=base, fsync=True, overrides=overrides
    ) as cluster:
        cluster.wait_ready(timeout_s=60)
        yield cluster


def leader_and_follower(cluster: LocalCluster) -> tuple[LocalNode, LocalNode]:
    def role(node: LocalNode) -> str | None:
        try:
            return info_senate(node)["role"]
        except redis.ConnectionError:
            return None  # killed

    def find() -> tuple[LocalNode, LocalNode] | None:
        roles = {n.id: role(n) for n in cluster.nodes}
        leaders = [n for n in cluster.nodes if roles[n.id] == "leader"]
        followers = [n for n in cluster.nodes if roles[n.id] == "follower"]
        return (leaders[0], followers[0]) if leaders and followers else None

    found: tuple[LocalNode, LocalNode] = until("a leader and a follower", find)
    return found


def redis_cli(node: LocalNode, *args: str, stdin: str | None = None) -> str:
    host, port = host_port(node.client)
    done = subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


# --- redis-cli ---------------------------------------------------------------------------


def test_redis_cli_commands_on_leader_and_follower(kv_cluster: LocalCluster) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    for node, key in ((leader, "cli:l"), (follower, "cli:f")):
        assert redis_cli(node, "PING").strip() == "PONG"
        assert redis_cli(node, "SET", key, "hello").strip() == "OK"
        assert redis_cli(node, "GET", key).strip() == "hello"
        assert redis_cli(node, "APPEND", key, " world").strip() == "11"
        assert redis_cli(node, "INCR", f"{key}:n").strip() == "1"
        assert redis_cli(node, "INCRBY", f"{key}:n", "41").strip() == "42"
        assert redis_cli(node, "STRLEN", key).strip() == "11"
        assert redis_cli(node, "DEL", key, f"{key}:n", f"{key}:none").strip() == "2"
        assert redis_cli(node, "EXISTS", key).strip() == "0"
    # Every node saw both nodes' writes (the leader's reads are linearizable).
    assert redis_cli(leader, "MGET", "cli:l", "cli:f").split() == []  # both deleted: two nils
    out = redis_cli(leader, "--no-raw", "MGET", "cli:l", "cli:f")
    assert out.count("(nil)") == 2


def test_redis_cli_pipe_mode_on_follower(kv_cluster: LocalCluster) -> None:
    _, follower = leader_and_follower(kv_cluster)
    commands = "".join(f"SET pipe:{i} v{i}\r\n" for i in range(1000))
    out = redis_cli(follower, "--pipe", stdin=commands)
    assert "errors: 0, replies: 1000" in out, out
    assert redis_cli(follower, "GET", "pipe:999").strip() == "v999"


def test_unknown_command_and_wrong_arity_get_redis_errors(kv_cluster: LocalCluster) -> None:
    node = kv_cluster.nodes[0]
    r = client(node)
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCH'"):
        r.execute_command("NOSUCH", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
        r.execute_command("GET")
    r.set("arity:s", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("arity:s")
    assert r.ping()  # the connection is still usable


# --- redis-py ----------------------------------------------------------------------------


def test_redis_py_reads_its_writes_on_every_node(kv_cluster: LocalCluster) -> None:
    for node in kv_cluster.nodes:
        r = client(node)
        key = f"py:{node.id}"
        assert r.set(key, b"x" * 100)
        assert r.get(key) == b"x" * 100
        assert r.set(key, b"new", xx=True, get=True) == b"x" * 100
        assert r.set(key, b"nx", nx=True) is None
        assert r.getset(key, b"gs") == b"new"
        assert r.mset({f"{key}:a": 1, f"{key}:b": 2})
        assert r.mget(f"{key}:a", f"{key}:b", f"{key}:c") == [b"1", b"2", None]
        assert r.decrby(f"{key}:a", 5) == -4
        assert r.exists(key, f"{key}:a", f"{key}:c") == 2
    # A write on one node is read at once, linearizably, on every other node.
    for writer in kv_cluster.nodes:
        value = f"from-{writer.id}".encode()
        client(writer).set("py:shared", value)
        for reader in kv_cluster.nodes:
            assert client(reader).get("py:shared") == value


def test_pipelined_set_then_get_reads_its_own_write(kv_cluster: LocalCluster) -> None:
    _, follower = leader_and_follower(kv_cluster)
    r = client(follower)
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set("pl:k", i)
        pipe.get("pl:k")
        pipe.incr("pl:n")
    replies = pipe.execute()
    gets = replies[1::3]
    assert gets == [str(i).encode() for i in range(200)]
    assert replies[2::3] == list(range(1, 201))


def test_expiry_is_replicated(kv_cluster: LocalCluster) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    r = client(leader)
    assert r.set("ttl:k", "v", px=300)
    assert client(follower).get("ttl:k") == b"v"
    until("the key to expire on the leader", lambda: r.get("ttl:k") is None)
    until("the key to expire on the follower", lambda: client(follower).get("ttl:k") is None)
    with pytest.raises(redis.ResponseError, match="invalid expire time"):
        r.set("ttl:bad", "v", ex=0)


def test_readonly_connection_reads_stale_state_on_a_follower(kv_cluster: LocalCluster) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    client(leader).set("stale:k", "v1")
    r = client(follower, single_connection_client=True)
    assert r.execute_command("READONLY") in (b"OK", "OK", True)
    # A stale read may lag, but the follower catches up: wait for it.
    until("the follower to apply the write", lambda: r.get("stale:k") == b"v1")
    assert r.execute_command("READWRITE") in (b"OK", "OK", True)
    assert r.get("stale:k") == b"v1"


def test_info_shows_the_node(kv_cluster: LocalCluster) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    li, fi = info_senate(leader), info_senate(follower)
    assert li["role"] == "leader"
    assert fi["role"] == "follower"
    assert li["leader"] == fi["leader"] == str(leader.id)
    assert li["protocol"] == fi["protocol"] in ("raft", "paxos")
    if li["protocol"] == "raft":
        assert int(li["term"]) >= 1
    else:
        # The leader's ballot (round.node id), which every follower promised; the term is
        # its round (0 for the first leader).
        round_, node = li["ballot"].split(".")
        assert (int(round_), int(node)) >= (0, leader.id)
        assert node == str(leader.id)
        assert li["ballot"] == fi["ballot"]
        assert li["term"] == round_
    assert li["term"] == fi["term"]
    assert int(li["commit_index"]) >= int(li["applied_index"]) - 0 >= 1
    assert int(fi["pid"]) == follower.pid
    client(leader).set("info:ttl", "v", ex=1000)
    client(leader).set("info:plain", "v")
    full = client(leader).info()
    assert full["redis_version"]
    # Keys with a deadline, as Redis counts them (it was always 0).
    assert 1 <= full["db0"]["expires"] < full["db0"]["keys"]
    assert full["db0"]["expires"] == client(leader).info("keyspace")["db0"]["expires"]


def test_keys_dbsize_and_select(kv_cluster: LocalCluster) -> None:
    r = client(kv_cluster.nodes[1])
    r.mset({f"keys:{i}": i for i in range(20)})
    assert sorted(r.keys("keys:1?")) == sorted(f"keys:{i}".encode() for i in range(10, 20))
    assert r.dbsize() >= 20
    assert r.execute_command("SELECT", 0) in (b"OK", "OK", True)
    with pytest.raises(redis.ResponseError, match="out of range"):
        r.execute_command("SELECT", 1)


# --- redis-benchmark ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_redis_benchmark_runs_clean(kv_cluster: LocalCluster, role: str) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    node = leader if role == "leader" else follower
    host, port = host_port(node.client)
    done = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            host,
            "-p",
            str(port),
            "-t",
            "set,get,incr,mset",
            "-n",
            "2000",
            "-c",
            "10",
            "-P",
            "4",
            "-r",
            "100",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = {line.split(",")[0].strip('"'): line for line in done.stdout.splitlines()[1:]}
    assert {"SET", "GET", "INCR"} <= set(rows), (done.stdout, done.stderr)
    assert any(k.startswith("MSET") for k in rows), done.stdout
    for name, line in rows.items():
        rps = float(line.split(",")[1].strip('"'))
        assert rps > 0, (name, line)
    # INCR ran 2,000 times over keys counter:__rand_int__ and ... : the counters add up.
    r = client(leader)
    counters = r.keys("counter:*")
    assert counters
    assert sum(int(r.get(k) or 0) for k in counters) >= 2000


# --- bad input ---------------------------------------------------------------------------


def raw_exchange(node: LocalNode, data: bytes, timeout_s: float = 10.0) -> bytes:
    """Sends `data`, returns what the server answered until it closed or went quiet."""
    with socket.create_connection(host_port(node.client), timeout=timeout_s) as s:
        s.sendall(data)
        s.settimeout(1.0)
        chunks = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_quit_after_a_read_and_a_write_answers_both_then_closes(
    kv_cluster: LocalCluster, role: str
) -> None:
    """The write waits for the read before it (it must not be seen by it), and QUIT behind
    them closes the connection only after both are answered."""
    leader, follower = leader_and_follower(kv_cluster)
    node = leader if role == "leader" else follower
    key = f"quit:{role}".encode()
    commands = [[b"GET", key], [b"SET", key, b"v"], [b"GET", key], [b"QUIT"]]
    data = b"".join(encode_command(c) for c in commands)
    with socket.create_connection(host_port(node.client), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):  # until the server closes (or the timeout fails it)
            answer += chunk
    assert answer == b"$-1\r\n+OK\r\n$1\r\nv\r\n+OK\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\xff\x13garbage\r\n*x\r\n", re.compile(rb"^-ERR")),
        (b"*2\r\n$3\r\nGET\r\n$1099511627776\r\n", re.compile(rb"^-ERR Protocol error")),
        (
            b"*1000000\r\n$4\r\nPING\r\n",
            re.compile(rb"^-ERR Protocol error: invalid multibulk length\r\n$"),
        ),
        (b"*2\r\n$3\r\nGET\r\n$5\r\nab", re.compile(rb"^$")),  # unterminated: waits quietly
    ],
    ids=["garbage", "bulk-2^40", "million-array", "unterminated-bulk"],
)
def test_bad_input_loses_nothing(kv_cluster: LocalCluster, data: bytes, expected: Any) -> None:
    node = kv_cluster.nodes[0]
    r = client(node)
    r.set("bad:before", "kept")
    answer = raw_exchange(node, data)
    assert expected.match(answer), answer
    # The node serves other clients and lost nothing.
    assert r.get("bad:before") == b"kept"
    assert r.set("bad:after", "ok")
    assert client(kv_cluster.nodes[2]).get("bad:after") == b"ok"


def test_a_value_over_the_limit_is_an_error_and_the_connection_stays(
    kv_cluster: LocalCluster,
) -> None:
    node = kv_cluster.nodes[0]
    r = client(node, single_connection_client=True)
    limit = int(r.config_get("proto-max-bulk-len")["proto-max-bulk-len"])
    assert limit == MAX_VALUE_BYTES
    with pytest.raises(redis.ResponseError, match="too large"):
        r.set("big:k", b"x" * (limit + 1))
    assert r.set("big:k", b"x" * limit)
    assert r.strlen("big:k") == limit
    assert client(kv_cluster.nodes[1]).strlen("big:k") == limit


def test_clients_over_max_clients_are_refused(kv_cluster: LocalCluster) -> None:
    node = kv_cluster.nodes[2]
    socks: list[socket.socket] = []
    try:
        refused = b""
        for _ in range(MAX_CLIENTS + 1):
            s = socket.create_connection(host_port(node.client), timeout=10)
            socks.append(s)
            s.sendall(b"PING\r\n")
            answer = s.recv(100)
            if answer.startswith(b"-ERR max number of clients"):
                refused = answer
                break
            assert answer == b"+PONG\r\n"
        assert refused, "no connection was refused"
    finally:
        for s in socks:
            s.close()
    until("the node to serve again", lambda: client(node).ping())


def test_cluster_survives_killing_the_leader(kv_cluster: LocalCluster) -> None:
    leader, follower = leader_and_follower(kv_cluster)
    r = client(follower)
    for i in range(100):
        r.set(f"kill:{i}", i)
    kv_cluster.kill(leader.id)
    # Writes wait for the new leader, then go on.
    until("a write after the leader died", lambda: r.set("kill:after", "x"), deadline_s=30)
    new_leader, _ = leader_and_follower(kv_cluster)
    assert new_leader.id != leader.id
    kv_cluster.restart(leader.id)
    restarted = next(n for n in kv_cluster.nodes if n.id == leader.id)
    until(
        "the restarted node to catch up",
        lambda: client(restarted).get("kill:after") == b"x",
        deadline_s=60,
    )
    assert [client(restarted).get(f"kill:{i}") for i in range(100)] == [
        str(i).encode() for i in range(100)
    ]


def test_the_store_is_captured_for_a_snapshot_up_to_max_capture_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to `MAX_CAPTURE_KEYS` keys, a snapshot captures the store (the node goes on
    applying) and encodes the capture as the store was, whatever was written, deleted or
    flushed after; past it, the node encodes the store itself."""
    machine = kv.KvMachine()
    session = RespSession(max_value_bytes=1 << 20, max_batch_commands=100, client_id=1)

    def run(*command: bytes) -> None:
        for kind, payload in session.feed(encode_command(list(command)), 0):
            assert kind == GROUP_LOG
            machine.apply(payload)

    for i in range(2000):
        run(b"SET", b"k%d" % i, b"v%d" % i)
    run(b"SET", b"ttl", b"1", b"PX", b"100000")
    encode = machine.capture()
    assert encode is not None
    expected = machine.snapshot()
    run(b"SET", b"k1", b"changed")
    run(b"DEL", b"k2")
    run(b"APPEND", b"k3", b"more")
    run(b"SET", b"k4", b"1", b"PX", b"50000")  # a deadline changes: the expiry index too
    run(b"SET", b"new", b"1")
    assert encode() == expected, "the copy is the store as it was"
    second = machine.capture()
    assert second is not None
    expected_second = machine.snapshot()
    assert expected_second != expected
    run(b"FLUSHDB")
    assert len(machine.store) == 0
    assert second() == expected_second, "a flush leaves the copy as it was"
    assert encode() == expected
    run(b"SET", b"a", b"1")
    run(b"SET", b"b", b"2")
    monkeypatch.setattr(kv_machine, "MAX_CAPTURE_KEYS", 2)
    assert machine.capture() is not None
    run(b"SET", b"c", b"3")
    assert machine.capture() is None, "3 keys > MAX_CAPTURE_KEYS"


def test_flushdb_and_a_restore_replace_the_state_and_the_store_goes_on() -> None:
    """FLUSHDB empties the store at once (the old entries are freed in another thread), and
    so does a restore: the state is the new one, and writes and reads go on."""
    machine = kv.KvMachine()
    session = RespSession(max_value_bytes=1 << 20, max_batch_commands=100, client_id=1)

    def run(*command: bytes) -> bytes:
        replies = b""
        for kind, payload in session.feed(encode_command(list(command)), 0):
            if kind == GROUP_LOG:
                replies += machine.apply(payload)
            else:
                assert kind == GROUP_READ
                replies += machine.store.read(payload, 0)
        return replies

    for i in range(1000):
        expiry = [b"PX", b"100000"] if i % 2 else []  # half with a deadline (an index entry)
        assert run(b"SET", f"k{i}".encode(), b"v", *expiry) == b"+OK\r\n"
    assert len(machine.store) == 1000
    snapshot = machine.snapshot()
    assert run(b"FLUSHDB") == b"+OK\r\n"
    assert len(machine.store) == 0
    assert run(b"GET", b"k1") == b"$-1\r\n"
    assert run(b"SET", b"after", b"1") == b"+OK\r\n"
    machine.restore(snapshot)
    assert len(machine.store) == 1000
    assert run(b"GET", b"after") == b"$-1\r\n"
    assert run(b"GET", b"k999") == b"$1\r\nv\r\n"
    assert run(b"SET", b"k1", b"again") == b"+OK\r\n"
    assert run(b"GET", b"k1") == b"$5\r\nagain\r\n"


def test_a_batch_that_times_out_gets_an_error_per_command(tmp_path: Path) -> None:
    """With no leader, each command of a pipelined batch gets its own TRYAGAIN at the
    deadline, so a client counting replies stays in step (one error for the whole batch
    left redis-cli --pipe short of replies); the connection goes on."""

    async def main() -> None:
        ports = free_ports(4)
        peers = {i + 1: f"127.0.0.1:{ports[i]}" for i in range(3)}  # only node 1 runs
        machine = kv.KvMachine()
        node = Node(machine, id=1, peers=peers, data_dir=str(tmp_path), call_timeout_s=0.3)
        await node.start()
        server = kv.KvServer(node, machine, f"127.0.0.1:{ports[3]}")
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[3])
            commands = [[b"SET", b"a", b"1"], [b"INCR", b"n"], [b"GET", b"a"]]
            writer.write(b"".join(encode_command(c) for c in commands))
            received = b""
            while count_replies(received)[0] < len(commands):
                received += await asyncio.wait_for(reader.read(1 << 16), 10)
            replies = received.split(b"\r\n")[:-1]
            assert len(replies) == len(commands), replies
            assert all(r.startswith(b"-TRYAGAIN not committed within 0.3 s") for r in replies)
            writer.write(encode_command([b"PING"]))
            assert await asyncio.wait_for(reader.readline(), 10) == b"+PONG\r\n"
            writer.close()
        finally:
            await server.stop()
            await node.stop()

    asyncio.run(main())
