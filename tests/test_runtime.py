"""The node runtime in one process: real TCP on 127.0.0.1, real durable logs in temp dirs.

Waits are conditions with deadlines; nothing asserts on wall-clock speed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest

import senate
from cluster import free_ports
from senate import (
    CallTimeout,
    ConfigError,
    Node,
    NodeThread,
    Overloaded,
    RaftNode,
    ReplCounter,
    ReplDict,
    ReplLock,
    StateMachine,
    Wal,
    WalCorrupt,
    linearizable,
    replicated,
)
from senate._core import NodeDriver, WalWriter
from senate.runtime.calls import ENVELOPE
from senate.runtime.driver import FOLLOWER_WRITE_WAIT_S
from waiting import until


class Register(StateMachine):
    def __init__(self) -> None:
        self.value: Any = None
        self.history: list[Any] = []

    @replicated
    def put(self, value: Any) -> int:
        self.value = value
        self.history.append(value)
        return len(self.history)

    @replicated
    def fail(self, message: str) -> None:
        raise ValueError(message)

    @linearizable
    def get(self) -> Any:
        return self.value


def peers_of(ports: Sequence[int]) -> dict[int, str]:
    return {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(ports)}


@asynccontextmanager
async def cluster(
    tmp: Path, make: Callable[[], Any], size: int = 3, **options: Any
) -> AsyncIterator[tuple[list[Node], list[Any]]]:
    peers = peers_of(free_ports(size))
    machines = [make() for _ in range(size)]
    nodes = [
        Node(machines[i], id=i + 1, peers=peers, data_dir=str(tmp / str(i + 1)), **options)
        for i in range(size)
    ]
    for node in nodes:
        await node.start()
    try:
        await until("a leader", lambda: any(n.role == "leader" for n in nodes))
        yield nodes, machines
    finally:
        for node in nodes:
            await node.stop()


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError) as e:
        senate.NodeConfig(id=4, peers={1: "127.0.0.1:1"})
    assert e.value.field == "peers"
    with pytest.raises(ConfigError) as e:
        senate.NodeConfig(id=1, peers={1: "nohost"})
    assert e.value.field == "peers"
    with pytest.raises(ConfigError) as e:
        senate.NodeConfig(id=1, peers={1: "127.0.0.1:7000"}, tick_ms=0)
    assert e.value.field == "tick_ms"
    with pytest.raises(ConfigError) as e:
        senate.NodeConfig(
            id=1, peers={1: "127.0.0.1:7000"}, election_timeout_ticks=2, heartbeat_interval_ticks=2
        )
    assert e.value.field == "heartbeat_interval_ticks"
    for bad in (0, senate._core.MAX_READIES_IN_FLIGHT + 1):
        with pytest.raises(ConfigError) as e:
            senate.NodeConfig(id=1, peers={1: "127.0.0.1:7000"}, max_writes_in_flight=bad)
        assert e.value.field == "max_writes_in_flight"
    with pytest.raises(ConfigError) as e:
        senate.NodeConfig(id=1, peers={1: "127.0.0.1:7000"}, protocol="zab")
    assert e.value.field == "protocol"
    with pytest.raises(ConfigError) as e:
        # Too short an election timeout for any lease after the drift margin.
        senate.PaxosNode(
            1, [1, 2, 3], lease_reads=True, election_timeout_ticks=2, heartbeat_interval_ticks=1
        )
    assert e.value.field == "lease_reads"
    with pytest.raises(ConfigError) as e:
        senate.PaxosNode(1, [1, 2, 3], phase1_quorum=1, phase2_quorum=2)
    assert e.value.field in ("phase1_quorum", "phase2_quorum")


def test_a_log_of_one_protocol_is_refused_to_a_node_of_the_other(tmp_path: Path) -> None:
    """Records carry their protocol: a Raft node over a Multi-Paxos log (or the other way
    round) is refused with the field and both protocols named, and nothing is read as the
    wrong protocol's state."""
    for log_protocol, node_class in (("paxos", RaftNode), ("raft", senate.PaxosNode)):
        wal = Wal(tmp_path / log_protocol, protocol=log_protocol)
        assert wal.protocol == log_protocol
        with pytest.raises(ConfigError) as e:
            node_class(1, [1], wal=wal)
        assert e.value.field == "wal"
        assert log_protocol in str(e.value).lower() or "paxos" in str(e.value).lower()
        wal.close()
    with pytest.raises(ConfigError) as e:
        Wal(tmp_path / "other", protocol="zab")
    assert e.value.field == "protocol"


#: One write in flight (the default), and pipelined Readies.
WRITES_IN_FLIGHT = [1, 8]


