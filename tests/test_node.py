"""A 3-node cluster driven through the Python API: election, replication, forwarding, reads,
leadership transfer, snapshots, errors."""

from __future__ import annotations

import pytest

import senate
from cluster import Cluster
from senate import RaftNode

ELECTION_TICKS = senate._core.DEFAULT_ELECTION_TIMEOUT_TICKS
#: Ticks within which a leader must be elected (timeouts are drawn from [10, 20)).
ELECTION_BOUND = 10 * ELECTION_TICKS


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster(3, seed=7)
    c.wait_for_leader(ELECTION_BOUND)
    return c


def test_a_leader_is_elected() -> None:
    c = Cluster(3, seed=1)
    ticks = c.run_until(lambda: c.leader() is not None, ELECTION_BOUND)
    leader = c.leader()
    assert leader is not None
    assert ticks >= ELECTION_TICKS
    c.tick(2)
    status = c.nodes[leader].status()
    assert status.role == "leader"
    assert status.leader == leader
    for follower in c.followers():
        follower_status = c.nodes[follower].status()
        assert follower_status.role == "follower"
        assert follower_status.leader == leader
        assert follower_status.term == status.term
    assert sorted(p[0] for p in status.peers) == c.followers()
    for peer_id, match_index, next_index, state, recent_active in status.peers:
        assert peer_id in c.ids
        assert match_index < next_index
        assert state in ("probe", "replicate", "snapshot")
        # Both followers answered the leader within the last two ticks.
        assert recent_active is True


def test_proposals_at_leader_and_follower_commit_everywhere_in_order(cluster: Cluster) -> None:
    leader = cluster.wait_for_leader()
    follower = cluster.followers()[0]
    proposals = []
    for i in range(20):
        at = leader if i % 2 == 0 else follower
        data = f"entry {i} via {at}".encode()
        cluster.nodes[at].propose(data)
        proposals.append(data)
        cluster.settle()
    cluster.nodes[follower].propose_batch([b"batch-a", b"batch-b", b"batch-c"])
    proposals += [b"batch-a", b"batch-b", b"batch-c"]
    cluster.run_until(lambda: all(cluster.all_applied(p) for p in proposals), 50)
    cluster.assert_agreement()
    logs = [cluster.apps[i].values() for i in cluster.ids]
    assert logs[0] == logs[1] == logs[2]
    assert sorted(logs[0]) == sorted(proposals)
    # Each node proposed its own entries in order; the batch stays contiguous.
    batch_at = logs[0].index(b"batch-a")
    assert logs[0][batch_at : batch_at + 3] == [b"batch-a", b"batch-b", b"batch-c"]
    leader_own = [p for p in logs[0] if p.endswith(f"via {leader}".encode())]
    assert leader_own == [p for p in proposals if p.endswith(f"via {leader}".encode())]
    statuses = [cluster.nodes[i].status() for i in cluster.ids]
    assert len({s.commit for s in statuses}) == 1


def test_not_leader_when_no_leader_is_known() -> None:
    node = RaftNode(1, [1, 2, 3])
    with pytest.raises(senate.NotLeader) as info:
        node.propose(b"x")
    assert info.value.leader_hint is None
    with pytest.raises(senate.NotLeader):
        node.propose_batch([b"x"])


def test_not_leader_carries_the_hint_when_forwarding_is_off() -> None:
    c = Cluster(3, seed=3, forward_proposals=False)
    leader = c.wait_for_leader(ELECTION_BOUND)
    c.tick(2)
    follower = c.followers()[0]
    with pytest.raises(senate.NotLeader) as info:
        c.nodes[follower].propose(b"x")
    assert info.value.leader_hint == leader
    assert isinstance(info.value, senate.SenateError)


@pytest.mark.parametrize("at_leader", [True, False])
def test_read_index_produces_a_read_state(cluster: Cluster, at_leader: bool) -> None:
    cluster.tick(2)
    leader = cluster.wait_for_leader()
    cluster.nodes[leader].propose(b"before the read")
    cluster.run_until(lambda: cluster.all_applied(b"before the read"), 20)
    node_id = leader if at_leader else cluster.followers()[0]
    commit = cluster.nodes[leader].status().commit
    cluster.nodes[node_id].read_index(42)
    cluster.run_until(lambda: any(r == 42 for r, _ in cluster.read_states[node_id]), 20)
    ((request_id, index),) = cluster.read_states[node_id]
    assert request_id == 42
    assert index >= commit
    cluster.run_until(lambda: cluster.apps[node_id].applied_index >= index, 20)


