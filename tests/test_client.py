"""`senate.Client` against a real 3-node cluster of `senate serve` processes (one cluster for
the module; a test that kills a node brings it back before it ends). Every wait is a
condition with a deadline."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.exceptions

from cluster import free_base_port
from senate import Client, ClientError, NoLeader
from senate.launcher import LocalCluster

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("senate.kv") is None,
    reason="senate.kv (the key-value service) not merged yet",
)

READY_S = 30.0
#: How long the client may take to see a node down, or up again.
DETECT_S = 5.0
#: How long writes may stop while the cluster elects a new leader.
FAILOVER_S = 10.0
HEARTBEAT_S = 0.05


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data_dir: Path = tmp_path_factory.mktemp("client-cluster")
    with LocalCluster(
        3, data_dir=data_dir, base_port=free_base_port(3), overrides={"tick_ms": 5.0}
    ) as local:
        local.wait_ready(READY_S)
        yield local


def make_client(cluster: LocalCluster, **options: object) -> Client:
    endpoints = [n.client for n in cluster.nodes]
    return Client(endpoints, heartbeat_interval_s=HEARTBEAT_S, **options)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Waits for `condition`; returns the time it took. Fails naming `what` at the deadline."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout_s:
            raise AssertionError(f"not {what} within {timeout_s} s")
        await asyncio.sleep(0.01)
    return loop.time() - start


async def until_true(probe: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s")
        await asyncio.sleep(0.01)


def requests_by_id(client: Client) -> dict[int, int]:
    return {n.id: n.requests for n in client.nodes() if n.id is not None}


def status_of(client: Client, node_id: int) -> str:
    return next(n.status for n in client.nodes() if n.id == node_id)


async def wait_whole(client: Client) -> int:
    """Waits until the client knows a leader and sees all three nodes up; the leader."""
    await until(
        lambda: client.leader is not None and all(n.status == "up" for n in client.nodes()),
        READY_S,
        "a leader and every node up",
    )
    assert client.leader is not None
    return client.leader


def test_writes_and_reads_go_through_the_client(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        async with make_client(cluster) as c:
            leader = await wait_whole(c)
            assert sorted(n.id for n in c.nodes() if n.id is not None) == [1, 2, 3]
            assert {n.id: n.role for n in c.nodes()}[leader] == "leader"
            assert await c.set("greeting", "hello")
            assert await c.get("greeting") == b"hello"
            assert not await c.set("greeting", "again", nx=True)
            assert await c.set("greeting", "hi", xx=True, px=60_000)
            assert await c.set("fresh", b"\x00bytes", ex=60)
            assert await c.mset({"a": 1, "b": "two"})
            assert await c.mget(["a", "b", "missing"]) == [b"1", b"two", None]
            assert await c.incr("counter") == 1
            assert await c.incrby("counter", 41) == 42
            assert await c.execute("STRLEN", "greeting", write=False) == 2
            assert await c.delete("a", "b", "missing") == 2
            # A follower catches up: its stale reads see every write within a deadline (a
            # follower learns a commit index with the next append or at the leader's next
            # tick, so a read in between may see a prefix of them).
            caught_up = [b"hi", b"42", None]
            await until_true(
                lambda: _equals(c.mget(["greeting", "counter", "a"], stale=True), caught_up),
                DETECT_S,
                "stale reads of every write",
            )

    asyncio.run(scenario())


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


def test_command_errors_are_raised_at_once_not_retried(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        async with make_client(cluster) as c:
            leader = await wait_whole(c)
            await c.set("word", "abc")
            before = requests_by_id(c)
            started = time.monotonic()
            with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
                await c.incr("word")
            with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
                await c.execute("NOSUCHCOMMAND", "x", write=True)
            assert time.monotonic() - started < 1.0
            after = requests_by_id(c)
            assert after[leader] - before[leader] == 2  # one attempt each
            assert await c.get("word") == b"abc"

    asyncio.run(scenario())


def test_stale_reads_spread_over_both_followers(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        async with make_client(cluster, balancer="least_request") as c:
            leader = await wait_whole(c)
            await c.set("spread", "x")
            before = requests_by_id(c)
            await asyncio.gather(*(c.get("spread", stale=True) for _ in range(200)))
            sent = {i: n - before[i] for i, n in requests_by_id(c).items()}
            followers = [i for i in sent if i != leader]
            assert sent[leader] == 0, sent
            assert all(sent[f] > 0 for f in followers), sent
            assert sum(sent.values()) == 200

    asyncio.run(scenario())


def test_a_killed_follower_is_marked_down_avoided_and_up_after_restart(
    cluster: LocalCluster,
) -> None:
    async def scenario() -> None:
        async with make_client(cluster) as c:
            leader = await wait_whole(c)
            follower, other = (i for i in (1, 2, 3) if i != leader)
            cluster.kill(follower)
            await until(lambda: status_of(c, follower) == "down", DETECT_S, "marked down")
            at_down = requests_by_id(c)[follower]
            for i in range(50):
                assert await c.get(f"missing{i}", stale=True) is None
                assert await c.set(f"while-down{i}", i)
            assert requests_by_id(c)[follower] == at_down
            cluster.restart(follower)
            await until(lambda: status_of(c, follower) == "up", READY_S, "marked up again")
            await until_true(
                lambda: _stale_read_reaches(c, follower), DETECT_S, "a stale read on it"
            )
            assert status_of(c, other) == "up"

    asyncio.run(scenario())


async def _stale_read_reaches(c: Client, node_id: int) -> bool:
    before = requests_by_id(c)[node_id]
    await c.get("x", stale=True)
    return requests_by_id(c)[node_id] > before


def test_a_stopped_follower_is_found_by_its_detector(cluster: LocalCluster) -> None:
    """SIGSTOP keeps its connections open: only the missing PONGs tell."""

    async def scenario() -> None:
        async with make_client(cluster, detector="phi") as c:
            leader = await wait_whole(c)
            follower = next(i for i in (1, 2, 3) if i != leader)
            pid = next(n.pid for n in cluster.nodes if n.id == follower)
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                took = await until(lambda: status_of(c, follower) == "down", DETECT_S, "down")
                assert took > 2 * HEARTBEAT_S  # it took missed heartbeats, not an error
                at_down = requests_by_id(c)[follower]
                for _ in range(30):
                    await c.get("x", stale=True)
                assert requests_by_id(c)[follower] == at_down
            finally:
                os.kill(pid, signal.SIGCONT)
            await until(lambda: status_of(c, follower) == "up", DETECT_S, "up after SIGCONT")

    asyncio.run(scenario())


def test_a_lone_follower_serves_stale_reads_on_every_pooled_connection(
    cluster: LocalCluster,
) -> None:
    """With the leader and a follower gone there is no quorum: only READONLY connections
    answer, and the pool opens several for concurrent reads."""

    async def scenario() -> None:
        async with make_client(cluster, timeout_s=1.0) as c:
            leader = await wait_whole(c)
            await c.set("lone", "here")
            follower, survivor = (i for i in (1, 2, 3) if i != leader)
            await until_true(
                lambda: _equals(_stale_on(c, survivor), b"here"), DETECT_S, "caught up"
            )
            cluster.kill(leader)
            cluster.kill(follower)
            await until(
                lambda: status_of(c, leader) == status_of(c, follower) == "down",
                DETECT_S,
                "both down",
            )
            before = requests_by_id(c)[survivor]
            replies = await asyncio.gather(*(c.get("lone", stale=True) for _ in range(64)))
            assert replies == [b"here"] * 64
            assert requests_by_id(c)[survivor] - before == 64
            with pytest.raises(NoLeader):
                await c.get("lone")  # linearizable: needs a quorum
            cluster.restart(leader)
            cluster.restart(follower)
            await wait_whole(c)
            assert await c.get("lone") == b"here"

    asyncio.run(scenario())


async def _stale_on(c: Client, node_id: int) -> bytes | None:
    """A stale read that landed on `node_id` (else None)."""
    before = requests_by_id(c)[node_id]
    value = await c.get("lone", stale=True)
    return value if requests_by_id(c)[node_id] > before else None


def test_writes_go_on_through_a_leader_kill(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        async with make_client(cluster) as c:
            old = await wait_whole(c)
            done: list[int] = []
            stop = asyncio.Event()

            async def writer() -> None:
                i = 0
                while not stop.is_set():
                    assert await c.set(f"failover{i}", i)
                    done.append(i)
                    i += 1

            task = asyncio.create_task(writer())
            await until(lambda: len(done) >= 20, READY_S, "20 writes before the kill")
            cluster.kill(old)
            at_kill = len(done)
            took = await until(
                lambda: c.leader not in (None, old) and len(done) > at_kill + 20,
                FAILOVER_S,
                "a new leader and 20 more writes",
            )
            stop.set()
            await task  # no write failed: each was retried to the new leader in time
            new = c.leader
            assert new is not None
            assert new != old
            assert took < FAILOVER_S
            assert await c.get(f"failover{len(done) - 1}") == str(len(done) - 1).encode()
            cluster.restart(old)
            await until(lambda: status_of(c, old) == "up", READY_S, "the old leader back")

    asyncio.run(scenario())


def test_a_call_with_no_node_up_fails_typed_at_its_deadline() -> None:
    async def scenario() -> None:
        endpoints = ["127.0.0.1:1"]  # nothing listens on port 1
        async with Client(endpoints, timeout_s=0.5, heartbeat_interval_s=HEARTBEAT_S) as c:
            started = time.monotonic()
            with pytest.raises(ClientError, match="no leader found") as raised:
                await c.set("k", "v")
            assert 0.5 <= time.monotonic() - started < 1.5
            assert raised.value.command == "SET"

    asyncio.run(scenario())
