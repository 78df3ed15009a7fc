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

import pytest

from cluster import free_ports
from senate import CallTimeout, ConfigError, Node, NotLeader, StateMachine, replicated
from senate.runtime.members import MEMBERS_FILE, Membership
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


def sees(n: Node, conf: Membership) -> Callable[[], bool]:
    return lambda: n.conf_state() == conf


def test_a_joining_node_learns_the_log_is_promoted_and_a_voter_is_removed(
    tmp_path: Path, protocol: str
) -> None:
    async def main() -> None:
        ports = free_ports(4)
        addresses = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
        first = {i: addresses[i] for i in (1, 2, 3)}
        nodes = {i: node(tmp_path, i, first, protocol=protocol) for i in first}
        for n in nodes.values():
            await n.start()
        try:
            await until("a leader", lambda: any(n.role == "leader" for n in nodes.values()))
            leader = next(n for n in nodes.values() if n.role == "leader")
            for k in range(20):
                await machine(leader).add(k)
            # Node 4 joins: an empty disk, the current members and itself as peers.
            joiner = node(tmp_path, 4, {**first, 4: addresses[4]}, joining={4}, protocol=protocol)
            await joiner.start()
            nodes[4] = joiner
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
            with open(os.path.join(tmp_path, str(leader.id), MEMBERS_FILE)) as f:
                assert json.load(f)["addresses"]["4"] == addresses[4]
            # Leadership moves to the new voter.
            await leader.transfer_leader(4, timeout=10)
            await until("node 4 leads", lambda: joiner.role == "leader")
            with pytest.raises(ConfigError, match="not a member"):
                await joiner.remove(gone)
        finally:
            for n in nodes.values():
                await n.stop()

    asyncio.run(main())


def test_a_change_that_cannot_take_effect_times_out(tmp_path: Path) -> None:
    async def main() -> None:
        (port,) = free_ports(1)
        solo = node(tmp_path, 1, {1: f"127.0.0.1:{port}"}, call_timeout_s=0.5)
        async with solo:
            await until("it leads", lambda: solo.role == "leader")
            # A voter that never answers: with two voters, nothing commits without it.
            (other,) = free_ports(1)
            await solo.add_learner(2, f"127.0.0.1:{other}")
            with pytest.raises(CallTimeout):
                await solo.promote(2)
            assert solo.conf_state().voters == (1,)

    asyncio.run(main())
