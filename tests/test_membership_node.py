"""Membership changes through the embedding API (`Node.add_learner`, `promote`, `remove`,
`transfer_leader`, `conf_state`), nodes in this process over real sockets and logs: a node
joins with an empty data directory, learns the log, is promoted; a voter is removed; the
addresses travel in the log; errors are typed. Both protocols: Multi-Paxos's changes take
effect a window of slots after they are chosen, which the runtime sees the same way."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster import on_free_ports
from senate import CallTimeout, ConfigError, Node, NotLeader, SenateError, StateMachine, replicated
from senate._core import SnapshotData, encode_snapshot_envelope
from senate.config import NodeConfig
from senate.runtime.core import AppliedState
from senate.runtime.members import MEMBERS_FILE, Members, Membership, decode_addresses
from senate.runtime.snapshots import Snapshots
from senate.runtime.transport import parse_host_port
from waiting import until


class Log(StateMachine):
    def __init__(self) -> None:
        self.items: list[Any] = []

    @replicated
    def add(self, item: Any) -> int:
        self.items.append(item)
        return len(self.items)


def node(tmp: Path, node_id: int, peers: dict[int, str], **options: Any) -> Node:
    return Node(Log(), id=node_id, peers=peers, data_dir=str(tmp / str(node_id)), **options)


def machine(n: Node) -> Log:
    sm = n.state_machines[0]
    assert isinstance(sm, Log)
    return sm


def kept(data_dir: Path, member: int) -> str | None:
    """The address of `member` in the address file of `data_dir`, if any yet."""
    try:
        with open(data_dir / MEMBERS_FILE) as f:
            address: str | None = json.load(f)["addresses"].get(str(member))
            return address
    except FileNotFoundError:
        return None


def sees(n: Node, conf: Membership) -> Callable[[], bool]:
    return lambda: n.conf_state() == conf


def test_a_joining_node_learns_the_log_is_promoted_and_a_voter_is_removed(
    tmp_path: Path, protocol: str
) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        first = {i: addresses[i] for i in (1, 2, 3)}
        nodes = {i: node(data_dir, i, first, protocol=protocol) for i in first}
        for n in nodes.values():
            await n.start()
        try:
            await until("a leader", lambda: any(n.role == "leader" for n in nodes.values()))
            leader = next(n for n in nodes.values() if n.role == "leader")
            for k in range(20):
                await machine(leader).add(k)
            # Node 4 joins: an empty disk, the current members and itself as peers.
            joiner = node(data_dir, 4, {**first, 4: addresses[4]}, joining={4}, protocol=protocol)
            nodes[4] = joiner  # stopped at the end even if its start fails
            await joiner.start()
            assert joiner.conf_state().role(4) == "non-member"
            follower = next(n for n in nodes.values() if n.role == "follower" and n.id != 4)
            with pytest.raises(NotLeader) as refused:
                await follower.add_learner(4, addresses[4])
            assert refused.value.leader_hint == leader.id
            with pytest.raises(ConfigError):
                await leader.add_learner(4, "not an address")
            conf = await leader.add_learner(4, addresses[4])
            assert conf.role(4) == "learner"
            assert conf.addresses[4] == addresses[4]
            await until("node 4 has the log", lambda: len(machine(joiner).items) == 20)
            assert joiner.role == "follower"
            assert joiner.conf_state().role(4) == "learner"
            conf = await leader.promote(4)
            assert conf.voters == (1, 2, 3, 4)
            assert not conf.joint
            # Removing a voter other than the leader; the new voter counts at once.
            gone = next(i for i in (1, 2, 3) if i != leader.id)
            conf = await leader.remove(gone)
            assert conf.members == sorted({1, 2, 3, 4} - {gone})
            await nodes.pop(gone).stop()
            assert await machine(leader).add("after") == 21
            await until("node 4 applied it", lambda: machine(joiner).items[-1:] == ["after"])
            for n in nodes.values():
                await until(f"node {n.id} sees the change", sees(n, conf))
            # The address travelled in the log and is kept on disk by every member.
            with open(os.path.join(data_dir, str(leader.id), MEMBERS_FILE)) as f:
                assert json.load(f)["addresses"]["4"] == addresses[4]
            # Leadership moves to the new voter.
            await leader.transfer_leader(4, timeout=10)
            await until("node 4 leads", lambda: joiner.role == "leader")
            with pytest.raises(ConfigError, match="not a member"):
                await joiner.remove(gone)
        finally:
            for n in nodes.values():
                await n.stop()

    asyncio.run(on_free_ports(4, tmp_path, main))


def test_promote_waits_until_the_learner_holds_the_committed_log(
    tmp_path: Path, protocol: str
) -> None:
    """Both protocols' leaders report what each peer holds (Raft's match index, Multi-Paxos's
    matched slot): a learner that holds nothing is not promoted; once it runs, it is, and the
    leader then knows it holds every entry committed before."""

    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        first = {i: addresses[i] for i in (1, 2, 3)}
        nodes = {i: node(data_dir, i, first, protocol=protocol) for i in first}
        for n in nodes.values():
            await n.start()
        try:
            await until("a leader", lambda: any(n.role == "leader" for n in nodes.values()))
            leader = next(n for n in nodes.values() if n.role == "leader")
            for k in range(20):
                await machine(leader).add(k)
            await leader.add_learner(4, addresses[4])  # node 4 does not run yet
            with pytest.raises(CallTimeout, match="catch up"):
                await leader.promote(4, timeout=1.0)
            assert leader.conf_state().role(4) == "learner"
            committed = leader.status().commit_index
            joiner = node(data_dir, 4, {**first, 4: addresses[4]}, joining={4}, protocol=protocol)
            nodes[4] = joiner
            await joiner.start()
            conf = await leader.promote(4, timeout=20)
            assert conf.voters == (1, 2, 3, 4)
            held = {p.id: p.match_index for p in leader.status().peers}
            assert (held[4] or 0) >= committed, held
            await until("node 4 applied the log", lambda: len(machine(joiner).items) == 20)
        finally:
            for n in nodes.values():
                await n.stop()

    asyncio.run(on_free_ports(4, tmp_path, main))


def test_a_change_that_cannot_take_effect_times_out(tmp_path: Path) -> None:
    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        solo = node(data_dir, 1, {1: addresses[1]}, call_timeout_s=0.5)
        async with solo:
            await until("it leads", lambda: solo.role == "leader")
            # A voter that never answers: with two voters, nothing commits without it.
            await solo.add_learner(2, addresses[2])
            with pytest.raises(CallTimeout):
                await solo.promote(2)
            assert solo.conf_state().voters == (1,)

    asyncio.run(on_free_ports(2, tmp_path, main))


def test_a_node_caught_up_by_a_snapshot_learns_the_addresses_of_members_added_before_it(
    tmp_path: Path, protocol: str
) -> None:
    """Node 5 is added (its address in the log), the leader's log is compacted past that
    change, then node 4 joins knowing only the first members: it gets a snapshot instead of
    the change, and it must still reach node 5 (node 4 dials it: the lower id dials)."""

    async def main(data_dir: Path, addresses: dict[int, str]) -> None:
        first = {i: addresses[i] for i in (1, 2, 3)}
        nodes = {i: node(data_dir, i, first, protocol=protocol) for i in first}
        for n in nodes.values():
            await n.start()
        try:
            await until("a leader", lambda: any(n.role == "leader" for n in nodes.values()))
            leader = next(n for n in nodes.values() if n.role == "leader")
            nodes[5] = node(data_dir, 5, {**first, 5: addresses[5]}, joining={5}, protocol=protocol)
            await nodes[5].start()
            await leader.add_learner(5, addresses[5])
            for k in range(5):
                await machine(leader).add(k)
            applied = leader.applied_index
            leader.snapshot_now()
            await until("the leader's log is compacted", lambda: leader.snapshot_index >= applied)
            joiner = node(data_dir, 4, {**first, 4: addresses[4]}, joining={4}, protocol=protocol)
            nodes[4] = joiner
            await joiner.start()
            await leader.add_learner(4, addresses[4])
            await until("node 4 has the log", lambda: len(machine(joiner).items) == 5)
            assert joiner.snapshot_index >= applied, "node 4 caught up by the log, not a snapshot"
            await until(
                "node 4 knows node 5's address",
                lambda: joiner.conf_state().addresses.get(5) == addresses[5],
            )
            transport = joiner._lifecycle.transport
            assert transport is not None
            await until("node 4 is connected to node 5", lambda: 5 in transport.connected())
            await until(
                "node 4 keeps node 5's address", lambda: kept(data_dir / "4", 5) == addresses[5]
            )
        finally:
            for n in nodes.values():
                await n.stop()

    asyncio.run(on_free_ports(5, tmp_path, main))


ids = st.integers(min_value=1, max_value=2**64 - 1)
address_books = st.dictionaries(ids, st.text(min_size=1, max_size=80), max_size=12)


@given(book=address_books)
def test_the_address_book_of_a_snapshot_round_trips(book: dict[int, str]) -> None:
    members = Members(1, book, None, parse_host_port)
    assert decode_addresses(members.encode_addresses()) == book


@given(
    data=st.binary(max_size=64)
    | st.builds(msgpack.packb, st.lists(st.lists(ids | st.text(), max_size=3)))
)
def test_a_malformed_address_book_is_refused_by_name(data: bytes) -> None:
    """Any bytes: an address book of integer ids and text addresses, or `SenateError`."""
    refused: SenateError | None = None
    try:
        book = decode_addresses(data)
    except SenateError as e:
        refused = e
    if refused is not None:
        assert "address book" in str(refused)
    else:
        assert all(isinstance(i, int) and isinstance(a, str) for i, a in book.items())
        assert len(book) == len(msgpack.unpackb(data))


@given(
    book=address_books,
    known=address_books,
    layout=st.sampled_from(["machines", "requests", "book"]),
)
def test_a_restored_snapshot_adds_the_addresses_this_node_lacks_and_older_layouts_still_restore(
    book: dict[int, str], known: dict[int, str], layout: str
) -> None:
    """The envelope of the runtime's snapshots: the machines' parts, the request table's, the
    address book's; the two older layouts (machines alone, or with the request table) restore
    as before and add no address."""
    config = NodeConfig(id=1, peers={1: "127.0.0.1:1"})
    log = Log()
    members = Members(1, known, None, parse_host_port)
    snapshots = Snapshots(config, AppliedState([log]), asyncio.Event(), None, members)
    parts = [msgpack.packb({"items": ["x", 1]})]
    if layout != "machines":
        parts.append(b"")
    if layout == "book":
        parts.append(Members(2, book, None, parse_host_port).encode_addresses())
    envelope = SnapshotData.from_bytes(encode_snapshot_envelope(parts))
    snapshots.finish_restore(snapshots.prepare_restore(envelope), 7)
    assert log.items == ["x", 1]
    assert snapshots.state.applied_index == 7
    expected = {**book, **known} if layout == "book" else known
    assert members.addresses == expected
