"""RESP3 connections (`HELLO 3`, as redis-py 8 sends by default) on a 3-node cluster of
`senate serve` processes, spoken as raw bytes over a socket so that the replies are checked
byte for byte (CI pins a redis-py without RESP3 by default).

Every node is asked: writes sent to a follower are applied through the log on every node, and
the replies its client gets were encoded at apply time from the batch's protocol.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from cluster import free_base_port
from senate.launcher import LocalCluster, LocalNode
from senate.resp import read_reply_bytes

#: How long one reply may take (a write waits for its log entry to be applied).
REPLY_TIMEOUT_S = 30.0

HELLO_3 = re.compile(
    rb"%7\r\n\$6\r\nserver\r\n\$6\r\nsenate\r\n\$7\r\nversion\r\n\$5\r\n7\.2\.0\r\n"
    rb"\$5\r\nproto\r\n:3\r\n\$2\r\nid\r\n:\d+\r\n\$4\r\nmode\r\n\$10\r\nstandalone\r\n"
    rb"\$4\r\nrole\r\n\$6\r\nmaster\r\n\$7\r\nmodules\r\n\*0\r\n"
)


def command(*args: str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RawClient:
    """A socket that sends commands and reads whole replies as their bytes."""

    def __init__(self, node: LocalNode) -> None:
        host, port = node.client.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=REPLY_TIMEOUT_S)
        self.stream = self.sock.makefile("rb")

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def send(self, *commands: bytes) -> None:
        self.sock.sendall(b"".join(commands))

    def ask(self, *args: str) -> bytes:
        self.send(command(*args))
        return self.reply()

    def reply(self) -> bytes:
        """The bytes of one whole reply (aggregates with their elements)."""
        return read_reply_bytes(self.stream)[1]


@pytest.fixture(scope="module")
def kv_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("kv_resp3")
    with LocalCluster(nodes=3, data_dir=root / "data", base_port=free_base_port(3)) as cluster:
        cluster.wait_ready(timeout_s=60)
        yield cluster


@pytest.fixture
def clients(kv_cluster: LocalCluster) -> Iterator[list[RawClient]]:
    opened = [RawClient(node) for node in kv_cluster.nodes]
    yield opened
    for c in opened:
        c.close()


def until_set(c: RawClient, key: str, value: str, deadline_s: float = 30.0) -> None:
    """SETs until it is answered +OK (right after start a node may still find no leader)."""
    end = time.monotonic() + deadline_s
    while (reply := c.ask("SET", key, value)) != b"+OK\r\n":
        assert time.monotonic() < end, f"SET never succeeded: {reply!r}"
        time.sleep(0.05)


def test_hello_3_switches_to_resp3_replies(clients: list[RawClient]) -> None:
    for i, c in enumerate(clients):
        assert c.ask("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
        assert HELLO_3.fullmatch(c.ask("HELLO", "3"))
        key = f"resp3:{i}"
        until_set(c, key, "v")
        assert c.ask("GET", key) == b"$1\r\nv\r\n"
        assert c.ask("GET", f"{key}:missing") == b"_\r\n"
        assert c.ask("MGET", key, f"{key}:missing") == b"*2\r\n$1\r\nv\r\n_\r\n"
        assert c.ask("SET", key, "w", "NX") == b"_\r\n"
        assert c.ask("INCR", f"{key}:n") == b":1\r\n"
        assert c.ask("CONFIG", "GET", "save") == b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n"
        assert c.ask("CLIENT", "GETNAME") == b"_\r\n"
        assert c.ask("INFO", "server").startswith(b"$")
        # HELLO without a version: the current protocol.
        assert HELLO_3.fullmatch(c.ask("HELLO"))


def test_pipelined_hello_changes_only_the_replies_after_it(clients: list[RawClient]) -> None:
    c = clients[-1]
    until_set(c, "pipe:ready", "1")
    c.send(
        command("GET", "pipe:missing"),
        command("SET", "pipe:k", "1"),
        command("HELLO", "3"),
        command("SET", "pipe:k", "2", "GET"),
        command("GET", "pipe:missing"),
        command("HELLO", "2"),
        command("GET", "pipe:missing"),
    )
    replies = [c.reply() for _ in range(7)]
    assert replies[:2] == [b"$-1\r\n", b"+OK\r\n"]
    assert HELLO_3.fullmatch(replies[2])
    assert replies[3:5] == [b"$1\r\n1\r\n", b"_\r\n"]
    assert replies[5].startswith(b"*14\r\n")
    assert b"$5\r\nproto\r\n:2\r\n" in replies[5]
    assert replies[6] == b"$-1\r\n"


def test_resp2_connections_are_unchanged(clients: list[RawClient]) -> None:
    for c in clients:
        assert c.ask("GET", "resp2:missing") == b"$-1\r\n"
        assert c.ask("CONFIG", "GET", "save") == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
