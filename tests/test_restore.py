"""A node restores the leader's snapshot off its event loop (issue 21): key-value nodes in this
process over real sockets and logs, clients through redis-py. While a joining node builds a
few MiB of state from the leader's snapshot in a worker thread, it goes on: it answers its
Redis clients (PING, DBSIZE of its old state), writes the leader's new entries to its log and
acknowledges them, but applies none and holds a linearizable read, which it serves once the
new state is in place. A restore that fails stops the node with the old state, and its next
start restores the snapshot its log holds."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from cluster import on_free_ports
from senate import Node, RestoreFailed, SenateError
from senate._core import KvStore, SnapshotData
from senate.kv import KvServer
from senate.kv_machine import KvMachine
from waiting import until

#: Keys loaded before the leader's snapshot, and their values' size: 4 MiB of state.
KEYS = 2048
VALUE_BYTES = 2048


class GatedKv(KvMachine):
    """The key-value machine, its restore held open until the test opens `gate`, so that what
    the node does meanwhile is seen without timing: the new store is built first (the store's
    own decode), then held, not yet in place, so the live store is checked while a whole new
    one exists beside it. With `refuse`, the restore fails once the gate opens, after the
    build."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.entered = threading.Event()
        self.gate = threading.Event()

    def prepare_restore(self, part: SnapshotData) -> KvStore:
        built = super().prepare_restore(part)
        self.entered.set()
        if not self.gate.wait(60):
            raise TimeoutError("the test never opened the gate")
        if self.refuse:
            raise SenateError("this machine refuses the snapshot")
        return built


class RefusingKv(KvMachine):
    """The key-value machine, refusing every snapshot."""

    def prepare_restore(self, part: SnapshotData) -> KvStore:
        raise SenateError("this machine refuses the snapshot")


class Member:
    """A node with its key-value machine, its RESP server and a client of it."""

    def __init__(self, node: Node, machine: KvMachine, client_address: str) -> None:
        self.node, self.machine = node, machine
        self.server = KvServer(node, machine, client_address)
        self.client: Any = None

    async def start(self) -> None:
        await self.node.start()
        await self.server.start()
        self.client = aioredis.Redis(port=self.server.port, socket_timeout=30)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        await self.server.stop()
        await self.node.stop()


async def loaded_cluster(
    data_dir: Path, addresses: dict[int, str], protocol: str
) -> dict[int, Member]:
    """Nodes 1 to 3 with `KEYS` keys, the leader's log compacted past them. Node i's peer
    address is `addresses[i]`, its client address `addresses[i + 4]`."""
    first = {i: addresses[i] for i in (1, 2, 3)}
    members: dict[int, Member] = {}
    for i in first:
        node = Node(
            KvMachine(), id=i, peers=first, data_dir=str(data_dir / str(i)), protocol=protocol
        )
        members[i] = Member(node, node.state_machines[0], addresses[i + 4])  # type: ignore[arg-type]
        await members[i].start()
    await until("a leader", lambda: any(m.node.role == "leader" for m in members.values()))
    leader = next(m for m in members.values() if m.node.role == "leader")
    value = b"v" * VALUE_BYTES
    for start in range(0, KEYS, 256):
        async with leader.client.pipeline(transaction=False) as pipe:
            for k in range(start, start + 256):
                pipe.set(f"k{k}", value)
            await pipe.execute()
    applied = leader.node.applied_index
    leader.node.snapshot_now()
    await until("the leader's log is compacted", lambda: leader.node.snapshot_index >= applied)
    return members


def joiner(data_dir: Path, addresses: dict[int, str], machine: KvMachine, protocol: str) -> Member:
    peers = {i: addresses[i] for i in (1, 2, 3, 4)}
    node = Node(
        machine, id=4, peers=peers, joining={4}, data_dir=str(data_dir / "4"), protocol=protocol
    )
    return Member(node, machine, addresses[8])


def matched(leader: Member, peer: int) -> int:
    """The log index the leader knows replicated on `peer`."""
    return next(p.match_index or 0 for p in leader.node.status().peers if p.id == peer)


def leader_of(members: dict[int, Member]) -> Member:
    return next(m for m in members.values() if m.node.role == "leader")