@pytest.mark.parametrize("writes_in_flight", WRITES_IN_FLIGHT)
def test_replicated_calls_from_every_node_reads_and_errors(
    tmp_path: Path, writes_in_flight: int, protocol: str
) -> None:
    async def main() -> None:
        options = {"max_writes_in_flight": writes_in_flight}
        async with cluster(tmp_path, protocol=protocol, make=Register, **options) as (nodes, regs):
            for i, reg in enumerate(regs):
                assert await reg.put(f"from {i + 1}") == i + 1
            # Every node applied every command, in the same order.
            await until("all applied", lambda: all(len(r.history) == 3 for r in regs))
            assert all(r.history == regs[0].history for r in regs)
            # A linearizable read at any node sees the last write.
            for reg in regs:
                assert await reg.get() == "from 3"
            # A command's own exception reaches its caller; the state stays consistent.
            with pytest.raises(ValueError, match="no such thing"):
                await regs[1].fail("no such thing")
            # Many calls in flight at once, from a follower.
            follower = next(i for i, n in enumerate(nodes) if n.role != "leader")
            results = await asyncio.gather(*(regs[follower].put(k) for k in range(200)))
            assert sorted(results) == list(range(4, 204))
            status = nodes[follower].status()
            assert status.role == "follower"
            assert status.applied_index >= 200
            assert {p.id for p in status.peers} == {1, 2, 3} - {follower + 1}
            assert all(p.connected for p in status.peers)

    asyncio.run(main())


def test_lease_reads_see_the_last_write_at_every_node_and_after_a_failover(
    tmp_path: Path, protocol: str
) -> None:
    async def main() -> None:
        async with cluster(tmp_path, protocol=protocol, make=Register, lease_reads=True) as (
            nodes,
            regs,
        ):
            for i, reg in enumerate(regs):
                assert await reg.put(f"from {i + 1}") == i + 1
                for other in regs:
                    assert await other.get() == f"from {i + 1}"
            leader = next(i for i, n in enumerate(nodes) if n.role == "leader")
            await nodes[leader].stop()
            rest = [i for i in range(len(nodes)) if i != leader]
            await until("a new leader", lambda: any(nodes[i].role == "leader" for i in rest))
            # Every survivor knows it (else a follower forwards to the stopped node until it
            # hears), and a busy machine gets a generous commit timeout.
            new = next(nodes[i].id for i in rest if nodes[i].role == "leader")
            await until("the survivors agree", lambda: all(nodes[i].leader == new for i in rest))
            assert await regs[rest[0]].put("after", timeout=30) == 4
            for i in rest:
                assert await regs[i].get() == "after"

    asyncio.run(main())


@pytest.mark.parametrize("writes_in_flight", WRITES_IN_FLIGHT)
def test_restart_recovers_state_from_the_durable_log(
    tmp_path: Path, writes_in_flight: int, protocol: str
) -> None:
    async def main() -> None:
        peers = peers_of(free_ports(3))
        regs = [Register() for _ in range(3)]

        def make_node(i: int) -> Node:
            data_dir = str(tmp_path / str(i + 1))
            return Node(
                regs[i],
                id=i + 1,
                peers=peers,
                data_dir=data_dir,
                max_writes_in_flight=writes_in_flight,
                protocol=protocol,
            )

        nodes = [make_node(i) for i in range(3)]
        for node in nodes:
            await node.start()
        # Sequential calls, then many in flight (pipelined Readies write them in groups).
        for k in range(25):
            await regs[0].put(k)
        await asyncio.gather(*(regs[0].put(k) for k in range(25, 50)))
        await until("all applied", lambda: all(len(r.history) == 50 for r in regs))
        for node in nodes:
            await node.stop()
        # Fresh state machines over the same data directories: the log rebuilds them.
        regs = [Register() for _ in range(3)]
        nodes = [make_node(i) for i in range(3)]
        for node in nodes:
            await node.start()
        try:
            assert await regs[2].put("after") == 51
            assert regs[2].history == [*range(50), "after"]
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(main())


@pytest.mark.parametrize("writes_in_flight", WRITES_IN_FLIGHT)
def test_snapshots_compact_the_log_and_rebuild_on_restart(
    tmp_path: Path, writes_in_flight: int, protocol: str
) -> None:
    async def main() -> None:
        options = {"snapshot_entries": 20, "max_writes_in_flight": writes_in_flight}
        async with cluster(tmp_path, protocol=protocol, make=Register, **options) as (nodes, regs):
            for k in range(100):
                await regs[0].put(k)
            await until("a snapshot", lambda: all(n.snapshot_index >= 20 for n in nodes))
        wal = Wal(tmp_path / "1", protocol=protocol)
        assert wal.protocol == protocol
        snap = wal.recovered_snapshot()
        assert snap is not None
        assert snap.index >= 20
        assert wal.stats()["snapshot_index"] == snap.index

    asyncio.run(main())


