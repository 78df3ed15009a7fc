"""Transactions on a 3-node cluster of real processes, through redis-py: WATCH on one node
sees a write made through another; EXEC is applied whole (a reader on another node never
sees half of one); `r.transaction(func, *watches)` from every node at once loses no update;
connection commands and INFO queued in a pipeline run at EXEC.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cluster import free_base_port, on_free_ports
from senate import Node, kv
from senate._core import count_replies, encode_command
from senate.launcher import LocalCluster
from waiting import wait_until


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    root: Path = tmp_path_factory.mktemp("transactions")
    with LocalCluster(nodes=3, data_dir=root, base_port=free_base_port(3)) as cluster:
        cluster.wait_ready(timeout_s=60)
        conns = [
            redis.Redis.from_url(f"redis://{n.client}", socket_timeout=30) for n in cluster.nodes
        ]
        try:
            yield conns
        finally:
            for conn in conns:
                conn.close()


@pytest.mark.parametrize(("watcher", "writer"), [(0, 1), (1, 2), (2, 0)])
def test_a_write_through_another_node_aborts_exec_and_none_commits(
    clients: list[Any], watcher: int, writer: int
) -> None:
    key = f"watched:{watcher}"
    clients[writer].set(key, "0")
    with clients[watcher].pipeline(transaction=True) as pipe:
        pipe.watch(key)
        clients[writer].set(key, "changed")
        pipe.multi()
        pipe.set(key, "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert clients[watcher].get(key) == b"changed"
    # Without a write in between it commits, whatever node wrote the key before.
    with clients[watcher].pipeline(transaction=True) as pipe:
        pipe.watch(key)
        assert pipe.get(key) == b"changed"
        pipe.multi()
        pipe.set(key, "mine")
        pipe.incr(f"{key}:n")
        assert pipe.execute() == [True, 1]
    assert [c.get(key) for c in clients] == [b"mine"] * 3


def test_exec_is_applied_whole_for_a_reader_on_another_node(clients: list[Any]) -> None:
    writer, reader = clients[0], clients[2]
    writer.mset({"pair:a": 0, "pair:b": 0})
    rounds = 60
    torn: list[tuple[bytes | None, bytes | None]] = []
    reads = 0
    done = threading.Event()

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            a, b = reader.mget("pair:a", "pair:b")
            reads += 1
            if a != b:
                torn.append((a, b))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(1, rounds + 1):
            with writer.pipeline(transaction=True) as pipe:
                pipe.set("pair:a", i).incr(f"missing:{i}").set("pair:b", i)
                assert pipe.execute() == [True, 1, True]
        wait_until(
            "the reader to read past the last transaction",
            lambda: reader.get("pair:a") == b"%d" % rounds,
        )
        wait_until("a few reads", lambda: reads > 20)
    finally:
        done.set()
        thread.join(timeout=30)
    assert not torn, torn[:5]


def test_transaction_helper_from_every_node_loses_no_update(clients: list[Any]) -> None:
    key, per_client = "counter", 15
    clients[0].set(key, 0)
    errors: list[BaseException] = []

    def add(conn: Any) -> None:
        def increment(pipe: Any) -> None:
            value = int(pipe.get(key) or 0)
            pipe.multi()
            pipe.set(key, value + 1)

        try:
            for _ in range(per_client):
                conn.transaction(increment, key)
        except BaseException as e:  # reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(conn,)) for conn in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert [int(c.get(key) or 0) for c in clients] == [per_client * len(clients)] * 3


def test_redis_py_transactions_queue_connection_commands_and_info(clients: list[Any]) -> None:
    """redis-py pipelines are transactions by default: connection commands and INFO in one
    run at EXEC in their places (the name set in it is the connection's after it), on a
    follower as on the leader."""
    for i, conn in enumerate(clients):
        with conn.pipeline(transaction=True) as pipe:
            pipe.set(f"conn:{i}", "v")
            pipe.client_setname(f"tx{i}")
            pipe.client_getname()
            pipe.info("server")
            pipe.echo("e")
            pipe.get(f"conn:{i}")
            replies = pipe.execute()
        assert replies[:3] == [True, True, f"tx{i}"], replies
        assert "redis_version" in replies[3], replies
        assert replies[4:] == [b"e", b"v"], replies
        # The name stays on the connection the pipeline used (the pool hands it out next).
        assert conn.client_getname() == f"tx{i}"


def test_exec_without_quorum_gives_one_reply_and_connection_commands_need_none(
    tmp_path: Path,
) -> None:
    """On a node of three that runs alone (no quorum): an EXEC that cannot commit or read
    answers one TRYAGAIN, whatever it queued (two SETs; nothing, after a WATCH: the error
    was once per queued command, so two and none), and the next command on the connection
    gets its own reply. A transaction of connection commands alone is answered at once and
    changes the connection, as outside MULTI."""

    async def scenario(data_dir: Path, addresses: dict[int, str]) -> None:
        peers = {i: addresses[i] for i in (1, 2, 3)}  # only node 1 runs
        machine = kv.KvMachine()
        node = Node(machine, id=1, peers=peers, data_dir=str(data_dir), call_timeout_s=0.3)
        await node.start()
        server = kv.KvServer(node, machine, addresses[4])
        await server.start()
        try:
            host, port = addresses[4].rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))

            async def ask(*commands: list[bytes]) -> list[bytes]:
                writer.write(b"".join(encode_command(c) for c in commands))
                received = b""
                while count_replies(received)[0] < len(commands):
                    received += await asyncio.wait_for(reader.read(1 << 16), 10)
                return received.split(b"\r\n")[:-1]

            tryagain = b"-TRYAGAIN not committed within 0.3 s"
            replies = await ask([b"MULTI"], [b"SET", b"a", b"1"], [b"SET", b"b", b"2"], [b"EXEC"])
            assert [r[: len(tryagain)] for r in replies] == [
                b"+OK",
                b"+QUEUED",
                b"+QUEUED",
                tryagain,
            ]
            assert await ask([b"PING"]) == [b"+PONG"]
            # WATCH reads the local store on a READONLY connection; the EXEC, after
            # READWRITE, needs a read barrier, which fails.
            assert await ask([b"READONLY"], [b"WATCH", b"k"], [b"READWRITE"]) == [b"+OK"] * 3
            replies = await ask([b"MULTI"], [b"EXEC"])
            assert [r[: len(tryagain)] for r in replies] == [b"+OK", tryagain]
            assert await ask([b"ECHO", b"next"]) == [b"$4", b"next"]
            replies = await ask(
                [b"MULTI"], [b"CLIENT", b"SETNAME", b"x"], [b"CLIENT", b"GETNAME"], [b"EXEC"]
            )
            assert replies == [b"+OK", b"+QUEUED", b"+QUEUED", b"*2", b"+OK", b"$1", b"x"]
            assert await ask([b"CLIENT", b"GETNAME"]) == [b"$1", b"x"]
            writer.close()
        finally:
            await server.stop()
            await node.stop()

    asyncio.run(on_free_ports(4, tmp_path, scenario))
