"""The key-value server's own cost per request: rounds of one SET from each of 50 clients
through `ClientConnection` (parse, propose, Ready, durable log without fsync, apply, reply)
on a one-node cluster, with a transport that only counts replies, against parsing the same
requests alone (`RespSession.feed`), measured in the same run.

What this leaves out is what the kernel does (sockets, fsync) and the other nodes; it is the
Python work a leader does per request, which `-c 50` without pipelining pays once per SET.

Wall time here is noisy on a shared machine; instructions are not. Run as a script it plays a
number of rounds, so the instructions per SET are the difference of two runs under callgrind
divided by the SETs between them:

    valgrind --tool=callgrind python benches/bench_kv_path.py 200
    valgrind --tool=callgrind python benches/bench_kv_path.py 700   # (Ir700 - Ir200) / 25,000

`... bench_kv_path.py 200 GET` plays rounds of one GET (of a key SET before the first round)
instead: the read path (a read barrier on the one node, then the store).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from senate import Node
from senate._core import RespSession
from senate.kv import ClientConnection, KvMachine, KvServer
from senate.launcher import free_base_port
from senate.runtime.loop import new_event_loop

CLIENTS = 50
SET = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"
GET = b"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n"


class CountingTransport(asyncio.Transport):
    """Counts the replies written; `round_done` is set once `expected` have been."""

    def __init__(self, counter: ReplyCounter) -> None:
        super().__init__()
        self.counter = counter

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.counter.replies += 1
        if self.counter.replies >= self.counter.expected and self.counter.round_done:
            self.counter.round_done.set_result(None)
            self.counter.round_done = None

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


class ReplyCounter:
    def __init__(self) -> None:
        self.replies = 0
        self.expected = 0
        self.round_done: asyncio.Future[None] | None = None


Server = tuple[asyncio.AbstractEventLoop, list[ClientConnection], ReplyCounter]


@contextmanager
def running_leader_server() -> Iterator[Server]:
    """A one-node cluster on a fresh loop, and 50 clients of its server."""
    loop = new_event_loop()
    with tempfile.TemporaryDirectory() as data_dir:
        machine = KvMachine()
        node = Node(
            machine,
            id=1,
            peers={1: f"127.0.0.1:{free_base_port(1)}"},
            data_dir=data_dir,
            fsync=False,
        )

        async def start() -> None:
            await node.start()
            while node.role != "leader":
                await asyncio.sleep(0.01)

        loop.run_until_complete(start())
        server = KvServer(node, machine, "127.0.0.1:1")  # never listens: clients are made here
        counter = ReplyCounter()
        clients = []
        for _ in range(CLIENTS):
            conn = ClientConnection(server)
            conn.connection_made(CountingTransport(counter))
            clients.append(conn)
        try:
            yield loop, clients, counter
        finally:
            loop.run_until_complete(node.stop())
            loop.close()


def one_round(server: Server, request: bytes = SET) -> None:
    """One request (a SET) from each client; returns once every reply was written."""
    loop, clients, counter = server

    async def round_trip() -> None:
        counter.expected = counter.replies + CLIENTS
        counter.round_done = loop.create_future()
        for conn in clients:
            conn.data_received(request)
        await counter.round_done

    loop.run_until_complete(round_trip())


@pytest.fixture
def leader_server() -> Iterator[Server]:
    with running_leader_server() as server:
        yield server


@pytest.mark.benchmark(group="kv-path")
def test_parse_only(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    sessions = [
        RespSession(max_value_bytes=1 << 20, max_batch_commands=1024) for _ in range(CLIENTS)
    ]

    def one_round() -> None:
        for session in sessions:
            session.feed(SET, 0)

    benchmark(one_round)
    record_median("kv-path", "parse", benchmark)


@pytest.mark.benchmark(group="kv-path")
def test_request_path(
    benchmark: Any,
    record_median: Callable[[str, str, object], None],
    leader_server: Server,
) -> None:
    benchmark(one_round, leader_server)
    record_median("kv-path", "request", benchmark)
    assert leader_server[2].replies >= CLIENTS


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    name = sys.argv[2].upper() if len(sys.argv) > 2 else "SET"
    request = {"SET": SET, "GET": GET}[name]
    with running_leader_server() as server:
        one_round(server)  # the key GET reads
        started = time.perf_counter()
        for _ in range(rounds):
            one_round(server, request)
        took_s = time.perf_counter() - started
    print(f"{rounds * CLIENTS} {name}s: {took_s / (rounds * CLIENTS) * 1e6:.2f} us each")