def test_segments_are_allocated_ahead_unless_asked_not_to(tmp_path: Path) -> None:
    ahead = Wal(tmp_path / "ahead", max_segment_bytes=1 << 20)
    plain = Wal(tmp_path / "plain", max_segment_bytes=1 << 20, preallocate=False)
    (ahead_segment,) = (tmp_path / "ahead").glob("*.wal")
    (plain_segment,) = (tmp_path / "plain").glob("*.wal")
    assert ahead_segment.stat().st_size == 1 << 20
    assert plain_segment.stat().st_size < 1024
    ahead.close()
    plain.close()
    # Reopened, the zero tail is kept; opened without preallocation, it is cut.
    Wal(tmp_path / "ahead", max_segment_bytes=1 << 20).close()
    assert ahead_segment.stat().st_size == 1 << 20
    Wal(tmp_path / "ahead", max_segment_bytes=1 << 20, preallocate=False).close()
    assert ahead_segment.stat().st_size == plain_segment.stat().st_size


class GatedRegister(Register):
    """A register whose snapshot, once `_gate` is set to an unset event, waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self._gate: threading.Event | None = None
        self._entered = threading.Event()

    def snapshot(self) -> bytes:
        if self._gate is not None:
            self._entered.set()
            self._gate.wait(30)
        return super().snapshot()


async def assert_restarts_from_snapshot(stopped: Node, index: int, history: list[Any]) -> None:
    """Restarts the stopped node `stopped` alone (a Register put 0..4 first): it recovers the
    snapshot at `index`, then replays only what it knows was committed after it, so its
    history is a prefix of `history`, each command once."""
    again = Register()
    cfg = stopped.config
    node = Node(again, id=cfg.id, peers=cfg.peers, data_dir=cfg.data_dir, protocol=cfg.protocol)
    await node.start()
    try:
        assert node.snapshot_index == index
        assert again.history[:5] == [0, 1, 2, 3, 4]
        assert again.history == history[: len(again.history)]
    finally:
        await node.stop()


async def hold_a_snapshot(
    nodes: list[Node], regs: list[Any]
) -> tuple[Node, Any, threading.Event, int]:
    """Puts 0..4 through the leader, then starts a snapshot there whose state machine waits
    in `snapshot()` (a `GatedRegister`) for the returned gate: (leader, its register, the
    gate, the applied index the snapshot is taken at)."""
    leader = next(n for n in nodes if n.role == "leader")
    lreg = regs[nodes.index(leader)]
    for k in range(5):
        await lreg.put(k)
    gate = threading.Event()
    lreg._gate = gate
    leader.snapshot_now()
    await until("the snapshot thread", lreg._entered.is_set)
    return leader, lreg, gate, leader.applied_index


def test_a_slow_snapshot_neither_stalls_the_leader_nor_loses_what_commits_meanwhile(
    tmp_path: Path, protocol: str
) -> None:
    async def main() -> None:
        # A generous election timeout: a loaded test machine must not cause the election this
        # test looks for; the snapshot is held for three of them all the same.
        options = {"snapshot_entries": 1_000_000, "election_timeout_ticks": 40}
        async with cluster(tmp_path, protocol=protocol, make=GatedRegister, **options) as (
            nodes,
            regs,
        ):
            leader, lreg, gate, frozen_at = await hold_a_snapshot(nodes, regs)
            follower_index = next(i for i, n in enumerate(nodes) if n is not leader)
            term = leader.status().term
            on_leader = asyncio.ensure_future(lreg.put("during"))
            # A follower's call commits and is applied there while the leader is frozen (in
            # either order with the leader's own call: positions 6 and 7 of the history).
            via_follower = await regs[follower_index].put("via follower")
            assert via_follower in (6, 7)
            await until("the commit", lambda: leader.status().commit_index >= frozen_at + 2)
            assert leader.applied_index == frozen_at
            assert not on_leader.done()
            # Three election timeouts pass with the state machine frozen: no election.
            ticks = leader._driver.now_ticks
            timeout = leader.config.election_timeout_ticks
            await until(
                "3 election timeouts", lambda: leader._driver.now_ticks >= ticks + 3 * timeout
            )
            assert leader.role == "leader"
            assert leader.status().term == term
            gate.set()
            assert await asyncio.wait_for(on_leader, 10) == 13 - via_follower
            await until("the snapshot", lambda: leader.snapshot_index == frozen_at)
            assert sorted(lreg.history[5:]) == ["during", "via follower"]
            await until("the follower", lambda: regs[follower_index].history == lreg.history)
        await assert_restarts_from_snapshot(leader, frozen_at, lreg.history)

    asyncio.run(main())


def test_commands_that_waited_for_a_snapshot_are_applied_in_order_once_it_is_taken(
    tmp_path: Path, protocol: str
) -> None:
    """Calls committed while a frozen snapshot is taken wait in the driver's apply backlog;
    once it is taken they are applied in order, every caller answered, the backlog shrinking
    at each turn of the loop (the core's driver hands them out one Ready's worth at a time
    and yields to the loop every half tick: `rust/core/tests/driver.rs` checks the slicing)."""
    calls = 12

    async def main() -> None:
        options: dict[str, Any] = {
            "snapshot_entries": 1_000_000,
            "election_timeout_ticks": 40,
            "core_options": {"max_committed_bytes_per_ready": 1},
        }
        async with cluster(tmp_path, protocol=protocol, make=GatedRegister, **options) as (
            nodes,
            regs,
        ):
            leader, lreg, gate, frozen_at = await hold_a_snapshot(nodes, regs)
            puts = [asyncio.ensure_future(lreg.put(f"during {k}")) for k in range(calls)]
            await until(
                "the backlog",
                lambda: (
                    leader.status().commit_index >= frozen_at + calls
                    and leader._core is not None
                    and leader._core.apply_backlog_bytes > 0
                ),
            )
            assert leader.applied_index == frozen_at
            assert leader._core is not None
            # The backlog's bytes at each turn of the loop while it drains.
            seen: list[int] = []

            async def watch() -> None:
                assert leader._core is not None
                while leader._core.apply_backlog_bytes or not seen:
                    seen.append(leader._core.apply_backlog_bytes)
                    await asyncio.sleep(0)

            watcher = asyncio.ensure_future(watch())
            gate.set()
            answers = await asyncio.wait_for(asyncio.gather(*puts), 10)
            await asyncio.wait_for(watcher, 10)
            assert answers == list(range(6, 6 + calls))
            assert lreg.history[5:] == [f"during {k}" for k in range(calls)]
            assert seen == sorted(seen, reverse=True), seen
            assert leader._core.apply_backlog_bytes == 0
            await until("the snapshot", lambda: leader.snapshot_index == frozen_at)

    asyncio.run(main())


class SlowMachine(StateMachine):
    """Takes at least 2 ms per command; records the commands in order."""

    def __init__(self) -> None:
        self.applied: list[bytes] = []

    def apply(self, command: bytes) -> bytes:
        time.sleep(0.002)
        self.applied.append(command)
        return command


def test_a_long_run_of_committed_entries_is_applied_a_slice_at_a_time(tmp_path: Path) -> None:
    """The applier applies committed entries until the deadline the core's driver gives it
    (half a tick after it handed them out) and says how far it got: the driver hands out the
    rest after the loop has run, so one Ready that is slow to apply cannot hold the loop past
    an election timeout (after a capture of a large key-value store, the first write to each
    of its tables copies that table, and one Ready of them held loops for 300-600 ms on a busy
    machine). The applied index is always the last entry applied."""
    machine = SlowMachine()
    node = Node(machine, id=1, peers={1: "127.0.0.1:1"}, data_dir=tmp_path)
    applier = node._driver.applier
    # Entries 101..112 proposed by node 2 (no caller here to answer).
    entries = [ENVELOPE.pack(2, seq, 0) + b"%d" % seq for seq in range(12)]
    node._state.applied_index = 100
    first_index, slices = 101, 0
    while first_index <= 112:
        rest = entries[first_index - 101 :]
        before = len(machine.applied)
        # A deadline 5 ms away: each command takes 2 ms or more, so the slice ends after
        # the third at the latest (and always applies the first).
        applied_to = applier.apply(rest, 112, time.monotonic_ns() + 5_000_000)
        assert 1 <= len(machine.applied) - before <= 3
        assert applied_to == node.applied_index == 100 + len(machine.applied)
        first_index = applied_to + 1
        slices += 1
    assert machine.applied == [b"%d" % seq for seq in range(12)]
    assert node.applied_index == 112
    assert slices >= 4


class CapturingRegister(Register):
    """A register that captures its state for a snapshot (a copy of its history); encoding
    the copy waits for `_gate` once it is set to an unset event."""

    def __init__(self) -> None:
        super().__init__()
        self._gate: threading.Event | None = None
        self._entered = threading.Event()

    def capture(self) -> Callable[[], bytes]:
        state = {"value": self.value, "history": list(self.history)}
        gate, entered = self._gate, self._entered

        def encode() -> bytes:
            if gate is not None:
                entered.set()
                gate.wait(30)
            data: bytes = msgpack.packb(state)
            return data

        return encode


def test_a_captured_snapshot_lets_the_node_apply_while_it_is_encoded(
    tmp_path: Path, protocol: str
) -> None:
    """With `capture`, calls are applied and answered while the snapshot is being encoded,
    and the snapshot holds the state at the index it was captured at."""

    async def main() -> None:
        options = {"snapshot_entries": 1_000_000}
        async with cluster(tmp_path, protocol=protocol, make=CapturingRegister, **options) as (
            nodes,
            regs,
        ):
            leader, lreg, gate, captured_at = await hold_a_snapshot(nodes, regs)
            assert await asyncio.wait_for(lreg.put("during"), 10) == 6, "applied meanwhile"
            assert leader.applied_index > captured_at
            assert leader.snapshot_index < captured_at
            gate.set()
            await until("the snapshot", lambda: leader.snapshot_index == captured_at)
            await lreg.put("after")
        await assert_restarts_from_snapshot(leader, captured_at, lreg.history)

    asyncio.run(main())


def driver_of(node: Node) -> NodeDriver:
    """The core's driver of a started node."""
    assert node._core is not None
    return node._core