def test_a_node_serves_and_takes_the_log_while_it_restores_and_applies_after(
    tmp_path: Path, protocol: str
) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        members = await loaded_cluster(data_dir, addresses, protocol)
        try:
            leader = leader_of(members)
            gated = GatedKv()
            members[4] = new = joiner(data_dir, addresses, gated, protocol)
            await new.start()
            await leader.node.add_learner(4, addresses[4])
            await until("node 4 restores the snapshot", gated.entered.is_set)
            snapshot_index = leader.node.snapshot_index
            # The restore is under way in a worker thread: node 4's loop answers its clients
            # from the old state (INFO; DBSIZE on a READONLY connection reads the store at
            # once), and takes the leader's new entries into its log.
            stale = aioredis.Redis(port=new.server.port, single_connection_client=True)
            try:
                assert await stale.execute_command("READONLY")  # type: ignore[no-untyped-call]
                assert await new.client.ping()
                assert await stale.dbsize() == 0
                keyspace = await new.client.info("keyspace")
                assert keyspace.get("db0", {"keys": 0})["keys"] == 0
                assert await leader.client.set("during", "x")
                written = leader.node.applied_index
                await until(
                    "node 4 has the entry written during its restore in its log",
                    lambda: new.node.status().last_index >= written,
                )
                if protocol == "raft":  # a Multi-Paxos leader keeps no match index
                    await until(
                        "the leader hears node 4 acknowledge it",
                        lambda: matched(leader, 4) >= written,
                    )
                assert new.node.applied_index < snapshot_index, "nothing applied before the restore"
                read = asyncio.create_task(new.client.get("during"))  # linearizable: waits
                await until("node 4 holds the read", lambda: bool(new.node._reads._batches))
                assert await stale.dbsize() == 0
                assert not read.done(), "a read past the old state waits for the restore"
            finally:
                await stale.aclose()
            gated.gate.set()
            assert await asyncio.wait_for(read, 30) == b"x"
            assert await new.client.dbsize() == KEYS + 1
            assert await new.client.get(f"k{KEYS - 1}") == b"v" * VALUE_BYTES
            assert new.node.snapshot_index >= snapshot_index
        finally:
            for m in members.values():
                await m.stop()

    asyncio.run(on_free_ports(8, tmp_path, main))


def test_a_failed_restore_stops_the_node_and_its_next_start_restores_the_snapshot(
    tmp_path: Path, protocol: str
) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        members = await loaded_cluster(data_dir, addresses, protocol)
        try:
            leader = leader_of(members)
            refusing = GatedKv(refuse=True)
            members[4] = new = joiner(data_dir, addresses, refusing, protocol)
            await new.start()
            await leader.node.add_learner(4, addresses[4])
            await until("node 4 restores the snapshot", refusing.entered.is_set)
            refusing.gate.set()
            await until("node 4 stops", lambda: new.node.fatal_error is not None)
            error = new.node.fatal_error
            assert isinstance(error, RestoreFailed), error
            assert error.index == leader.node.snapshot_index
            assert "refuses the snapshot" in str(error)
            assert len(refusing.store) == 0, "the old state is left as it was"
            await new.stop()
            # Its log holds the snapshot: the next start restores it (off the loop too).
            members[4] = again = joiner(data_dir, addresses, KvMachine(), protocol)
            await again.start()
            await until("node 4 is restored", lambda: len(again.machine.store) >= KEYS)
            assert await again.client.get("k0") == b"v" * VALUE_BYTES
        finally:
            for m in members.values():
                await m.stop()

    asyncio.run(on_free_ports(8, tmp_path, main))


def test_a_cancelled_restore_job_stops_the_node_with_restore_failed(tmp_path: Path) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        members = await loaded_cluster(data_dir, addresses, "raft")
        gated = GatedKv()
        try:
            leader = leader_of(members)
            members[4] = new = joiner(data_dir, addresses, gated, "raft")
            await new.start()
            await leader.node.add_learner(4, addresses[4])
            await until("node 4 restores the snapshot", gated.entered.is_set)
            job = new.node._snapshots.restore_job
            assert job is not None
            job.cancel()  # as a loop shutting down cancels what it waits for
            await until("node 4 stops", lambda: new.node.fatal_error is not None)
            error = new.node.fatal_error
            assert isinstance(error, RestoreFailed), error
            assert error.index == leader.node.snapshot_index
            assert "cancelled" in str(error)
            assert not new.node.running
            assert len(gated.store) == 0, "the old state is left as it was"
        finally:
            gated.gate.set()
            for m in members.values():
                await m.stop()

    asyncio.run(on_free_ports(8, tmp_path, main))


def test_a_start_whose_restore_fails_releases_the_data_directory(tmp_path: Path) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        peers = {1: addresses[1]}
        directory = str(data_dir / "1")
        node = Node(KvMachine(), id=1, peers=peers, data_dir=directory)
        first = Member(node, node.state_machines[0], addresses[2])  # type: ignore[arg-type]
        await first.start()
        try:
            await until("a leader", lambda: first.node.role == "leader")
            for k in range(16):
                assert await first.client.set(f"k{k}", "v")
            applied = first.node.applied_index
            first.node.snapshot_now()
            await until("the log is compacted", lambda: first.node.snapshot_index >= applied)
        finally:
            await first.stop()
        refusing = Node(RefusingKv(), id=1, peers=peers, data_dir=directory)
        with pytest.raises(SenateError, match="refuses the snapshot"):
            await refusing.start()
        assert not refusing.running
        await refusing.stop()  # nothing to stop: returns
        # The failed start closed the log: the directory is free for the fixed machine.
        fixed = Node(KvMachine(), id=1, peers=peers, data_dir=directory)
        await fixed.start()
        try:
            assert len(fixed.state_machines[0].store) == 16  # type: ignore[attr-defined]
            await until("a leader", lambda: fixed.role == "leader")
        finally:
            await fixed.stop()

    asyncio.run(on_free_ports(2, tmp_path, main))
