"""Exactly-once writes (client sessions, docs/exactly-once.md) against real `senate serve`
processes: `senate.Client` increments a counter from concurrent tasks while the leader is
SIGKILLed and restarted, twice; every increment is eventually acknowledged, and the counter
ends equal to the number acknowledged (a retry of an increment that committed before its
reply was lost is answered from the session, not applied again). On both protocols. Every
wait is a condition with a deadline."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
import redis.exceptions

from cluster import free_base_port
from senate import Client
from senate.launcher import LocalCluster

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("redis") is None, reason="redis-py (the client extra) missing"
)

READY_S = 30.0
#: Increments acknowledged between two faults.
INCREMENTS_PER_PHASE = 40
WRITERS = 4
#: A call's deadline: long enough to outlast an election after a kill.
CALL_TIMEOUT_S = 30.0


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s")
        await asyncio.sleep(0.01)


def test_increments_count_once_through_leader_kills(protocol: str, tmp_path: Path) -> None:
    overrides = {"tick_ms": 5.0, "protocol": protocol}
    with LocalCluster(3, data_dir=tmp_path, base_port=free_base_port(3), overrides=overrides) as cl:
        cl.wait_ready(READY_S)
        endpoints = [n.client for n in cl.nodes]

        async def scenario() -> None:
            async with Client(endpoints, heartbeat_interval_s=0.05, timeout_s=CALL_TIMEOUT_S) as c:
                acked: list[int] = []
                stop = asyncio.Event()

                async def writer() -> None:
                    while not stop.is_set():
                        acked.append(await c.incr("counter"))

                tasks = [asyncio.create_task(writer()) for _ in range(WRITERS)]
                try:
                    for phase in range(1, 3):
                        await until(
                            lambda p=phase: len(acked) >= p * INCREMENTS_PER_PHASE,  # type: ignore[misc]
                            READY_S,
                            f"{INCREMENTS_PER_PHASE} increments",
                        )
                        await until(lambda: c.leader is not None, READY_S, "a leader")
                        leader = c.leader
                        assert leader is not None
                        cl.kill(leader)  # writes in flight to it are retried elsewhere
                        at_kill = len(acked)
                        await until(
                            lambda at=at_kill: len(acked) >= at + INCREMENTS_PER_PHASE,  # type: ignore[misc]
                            READY_S,
                            "increments after the kill",
                        )
                        cl.restart(leader)
                    await until(lambda: len(acked) >= 3 * INCREMENTS_PER_PHASE, READY_S, "more")
                finally:
                    stop.set()
                    # Every increment is acknowledged: a writer's failure is raised here.
                    await asyncio.gather(*tasks)
                total = int(await c.get("counter") or 0)
                # Each reply is the counter after that increment: all distinct, and the last
                # is the final value, which counts every acknowledged increment exactly once.
                assert total == len(acked)
                assert sorted(acked) == list(range(1, total + 1))
                retried = sum(n.requests for n in c.nodes()) - len(acked)
                print(f"{protocol}: {total} increments, {retried} more attempts than calls")
                await until_async(lambda: sessions_open(endpoints[0]), 1, READY_S)
            # Closing the client closed its session (through the log: every node forgets it).
            for endpoint in endpoints:
                await until_async(lambda e=endpoint: sessions_open(e), 0, READY_S)  # type: ignore[misc]

        asyncio.run(scenario())


async def sessions_open(endpoint: str) -> int:
    """The `client_sessions` of a node's `INFO senate`."""
    host, port = endpoint.rsplit(":", 1)
    r = redis.asyncio.Redis(host=host, port=int(port))
    try:
        info = await r.info("senate")
    finally:
        await r.aclose()
    return int(info["client_sessions"])


async def until_async(probe: Callable[[], Awaitable[int]], expected: int, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (value := await probe()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"{value} instead of {expected} within {timeout_s} s")
        await asyncio.sleep(0.01)


async def ask(r: Any, *args: Any) -> Any:
    """One command through redis-py's asyncio client (whose `execute_command` is untyped)."""
    return await r.execute_command(*args)


def test_a_plain_redis_client_drives_a_session_by_hand(protocol: str, tmp_path: Path) -> None:
    """The RESP face of sessions, for any Redis client: OPEN, EXEC, a retry on another node
    (a follower forwards it), an acknowledged seq refused."""
    overrides = {"tick_ms": 5.0, "protocol": protocol}
    with LocalCluster(3, data_dir=tmp_path, base_port=free_base_port(3), overrides=overrides) as cl:
        cl.wait_ready(READY_S)
        host, port = cl.nodes[0].client.rsplit(":", 1)
        other_host, other_port = cl.nodes[1].client.rsplit(":", 1)

        async def scenario() -> None:
            r = redis.asyncio.Redis(host=host, port=int(port))
            other = redis.asyncio.Redis(host=other_host, port=int(other_port))
            try:
                session = await ask(r, "SENATE.SESSION", "OPEN")
                assert session >= 1
                exec_1 = ("SENATE.EXEC", session, 1, 1, "INCRBY", "hand", 5)
                assert await ask(r, *exec_1) == 5
                assert await ask(other, *exec_1) == 5  # the retry: replayed
                assert await ask(other, "SENATE.EXEC", session, 2, 2, "INCR", "hand") == 6
                with pytest.raises(redis.exceptions.ResponseError, match=r"^STALESEQ seq 1"):
                    await ask(r, *exec_1)
                assert await r.get("hand") == b"6"
                with pytest.raises(redis.exceptions.ResponseError, match=r"^NOSESSION"):
                    await ask(r, "SENATE.EXEC", 10**9, 1, 1, "INCR", "hand")
                # Ordinary commands are untouched.
                assert await r.incr("hand") == 7
            finally:
                await r.aclose()
                await other.aclose()

        asyncio.run(scenario())