async def hold_write_completions(nodes: Sequence[Node], follower_write_wait_s: float = 0.0) -> None:
    """Each node stops hearing that its log writes finished (the writer thread still writes):
    to the node this is a disk that stalls. A follower does not wait for its writes either
    (with the default, 0: that wait would time out on a stalled disk). Waits first until no
    write is in flight on those nodes: a completion held back from before the stall (a
    follower's write slower than its wait, on a busy machine) would stay in flight for good."""
    await until(
        "no writes in flight", lambda: all(driver_of(n).writes_in_flight == 0 for n in nodes)
    )
    loop = asyncio.get_running_loop()
    for n in nodes:
        assert n._driver.writer is not None
        loop.remove_reader(n._driver.writer.fileno())
        n.follower_write_wait_s = follower_write_wait_s


def release_write_completions(nodes: Sequence[Node]) -> None:
    """Undoes `hold_write_completions`: the completions held back arrive at once."""
    loop = asyncio.get_running_loop()
    for n in nodes:
        assert n._driver.writer is not None
        fd = n._driver.writer.fileno()
        loop.add_reader(fd, n._driver.on_writes_done, fd)
        n.follower_write_wait_s = FOLLOWER_WRITE_WAIT_S
        n._driver.on_writes_done(fd)  # what a follower's wait left without a wake-up byte


