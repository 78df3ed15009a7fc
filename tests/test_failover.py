"""The failover measure of `senate bench`: the leader of a local cluster SIGKILLed under one
writer's SETs. Waits are conditions with deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import free_base_port
from senate._core import DEFAULT_ELECTION_TIMEOUT_TICKS, DEFAULT_HEARTBEAT_INTERVAL_TICKS
from senate.failover import SET_TIMEOUT_ETS, election_timeout_s, is_leader, measure_failover
from senate.launcher import LocalCluster

READY_S = 30.0
TICK_MS = 10.0


@pytest.mark.parametrize("protocol", ["raft", "paxos"])
def test_the_failover_is_from_the_kill_to_a_write_of_the_new_leader(
    protocol: str, tmp_path: Path
) -> None:
    cluster = LocalCluster(
        3,
        data_dir=tmp_path,
        base_port=free_base_port(3),
        fsync=False,
        overrides={"protocol": protocol, "tick_ms": TICK_MS},
    )
    with cluster:
        cluster.wait_ready(READY_S)
        failover = measure_failover(cluster, timeout_s=READY_S)
        killed = next(node for node in cluster.nodes if node.id == failover.killed)
        assert killed.pid is None
        assert failover.acknowledged_by != killed.client
        assert failover.attempts >= 1
        assert failover.set_timeout_s >= SET_TIMEOUT_ETS * failover.election_timeout_s
        assert failover.election_timeout_s == election_timeout_s(cluster.config)
        assert failover.election_timeout_s == DEFAULT_ELECTION_TIMEOUT_TICKS * TICK_MS / 1e3
        # No follower campaigns before an election timeout without its leader's heartbeat,
        # and the last heartbeat came at most a heartbeat interval before the kill.
        silent_ticks = DEFAULT_ELECTION_TIMEOUT_TICKS - DEFAULT_HEARTBEAT_INTERVAL_TICKS
        assert failover.seconds > silent_ticks * TICK_MS / 1e3
        assert failover.election_timeouts == failover.seconds / failover.election_timeout_s
        new_leader = cluster.wait_ready(READY_S)
        assert new_leader != failover.killed
        assert is_leader(next(n.client for n in cluster.nodes if n.id == new_leader))
