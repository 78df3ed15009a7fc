"""The fault switches of `senate serve --fault-control` (what `senate chaos` drives), on real
local clusters: a leader cut off both ways loses the leadership and the majority goes on; a
one-way cut; a stalled disk holds writes back until it resumes; leadership transfer and a
snapshot on request; bad requests get errors. Waits are conditions with deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import free_base_port
from senate.chaos.control import MAX_REQUEST_BYTES, ControlError, call
from senate.launcher import LocalCluster
from senate.runtime.transport import parse_host_port
from senate.status import RespError, SenateInfo, resp_call
from waiting import wait_until

DEADLINE_S = 30.0


@pytest.fixture
def chaos_cluster(tmp_path: Path, protocol: str) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        3,
        data_dir=tmp_path,
        base_port=free_base_port(3),
        fsync=False,
        overrides={"protocol": protocol, "tick_ms": 10},
        fault_control=True,
    )
    with cluster:
        cluster.wait_ready(DEADLINE_S)
        yield cluster


def client_of(cluster: LocalCluster, node_id: int) -> tuple[str, int]:
    return parse_host_port(next(n.client for n in cluster.nodes if n.id == node_id))


def info(cluster: LocalCluster, node_id: int) -> SenateInfo:
    reply = resp_call(client_of(cluster, node_id), "INFO", "senate", timeout_s=2.0)
    assert isinstance(reply, bytes)
    return SenateInfo.parse(reply.decode())


def set_ok(cluster: LocalCluster, node_id: int, key: str, value: str) -> bool:
    try:
        return resp_call(client_of(cluster, node_id), "SET", key, value, timeout_s=1.0) == "OK"
    except (OSError, RespError):
        return False


def test_a_leader_cut_off_both_ways_loses_the_leadership_and_heals(
    chaos_cluster: LocalCluster,
) -> None:
    cluster = chaos_cluster
    old = cluster.wait_ready(DEADLINE_S)
    others = [i for i in cluster.config.ids if i != old]
    assert call(cluster.fault_socket(old), {"op": "cut", "peers": others})["cut"] == others
    for other in others:
        call(cluster.fault_socket(other), {"op": "cut", "peers": [old]})

    def new_leader() -> int | None:
        leaders = {info(cluster, i).leader for i in others}
        leader = leaders.pop() if len(leaders) == 1 else None
        return leader if leader in others else None

    leader = wait_until("a leader among the majority", new_leader)
    wait_until("a write through the majority", lambda: set_ok(cluster, leader, "k", "v"))
    # The old leader hears nobody: check-quorum (Raft) or the quorum-connected rule (Paxos)
    # makes it step down, and it cannot commit.
    wait_until("the old leader stepping down", lambda: info(cluster, old).role != "leader")
    assert not set_ok(cluster, old, "k", "lost")
    for node_id in cluster.config.ids:
        assert call(cluster.fault_socket(node_id), {"op": "heal"})["cut"] == []
    assert cluster.wait_ready(DEADLINE_S) in cluster.config.ids
    wait_until("the old leader serving", lambda: set_ok(cluster, old, "k", "healed"))
    reply = resp_call(client_of(cluster, old), "GET", "k", timeout_s=2.0)
    assert reply == b"healed"


def test_a_stalled_disk_holds_writes_until_it_resumes(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    leader = cluster.wait_ready(DEADLINE_S)
    for node_id in cluster.config.ids:
        assert call(cluster.fault_socket(node_id), {"op": "stall_disk"})["disk_stalled"]
    assert not set_ok(cluster, leader, "k", "held"), "nothing is durable, nothing commits"
    for node_id in cluster.config.ids:
        assert not call(cluster.fault_socket(node_id), {"op": "resume_disk"})["disk_stalled"]
    wait_until("a write once the disks resume", lambda: set_ok(cluster, leader, "k", "v"))


def test_transfer_and_snapshot_on_request(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    leader = cluster.wait_ready(DEADLINE_S)
    target = next(i for i in cluster.config.ids if i != leader)
    for n in range(20):
        key = f"k{n}"
        wait_until("a write", lambda: set_ok(cluster, leader, key, "v"))  # noqa: B023
    call(cluster.fault_socket(leader), {"op": "snapshot"})
    wait_until("a snapshot", lambda: info(cluster, leader).snapshot_index > 0)
    call(cluster.fault_socket(leader), {"op": "transfer_leader", "to": target})
    wait_until("the transfer", lambda: cluster.wait_ready(DEADLINE_S) == target)


def test_bad_requests_are_refused_with_the_reason(chaos_cluster: LocalCluster) -> None:
    path = chaos_cluster.fault_socket(1)
    with pytest.raises(ControlError, match="unknown op 'boom'"):
        call(path, {"op": "boom"})
    with pytest.raises(ControlError, match="not peers of node 1: \\[9\\]"):
        call(path, {"op": "cut", "peers": [9]})
    with pytest.raises(ControlError, match="'peers' must be a list"):
        call(path, {"op": "cut", "peers": "2"})
    with pytest.raises(ControlError):  # the connection closes: the line is over the limit
        call(path, {"op": "status", "pad": "x" * MAX_REQUEST_BYTES})
    assert call(path, {"op": "status"})["cut"] == []  # and the node still answers