def test_a_follower_answers_once_its_write_is_done_without_the_writers_wake_up(
    tmp_path: Path, protocol: str
) -> None:
    """A follower waits for its own log write in the loop thread and answers the leader at
    once: with the writer thread's wake-ups held back on the followers, calls still commit.
    Without that wait (as for a slow disk) they commit only once the wake-ups come.

    A follower's loop waits for each write here however slow the disk is (the bound is 5 s),
    so a long election timeout keeps a slow write on a busy machine from costing the
    leadership while both followers wait."""

    async def main() -> None:
        async with cluster(
            tmp_path, protocol=protocol, make=Register, election_timeout_ticks=100
        ) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            followers = [n for n in nodes if n is not leader]
            lreg = regs[nodes.index(leader)]
            await lreg.put(0)
            # A generous bound: only a write slower than this would need the wake-up.
            await hold_write_completions(followers, follower_write_wait_s=5.0)
            for k in range(1, 21):
                assert await asyncio.wait_for(lreg.put(k), 10) == k + 1
            assert all(driver_of(f).writes_in_flight == 0 for f in followers)
            await hold_write_completions(followers)  # and no waits
            call = asyncio.ensure_future(lreg.put("held"))
            await until(
                "a follower's write in flight",
                lambda: any(driver_of(f).writes_in_flight for f in followers),
            )
            ticks = leader._driver.now_ticks
            await until("20 ticks", lambda: leader._driver.now_ticks >= ticks + 20)
            assert not call.done(), "no follower told the leader its write is durable"
            release_write_completions(followers)
            assert await asyncio.wait_for(call, 10) == 22

    asyncio.run(main())


def test_a_stalled_disk_does_not_cost_the_leadership(tmp_path: Path, protocol: str) -> None:
    """Every node's log writes finish late (their completions are held back, which is how a
    stalled disk looks to a node) for two election timeouts. Heartbeats and their answers go
    on meanwhile, so the leader keeps its quorum and nobody campaigns; the call made during
    the stall commits once the disks come back."""

    async def main() -> None:
        async with cluster(
            tmp_path, protocol=protocol, make=Register, election_timeout_ticks=40
        ) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            lreg = regs[nodes.index(leader)]
            await lreg.put(0)
            term = leader.status().term
            await hold_write_completions(nodes)
            call = asyncio.ensure_future(lreg.put(1))
            await until(
                "writes in flight", lambda: all(driver_of(n).writes_in_flight for n in nodes)
            )
            ticks = leader._driver.now_ticks
            timeout = leader.config.election_timeout_ticks
            await until(
                "2 election timeouts", lambda: leader._driver.now_ticks >= ticks + 2 * timeout
            )
            assert not call.done(), "nothing is durable yet, so nothing committed"
            # Without heartbeats answered, check-quorum would have made the leader step down.
            assert [n.status().role for n in nodes].count("leader") == 1
            assert leader.status().role == "leader"
            assert all(n.status().term == term for n in nodes), "nobody campaigned"
            release_write_completions(nodes)
            assert await asyncio.wait_for(call, 10) == 2
            assert leader.status().term == term

    asyncio.run(main())


