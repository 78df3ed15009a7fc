"""A node's memory and connections under hostile clients (`senate.kv_guard`), and the store's
`maxmemory`, on real `senate serve` processes over real sockets, with limits scaled down.

One guarded node (auth on, small bounds) serves the hostile scenarios: clients announcing
large values and sending them until stopped, an anonymous client doing the same, slow and
idle connections; a well-behaved client's PING and GET must be answered meanwhile. A 3-node
cluster with a small `maxmemory` checks that every node refuses writes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import pytest
import redis

from cluster import free_base_port
from senate._core import encode_command
from senate.auth import password_hash
from senate.launcher import LocalCluster, LocalNode
from senate.runtime.transport import parse_host_port
from waiting import wait_until

PASSWORD = "hostile-test"
#: The guarded node's bounds: every client's buffers together, one client's query buffer
#: (before and after AUTH), and the deadlines.
CLIENTS_MEMORY_BYTES = 16 << 20
QUERY_BUFFER_BYTES = 12 << 20
UNAUTHENTICATED_QUERY_BUFFER_BYTES = 256 << 10
LIMITS = {
    "max_value_bytes": 32 << 20,
    "clients_memory_bytes": CLIENTS_MEMORY_BYTES,
    "client_query_buffer_bytes": QUERY_BUFFER_BYTES,
    "unauthenticated_query_buffer_bytes": UNAUTHENTICATED_QUERY_BUFFER_BYTES,
    "client_eviction_timeout_s": 0.5,
    "client_request_timeout_s": 2.0,
    "client_idle_timeout_s": 3.0,
}
#: What the node's RSS may grow by during an attack beyond `CLIENTS_MEMORY_BYTES`: reads in
#: flight, the allocator's slack, the interpreter.
RSS_MARGIN_BYTES = 64 << 20
SET_HEADER = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n"
AUTH = encode_command([b"AUTH", PASSWORD.encode()])
DEADLINE_S = 60.0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def closed_count(node: LocalNode, reason: str) -> float:
    assert node.metrics is not None
    with urllib.request.urlopen(f"http://{node.metrics}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = rf'senate_clients_closed_total{{node="{node.id}",reason="{reason}"}} (\S+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """One node with the small bounds and a password; it takes writes."""
    overrides = {**LIMITS, "auth": {"requirepass": password_hash(PASSWORD.encode())}}
    with LocalCluster(
        nodes=1,
        data_dir=tmp_path_factory.mktemp("limits"),
        base_port=free_base_port(1),
        overrides=overrides,
        credentials=(None, PASSWORD),
    ) as cluster:
        cluster.wait_ready(timeout_s=60)
        yield cluster.nodes[0]


class StartLine:
    """Lets `parties` tasks go on together once all of them have arrived."""

    def __init__(self, parties: int) -> None:
        self.waiting = parties
        self.all_here = asyncio.Event()

    async def wait(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.all_here.set()
        await self.all_here.wait()


class Hostile:
    """One connection that sends a request and is watched for what the node tells it."""

    def __init__(self) -> None:
        self.told = b""
        self.closed = asyncio.Event()

    async def watch(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(1 << 16):
                self.told += data
        self.closed.set()

    async def send_value(
        self,
        address: tuple[str, int],
        announced: int,
        limit: int,
        authenticate: bool,
        start: StartLine | None = None,
    ) -> None:
        """Announces a value of `announced` bytes and sends up to `limit` of it, as fast as
        the node reads, until the node closes the connection; after `start` if given (once
        every attacker is connected and authenticated)."""
        reader, writer = await asyncio.open_connection(*address)
        chunk, sent = b"x" * (256 << 10), 0
        if authenticate:
            writer.write(AUTH)
            self.told = await reader.readline()
        if start is not None:
            await start.wait()
        watching = asyncio.ensure_future(self.watch(reader))
        with contextlib.suppress(OSError):
            writer.write(SET_HEADER % (7, b"hostile", announced))
            while sent < limit and not self.closed.is_set():
                writer.write(chunk)
                sent += len(chunk)
                await writer.drain()
        await self.closed.wait()
        watching.cancel()
        # Aborted, not closed: a close waits to flush what the node never read, and a
        # transport still flushing when the test's loop ends is reported unclosed.
        writer.transport.abort()

    async def send_slowly(self, address: tuple[str, int], interval_s: float) -> None:
        """Sends a request one byte every `interval_s` until the node closes the connection."""
        reader, writer = await asyncio.open_connection(*address)
        watching = asyncio.ensure_future(self.watch(reader))
        request = SET_HEADER % (4, b"slow", 10) + b"0123456789\r\n"
        with contextlib.suppress(OSError):
            for byte in request:
                writer.write(bytes([byte]))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.closed.wait(), interval_s)
                if self.closed.is_set():
                    break
        await self.closed.wait()
        watching.cancel()
        # Aborted, not closed: a close waits to flush what the node never read, and a
        # transport still flushing when the test's loop ends is reported unclosed.
        writer.transport.abort()


class WellBehaved:
    """A client that sends PING and GET one at a time until stopped; each must be answered."""

    def __init__(self) -> None:
        self.answered = 0

    async def run(self, address: tuple[str, int], stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(AUTH)
        assert await reader.readline() == b"+OK\r\n"
        while not stop.is_set():
            writer.write(encode_command([b"PING"]) + encode_command([b"GET", b"probe"]))
            replies = [await asyncio.wait_for(reader.readline(), DEADLINE_S) for _ in range(2)]
            assert replies == [b"+PONG\r\n", b"$-1\r\n"], replies
            self.answered += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)
        writer.close()


async def under_attack(node: LocalNode, attack: Sequence[asyncio.Future[None]]) -> tuple[int, int]:
    """Runs `attack` while a well-behaved client is served and the node's RSS sampled; the
    RSS before and at its peak, in bytes."""
    assert node.pid is not None
    before = rss_bytes(node.pid)
    peak, stop = before, asyncio.Event()
    probe = WellBehaved()
    probing = asyncio.ensure_future(probe.run(parse_host_port(node.client), stop))
    attacking = asyncio.ensure_future(asyncio.wait_for(asyncio.gather(*attack), DEADLINE_S))
    while not attacking.done():
        peak = max(peak, rss_bytes(node.pid))
        await asyncio.sleep(0.05)
    answered_during = probe.answered
    stop.set()
    await attacking  # raises if an attacker was never closed
    await probing
    assert answered_during > 0, "the well-behaved client got no answer during the attack"
    return before, peak


def test_clients_announcing_large_values_are_held_back_then_closed(guarded: LocalNode) -> None:
    """12 authenticated clients each announce a 32 MiB value and send it as fast as the node
    reads: the node's buffers stop at the bound (RSS within bound + margin, where the values
    sent would take 384 MiB), every one of them is told and closed, the eviction is counted
    and logged with the client's address, and the well-behaved client is answered
    throughout."""
    address = parse_host_port(guarded.client)
    evicted_before = closed_count(guarded, "memory")
    hostile = [Hostile() for _ in range(12)]

    async def main() -> tuple[int, int]:
        start = StartLine(len(hostile))
        attack = [
            asyncio.ensure_future(h.send_value(address, 32 << 20, 32 << 20, True, start))
            for h in hostile
        ]
        return await under_attack(guarded, attack)

    before, peak = asyncio.run(main())
    assert peak - before < CLIENTS_MEMORY_BYTES + RSS_MARGIN_BYTES, (before, peak)
    for h in hostile:
        assert h.told.startswith(b"+OK\r\n-ERR "), h.told  # AUTH's OK, then the reason
    assert any(b"client evicted" in h.told for h in hostile)
    assert closed_count(guarded, "memory") > evicted_before
    log = guarded.log_path.read_text()
    assert re.search(r"closing client 127\.0\.0\.1:\d+: client evicted", log)


def test_clients_that_leave_their_replies_unread_are_closed(guarded: LocalNode) -> None:
    """3 clients each ask for a 1 MiB value 32 times and read nothing: their unsent replies
    (96 MiB, less what the kernel's socket buffers take) pass the 16 MiB bound, so they are
    closed (reset: the replies they left unread go with them) and the evictions counted,
    while the well-behaved client is answered."""
    host, port = address = parse_host_port(guarded.client)
    redis.Redis(host=host, port=port, password=PASSWORD).set("big-reply", b"r" * (1 << 20))
    evicted_before = closed_count(guarded, "memory")
    closed = 0

    async def greedy() -> None:
        nonlocal closed
        reader, writer = await asyncio.open_connection(*address)
        writer.write(AUTH + encode_command([b"GET", b"big-reply"]) * 32)
        await writer.drain()
        evicted = evicted_before + 3
        while closed_count(guarded, "memory") < evicted:  # reads nothing meanwhile
            await asyncio.sleep(0.05)
        with contextlib.suppress(OSError):
            while await reader.read(1 << 20):  # what the kernel still held, then the end
                pass
        closed += 1
        writer.close()

    async def main() -> None:
        await under_attack(guarded, [asyncio.ensure_future(greedy()) for _ in range(3)])

    asyncio.run(main())
    assert closed == 3
    assert closed_count(guarded, "memory") >= evicted_before + 3


def test_one_client_past_its_query_buffer_is_told_and_closed(guarded: LocalNode) -> None:
    """An anonymous client may not buffer more than 256 KiB, an authenticated one 12 MiB: past
    that, each is told and closed; a value under the limit is stored."""
    address = parse_host_port(guarded.client)
    anonymous, known = Hostile(), Hostile()

    async def main() -> None:
        await asyncio.gather(
            anonymous.send_value(address, 4 << 20, 4 << 20, False),
            known.send_value(address, 16 << 20, 16 << 20, True),
        )

    asyncio.run(main())
    assert anonymous.told == (
        b"-ERR query buffer limit exceeded before authenticating (262144 bytes)\r\n"
    )
    assert known.told == b"+OK\r\n-ERR query buffer limit exceeded (12582912 bytes)\r\n"
    host, port = address
    client = redis.Redis(host=host, port=port, password=PASSWORD, socket_timeout=30)
    assert client.set("large", b"v" * (6 << 20))
    assert client.strlen("large") == 6 << 20
    assert closed_count(guarded, "query_buffer") >= 2


def test_slow_and_idle_connections_are_closed_and_others_served(guarded: LocalNode) -> None:
    """200 connections each send a request one byte every 0.2 s (slowloris, scaled down):
    each is told its request was too slow and closed, while the well-behaved client is
    answered; a connection that sends nothing is closed once idle."""
    address = parse_host_port(guarded.client)
    slow = [Hostile() for _ in range(200)]
    idle = Hostile()

    async def idle_connection() -> None:
        reader, writer = await asyncio.open_connection(*address)
        await idle.watch(reader)
        writer.transport.abort()

    async def main() -> None:
        attack = [asyncio.ensure_future(h.send_slowly(address, 0.2)) for h in slow]
        attack.append(asyncio.ensure_future(idle_connection()))
        await under_attack(guarded, attack)

    asyncio.run(main())
    for h in slow:
        assert h.told == b"-ERR request not complete in time\r\n", h.told
    assert idle.told == b""  # closed without a word, as Redis closes idle clients
    assert closed_count(guarded, "slow_request") >= len(slow)
    assert closed_count(guarded, "idle") >= 1


# --- maxmemory ---------------------------------------------------------------------------------

MAXMEMORY_BYTES = 1 << 20
VALUE = b"v" * (32 << 10)


@pytest.fixture(scope="module")
def bounded_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(
        nodes=3,
        data_dir=tmp_path_factory.mktemp("maxmemory"),
        base_port=free_base_port(3),
        overrides={"maxmemory_bytes": MAXMEMORY_BYTES},
    ) as cluster:
        cluster.wait_ready(timeout_s=60)
        yield cluster


def connect(node: LocalNode) -> Any:
    """A redis-py client (typed Any: redis-py's annotations cover its sync and async clients
    at once)."""
    host, port = parse_host_port(node.client)
    return redis.Redis(host=host, port=port, socket_timeout=30)


def refuses_writes(client: Any) -> bool:
    try:
        client.set("probe-write", VALUE)
    except redis.exceptions.OutOfMemoryError:
        return True
    client.delete("probe-write")
    return False


def takes_writes(client: Any) -> bool:
    return not refuses_writes(client)


def test_maxmemory_refuses_writes_on_every_node_and_deletes_make_room(
    bounded_cluster: LocalCluster,
) -> None:
    """Writes through one node fill the store to its `maxmemory`; then every node refuses a
    write with Redis's exact -OOM (redis-py's OutOfMemoryError), decided where it would be
    proposed; reads and INFO are served everywhere and every node holds the same keys; once
    keys are deleted, every node takes writes again."""
    nodes = bounded_cluster.nodes
    first = connect(nodes[0])
    written, refusal = 0, None
    while written < 10_000 and refusal is None:  # far more than fits: 32 KiB values in 1 MiB
        try:
            first.set(f"fill:{written}", VALUE)
            written += 1
        except redis.exceptions.OutOfMemoryError as e:
            refusal = str(e)
    assert refusal == "command not allowed when used memory > 'maxmemory'."
    assert written > 0
    clients = [connect(n) for n in nodes]
    for client in clients:
        wait_until("every node to refuse writes", partial(refuses_writes, client), DEADLINE_S)
        assert client.get("fill:0") == VALUE
        memory = client.info("memory")
        assert memory["maxmemory"] == MAXMEMORY_BYTES
        assert memory["used_memory"] > MAXMEMORY_BYTES
        assert memory["maxmemory_policy"] == "noeviction"
    wait_until("the same keys on every node", lambda: len({c.dbsize() for c in clients}) == 1)
    assert clients[0].dbsize() == written
    first.delete(*[f"fill:{i}" for i in range(written // 2)])
    for client in clients:
        wait_until("writes taken again", partial(takes_writes, client), DEADLINE_S)
    assert clients[2].set("after-delete", VALUE)
    assert clients[1].get("after-delete") == VALUE