def test_transfer_leader_moves_leadership(cluster: Cluster) -> None:
    leader = cluster.wait_for_leader()
    cluster.tick(2)
    target = cluster.followers()[-1]
    cluster.nodes[leader].transfer_leader(target)
    cluster.run_until(lambda: cluster.leader() == target, 3 * ELECTION_TICKS)
    old = cluster.nodes[leader].status()
    assert old.role == "follower"
    assert old.leader == target
    cluster.nodes[target].propose(b"after transfer")
    cluster.run_until(lambda: cluster.all_applied(b"after transfer"), 20)


def test_transfer_leader_requested_at_a_follower_is_forwarded(cluster: Cluster) -> None:
    cluster.tick(2)
    follower = cluster.followers()[0]
    cluster.nodes[follower].transfer_leader(follower)
    cluster.run_until(lambda: cluster.leader() == follower, 3 * ELECTION_TICKS)


def test_campaign_starts_an_election() -> None:
    c = Cluster(3, seed=11)
    c.nodes[2].campaign()
    c.settle()
    assert c.leader() == 2


def test_compacted_log_reaches_a_lagging_node_by_snapshot(cluster: Cluster) -> None:
    leader = cluster.wait_for_leader()
    cluster.tick(2)
    lagging = cluster.followers()[0]
    cluster.isolated.add(lagging)
    proposals = [f"while {lagging} was away: {i}".encode() for i in range(30)]
    for data in proposals:
        cluster.nodes[leader].propose(data)
        cluster.settle()
    others = [i for i in cluster.ids if i != lagging]
    cluster.run_until(lambda: cluster.all_applied(proposals[-1], others), 20)
    applied = cluster.apps[leader].applied_index
    for node_id in others:
        app = cluster.apps[node_id]
        cluster.nodes[node_id].compact(applied, app.snapshot_bytes(applied))
    status = cluster.nodes[leader].status()
    assert status.first_index == applied + 1
    with pytest.raises(senate.StorageError):
        cluster.nodes[leader].compact(applied + 100, b"beyond applied")
    cluster.isolated.clear()
    cluster.run_until(lambda: cluster.all_applied(proposals[-1]), 5 * ELECTION_TICKS)
    assert cluster.snapshots_restored[lagging] == 1
    cluster.nodes[leader].propose(b"after the snapshot")
    cluster.run_until(lambda: cluster.all_applied(b"after the snapshot"), 20)
    cluster.assert_agreement()
    assert cluster.apps[lagging].values() == cluster.apps[leader].values()


def test_crash_restart_keeps_the_persisted_log(cluster: Cluster) -> None:
    leader = cluster.wait_for_leader()
    cluster.nodes[leader].propose(b"durable")
    cluster.run_until(lambda: cluster.all_applied(b"durable"), 20)
    for node_id in cluster.ids:
        cluster.crash_restart(node_id)
        assert cluster.nodes[node_id].status().last_index >= cluster.apps[node_id].applied_index
    new_leader = cluster.wait_for_leader(ELECTION_BOUND)
    cluster.nodes[new_leader].propose(b"after restart")
    cluster.run_until(lambda: cluster.all_applied(b"after restart"), 50)
    cluster.assert_agreement()


def test_decode_error_on_garbage() -> None:
    node = RaftNode(1, [1, 2, 3])
    with pytest.raises(senate.DecodeError):
        node.step(b"\x00garbage that is no frame at all")
    with pytest.raises(senate.DecodeError):
        node.step([b"more", b" garbage"])
    with pytest.raises(TypeError):
        node.step("not bytes")  # type: ignore[arg-type]
    assert node.step(b"") == 0
    assert node.step([]) == 0


def test_good_frames_before_a_bad_one_are_stepped() -> None:
    c = Cluster(3, seed=5)
    c.nodes[1].campaign()
    ready = c.nodes[1].ready()
    assert ready is not None
    frames = dict(ready.messages)
    c.nodes[1].advance()
    assert not c.nodes[2].has_ready()
    assert c.nodes[2].step(frames[2]) >= 1
    assert c.nodes[2].has_ready()
    assert not c.nodes[3].has_ready()
    with pytest.raises(senate.DecodeError):
        c.nodes[3].step([frames[3], b"\xff\xff\xff"])
    assert c.nodes[3].has_ready(), "the good frame before the garbage was stepped"
    with pytest.raises(senate.DecodeError):
        RaftNode(2, [1, 2, 3]).step(frames[2][:-1])