def test_a_long_stall_keeps_the_readies_not_advanced_within_the_core_limit(
    tmp_path: Path, protocol: str
) -> None:
    """With 64 writes allowed in flight, a stall long enough for heartbeats alone to make
    more than 64 Readies (they write nothing) stops taking Readies at the core's limit instead
    of stopping the node with `ReadyNotAdvanced`; everything goes on once the disks are back."""

    async def main() -> None:
        options = {"election_timeout_ticks": 40, "max_writes_in_flight": 64}
        async with cluster(tmp_path, protocol=protocol, make=Register, **options) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            lreg = regs[nodes.index(leader)]
            await lreg.put(0)
            await hold_write_completions(nodes)
            call = asyncio.ensure_future(lreg.put(1))
            await until(
                "Readies up to the core's limit",
                lambda: any(
                    driver_of(n).readies_unadvanced >= senate._core.MAX_READIES_IN_FLIGHT
                    for n in nodes
                ),
            )
            ticks = leader._driver.now_ticks
            await until(
                "10 ticks more, or a node stopping",
                lambda: leader._driver.now_ticks >= ticks + 10 or any(n.fatal_error for n in nodes),
            )
            assert [n.fatal_error for n in nodes] == [None, None, None]
            assert all(
                driver_of(n).readies_unadvanced <= senate._core.MAX_READIES_IN_FLIGHT for n in nodes
            )
            release_write_completions(nodes)
            assert await asyncio.wait_for(call, 20) == 2
            assert all(n.fatal_error is None for n in nodes)

    asyncio.run(main())


class FailingSnapshots(Register):
    def __init__(self) -> None:
        super().__init__()
        self._attempts = 0

    def snapshot(self) -> bytes:
        self._attempts += 1
        raise RuntimeError("cannot snapshot")


def test_a_failing_snapshot_is_logged_and_retried_later_while_calls_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    async def main() -> None:
        async with cluster(
            tmp_path, protocol=protocol, make=FailingSnapshots, snapshot_entries=10
        ) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            reg = regs[nodes.index(leader)]
            for k in range(35):
                assert await reg.put(k) == k + 1
            await until("the followers", lambda: all(len(r.history) == 35 for r in regs))
            # Every node applied 36 entries (with the leader's no-op): at most one attempt
            # per 10 of them, not one per Ready.
            assert all(1 <= r._attempts <= 4 for r in regs), [r._attempts for r in regs]
            assert all(n.snapshot_index == 0 for n in nodes)
            assert "cannot snapshot" in caplog.text

    asyncio.run(main())


def test_the_snapshot_envelope_is_msgpack_of_the_parts() -> None:
    import msgpack
    from hypothesis import given
    from hypothesis import strategies as st

    from senate._core import encode_snapshot_envelope

    @given(st.lists(st.binary(max_size=70_000), max_size=20))
    def check(parts: list[bytes]) -> None:
        assert encode_snapshot_envelope(parts) == msgpack.packb(parts)
        assert msgpack.unpackb(encode_snapshot_envelope(parts)) == parts

    check()


def test_calls_time_out_without_a_quorum(tmp_path: Path) -> None:
    async def main() -> None:
        peers = peers_of(free_ports(3))
        reg = Register()
        node = Node(reg, id=1, peers=peers, data_dir=str(tmp_path), call_timeout_s=0.3)
        await node.start()
        try:
            with pytest.raises(CallTimeout):
                await reg.put(1)
            with pytest.raises(CallTimeout):
                await reg.get(timeout=0.2)
            assert reg.history == []
        finally:
            await node.stop()

    asyncio.run(main())


def test_callbacks_get_each_call_outcome_once_and_their_errors_stop_nothing(
    tmp_path: Path, protocol: str
) -> None:
    """`propose_with_callback`: the result or the command's own error reaches the callback,
    once; a callback that raises is logged and the node goes on; without a quorum the
    callback gets `CallTimeout`."""
    from senate.statemachine import encode_call

    async def main() -> None:
        async with cluster(tmp_path, protocol=protocol, make=Register) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            outcomes: list[tuple[Any, BaseException | None]] = []
            done = asyncio.Event()

            def record(result: Any, error: BaseException | None) -> None:
                outcomes.append((result, error))
                if len(outcomes) == 3:
                    done.set()

            def broken(result: Any, error: BaseException | None) -> None:
                raise RuntimeError("a caller's bug")

            leader.propose_with_callback(encode_call("put", ("a",), {}), record)
            leader.propose_with_callback(encode_call("put", ("b",), {}), broken)
            leader.propose_with_callback(encode_call("fail", ("no",), {}), record)
            leader.propose_with_callback(encode_call("put", ("c",), {}), record)
            await asyncio.wait_for(done.wait(), 10)
            assert outcomes[0] == (1, None)
            assert outcomes[1][0] is None
            assert isinstance(outcomes[1][1], ValueError)
            assert outcomes[2] == (3, None), "the broken callback did not stop the node"
            assert regs[nodes.index(leader)].history == ["a", "b", "c"]
            assert await regs[nodes.index(leader)].put("d") == 4
            assert len(outcomes) == 3, "each outcome once"

    asyncio.run(main())


def test_a_callback_gets_call_timeout_without_a_quorum(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """... and the node logs the timeout with its state, so a client's TRYAGAIN can be traced."""
    from senate.statemachine import encode_call

    async def main() -> None:
        peers = peers_of(free_ports(3))
        node = Node(Register(), id=1, peers=peers, data_dir=str(tmp_path), call_timeout_s=0.2)
        await node.start()
        try:
            got: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
            node.propose_with_callback(
                encode_call("put", (1,), {}), lambda _result, error: got.set_result(error)
            )
            assert isinstance(await asyncio.wait_for(got, 10), CallTimeout)
        finally:
            await node.stop()

    with caplog.at_level(logging.WARNING, logger="senate.node"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "timed out" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("node 1: 1 call(s) timed out since the last such line (")
    assert "leader None" in lines[0]


def test_too_many_pending_calls_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        peers = peers_of(free_ports(3))
        reg = Register()
        node = Node(reg, id=1, peers=peers, max_pending_calls=2, call_timeout_s=0.5)
        await node.start()
        try:
            first = reg.put(1)
            second = reg.put(2)
            with pytest.raises(Overloaded):
                reg.put(3)
            for call in (first, second):
                with pytest.raises(CallTimeout):
                    await call
        finally:
            await node.stop()

    asyncio.run(main())


def test_batteries_share_one_node(tmp_path: Path) -> None:
    async def main() -> None:
        async with cluster(
            tmp_path, lambda: [ReplCounter(), ReplDict(), ReplLock(lease_s=0.5)]
        ) as (_nodes, machines):
            (c1, d1, l1), (c2, d2, l2), (_c3, d3, _l3) = machines
            assert await c1.add(5) == 5
            assert await c2.add(-2) == 3
            assert await c1.get() == 3
            await d1.set("k", {"nested": [1, 2]})
            assert await d2.get("k") == {"nested": [1, 2]}
            assert await d3.pop("k") == {"nested": [1, 2]}
            assert await d1.size() == 0
            # A lock: one holder at a time; it is renewed while held, and expires once its
            # holder stops renewing.
            assert await l1.try_acquire("job")
            assert not await l2.try_acquire("job")
            await asyncio.sleep(0.8)  # beyond the lease: l1 renews it meanwhile
            assert not await l2.try_acquire("job")
            assert await l2.holder("job") == l1._owner
            assert await l1.release("job")
            assert await l2.try_acquire("job")
            l2._held.clear()  # the holder "goes away": it stops renewing
            await until(
                "the lease to expire", lambda: l2.locks["job"][1] < __import__("time").time()
            )
            assert await l1.try_acquire("job")

    asyncio.run(main())


def test_blocking_calls_from_threads(tmp_path: Path) -> None:
    peers = peers_of(free_ports(1))
    counter = ReplCounter()
    node = Node(counter, id=1, peers=peers, data_dir=str(tmp_path))
    with NodeThread(node):
        assert counter.add.sync(2) == 2
        assert counter.add.sync(3, timeout=5.0) == 5
        assert counter.get.sync() == 5
        assert node.status().role == "leader"


def test_a_corrupt_log_is_refused_with_file_and_offset(tmp_path: Path) -> None:
    async def main() -> None:
        peers = peers_of(free_ports(1))
        reg = Register()
        node = Node(reg, id=1, peers=peers, data_dir=str(tmp_path))
        await node.start()
        for k in range(20):
            await reg.put(f"value {k}")
        await node.stop()

    asyncio.run(main())
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    # Halfway through the records (the segment is allocated ahead: zeros follow them). Later
    # writes' sync marks prove the record durable, so it is corruption, not a torn write.
    middle = (len(data.rstrip(b"\0")) + 12) // 2
    data[middle] ^= 0x40
    segment.write_bytes(bytes(data))
    with pytest.raises(WalCorrupt) as e:
        Wal(tmp_path)
    assert e.value.path is not None
    assert str(segment.name) in str(e.value.path)
    assert e.value.offset is not None
    assert 0 < e.value.offset <= middle


def test_a_ready_without_write_hands_out_what_needs_no_write(tmp_path: Path) -> None:
    """While a write is in flight, `ready_without_write` hands out the entries committed and
    durable, and leaves new entries for the next Ready that writes."""
    wal = Wal(tmp_path)
    node = RaftNode(1, [1], wal=wal)
    node.campaign()
    while (rd := node.ready()) is not None:
        wal.write(rd)
        node.advance()
    assert node.status().role == "leader"
    node.propose(b"a")
    first = node.ready()
    assert first is not None
    assert first.must_sync
    node.propose(b"b")
    assert not node.has_ready_without_write(), "nothing is durable, nothing to send"
    assert node.ready_without_write() is None
    wal.write(first)
    node.advance()  # "a" is durable, so committed (one voter)
    assert node.has_ready_without_write()
    rd = node.ready_without_write()
    assert rd is not None
    assert rd.committed_data == [b"a"]
    assert not rd.must_sync, "it writes nothing"
    assert rd.first_persist_index is None, "b waits for a Ready that writes it"
    assert not node.has_ready_without_write()
    node.advance()
    second = node.ready()
    assert second is not None
    assert second.must_sync
    assert second.first_persist_index == 3
    wal.write(second)
    node.advance()
    third = node.ready()
    assert third is not None
    assert third.committed_data == [b"b"]


def test_readies_over_a_log_are_pipelined_and_advanced_in_order(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    node = RaftNode(1, [1], wal=wal)
    node.campaign()
    first = node.ready()  # the new term, the vote and the leader's no-op entry
    assert first is not None
    assert first.must_sync
    node.propose(b"a")
    second = node.ready()  # taken while the first is not durable
    assert second is not None
    assert second.first_persist_index == 2
    assert second.committed_index is None, "nothing is durable yet, so nothing is handed out"
    wal.write(first)
    node.advance()  # the oldest: the leader counts its no-op entry, which commits alone
    third = node.ready()
    assert third is not None
    assert third.committed_data == [b""]
    wal.write(second)
    node.advance()
    node.advance()
    fourth = node.ready()
    assert fourth is not None
    assert fourth.committed_data == [b"a"]
    node.advance()
    # At most MAX_READIES_IN_FLIGHT not advanced; nothing is lost past the limit.
    for k in range(senate._core.MAX_READIES_IN_FLIGHT):
        node.propose(b"%d" % k)
        rd = node.ready()
        assert rd is not None
        wal.write(rd)
    node.propose(b"last")
    with pytest.raises(senate.ReadyNotAdvanced):
        node.ready()
    for _ in range(senate._core.MAX_READIES_IN_FLIGHT):
        node.advance()
    applied: list[bytes] = []
    while (rd := node.ready()) is not None:
        wal.write(rd)
        applied += rd.committed_data
        node.advance()
    expected = [b"%d" % k for k in range(senate._core.MAX_READIES_IN_FLIGHT)] + [b"last"]
    assert applied == expected
    wal.close()


def test_a_follower_whose_writes_outlast_its_wait_answers_through_the_writers_wake_up(
    tmp_path: Path, protocol: str
) -> None:
    """With a wait bound shorter than any write, each follower's wait times out (or is
    skipped once a write was slower than the bound): the writer thread's wake-up answers the
    leader instead, and calls commit as before."""

    async def main() -> None:
        async with cluster(tmp_path, protocol=protocol, make=Register) as (nodes, regs):
            leader = next(n for n in nodes if n.role == "leader")
            for n in nodes:
                n.follower_write_wait_s = 1e-6
            lreg = regs[nodes.index(leader)]
            for k in range(20):
                assert await asyncio.wait_for(lreg.put(k), 10) == k + 1
            followers = [n for n in nodes if n is not leader]
            assert all(
                f._driver.writer is not None and f._driver.writer.last_write_s > 1e-6
                for f in followers
            )
            await until(
                "followers applied",
                lambda: all(f.applied_index == leader.applied_index for f in followers),
            )

    asyncio.run(main())


def wake_bytes(fd: int) -> int:
    """The wake-up bytes waiting in the writer's pipe, drained."""
    try:
        return len(os.read(fd, 16))
    except BlockingIOError:
        return 0


def test_the_writer_tells_a_waiting_loop_directly_and_an_idle_one_through_its_pipe(
    tmp_path: Path,
) -> None:
    """A write finished while the loop waits for it in `wait()` writes no wake-up byte; one
    finished while nobody waits does. Either way `completed()` gives each write once, in
    order."""
    wal = Wal(tmp_path)
    node = RaftNode(1, [1], wal=wal)
    writer = WalWriter(wal)
    fd = writer.fileno()
    os.set_blocking(fd, False)

    def submit_next_ready() -> int:
        """Submits the node's next Ready (one that writes; Readies are pipelined, so it is
        not advanced: this test is about the writer's outcomes only)."""
        rd = node.ready()
        assert rd is not None
        write_id = writer.submit(rd)
        assert write_id is not None
        return write_id

    try:
        node.campaign()
        first = submit_next_ready()
        assert writer.wait(first, 10.0)
        assert writer.completed() == [(first, None)]
        assert writer.last_write_s > 0
        # A write that finished before `wait()` began had nobody waiting and wrote its byte
        # (a race this test cannot close from Python): at most that one byte, never more.
        assert wake_bytes(fd) <= 1
        node.propose(b"a")
        second = submit_next_ready()
        # Waiting for a write never submitted times out; the one finished meanwhile was
        # told to the waiter, so it has no byte either.
        assert not writer.wait(second + 1, 0.2)
        assert writer.completed() == [(second, None)]
        assert wake_bytes(fd) <= 1
        node.propose(b"b")
        third = submit_next_ready()
        readable, _, _ = select.select([fd], [], [], 10.0)
        assert readable, "a write nobody waited for wakes the loop"
        assert os.read(fd, 16) == b"\x01"
        assert writer.completed() == [(third, None)]
    finally:
        writer.close()
        wal.close()