def test_a_frame_for_another_node_is_an_unknown_peer() -> None:
    c = Cluster(3, seed=5)
    c.nodes[1].campaign()
    ready = c.nodes[1].ready()
    assert ready is not None
    frames = dict(ready.messages)[2]
    with pytest.raises(senate.UnknownPeer) as info:
        c.nodes[3].step(frames)
    assert info.value.id == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"election_timeout_ticks": 1, "heartbeat_interval_ticks": 1}, "election_timeout_ticks"),
        ({"election_timeout_ticks": 5, "heartbeat_interval_ticks": 6}, "election_timeout_ticks"),
        ({"heartbeat_interval_ticks": 0}, "heartbeat_interval_ticks"),
        ({"max_entries_per_msg": 0}, "max_entries_per_msg"),
        ({"max_inflight_msgs": 0}, "max_inflight_msgs"),
        ({"max_committed_bytes_per_ready": 0}, "max_committed_bytes_per_ready"),
        ({"lease_reads": True, "check_quorum": False}, "lease_reads"),
    ],
)
def test_config_error_names_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(senate.ConfigError) as info:
        RaftNode(1, [1, 2, 3], **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.problem
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("node_id", "voters", "field"),
    [(0, [1, 2, 3], "id"), (1, [], "voters"), (1, [1, 1, 2], "voters"), (1, [0, 1], "voters")],
)
def test_config_error_on_ids(node_id: int, voters: list[int], field: str) -> None:
    with pytest.raises(senate.ConfigError) as info:
        RaftNode(node_id, voters)
    assert info.value.field == field


def test_every_exception_is_a_senate_error() -> None:
    classes = [
        senate.NotLeader,
        senate.ProposalDropped,
        senate.ConfigError,
        senate.UnknownPeer,
        senate.StorageError,
        senate.Compacted,
        senate.Unavailable,
        senate.SnapshotOutOfDate,
        senate.DecodeError,
        senate.InvalidMessage,
        senate.ReadyNotAdvanced,
    ]
    for cls in classes:
        assert issubclass(cls, senate.SenateError)
        assert issubclass(cls, Exception)
        assert cls.__module__ == "senate"
    for cls in (senate.Compacted, senate.Unavailable, senate.SnapshotOutOfDate):
        assert issubclass(cls, senate.StorageError)
    # Attributes exist even on instances raised from Python.
    assert senate.NotLeader("x").leader_hint is None
    assert senate.ConfigError("x").field is None
    assert senate.ProposalDropped("x").reason is None
    assert senate.errors.SenateError is senate.SenateError


def test_proposal_dropped_names_its_reason(cluster: Cluster) -> None:
    leader = cluster.wait_for_leader()
    with pytest.raises(senate.ProposalDropped) as info:
        cluster.nodes[leader].propose_batch([])
    assert info.value.reason == "empty"


def test_single_voter_round_and_noop() -> None:
    node = RaftNode(1, [1])
    node.noop()
    node.campaign()
    ready = node.ready()
    assert ready is not None
    assert ready.role == "leader"
    assert ready.leader == 1
    assert ready.hard_state is not None
    node.advance()
    committed = []
    node.propose(b"solo")
    for _ in range(5):
        ready = node.ready()
        if ready is None:
            break
        committed += [e for e in ready.committed if not e.is_noop]
        node.advance()
    assert [(e.data, e.term) for e in committed] == [(b"solo", 1)]
    assert committed[0].index == node.status().commit
    assert "Entry(" in repr(committed[0])
    assert "RaftNode(" in repr(node)
    assert node.id == 1


#: What the core adds to a payload when it sizes batches (`raft/message.rs`).
ENTRY_OVERHEAD_BYTES = 24


@pytest.mark.parametrize("limit_bytes", [1, 250, 1000, None])
def test_committed_entries_come_at_most_max_committed_bytes_per_ready_at_a_time(
    limit_bytes: int | None,
) -> None:
    """Ten committed entries of 100 bytes come in Readies of at most `limit_bytes` (sized
    with the per-entry overhead; at least one entry each), in order; by default all at once."""
    node = RaftNode(1, [1], max_committed_bytes_per_ready=limit_bytes)
    node.campaign()
    while (ready := node.ready()) is not None:  # the election and the leader's no-op
        node.advance()
    payloads = [bytes([k]) * 100 for k in range(10)]
    node.propose_batch(payloads)
    sizes, committed = [], []
    while (ready := node.ready()) is not None:
        entries = [e.data for e in ready.committed]
        if entries:
            sizes.append(len(entries))
            committed += entries
        node.advance()
    assert committed == payloads
    if limit_bytes is None:
        assert sizes == [10]
    else:
        per_ready = max(1, limit_bytes // (100 + ENTRY_OVERHEAD_BYTES))
        assert max(sizes) == per_ready
        assert len(sizes) == -(-10 // per_ready)


def test_ready_twice_without_advance_is_a_typed_error() -> None:
    node = RaftNode(1, [1])
    node.campaign()
    assert node.ready() is not None
    with pytest.raises(senate.ReadyNotAdvanced):
        node.ready()
    node.advance()
    while node.ready() is not None:
        node.advance()
    assert node.status().role == "leader"
