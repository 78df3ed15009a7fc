"""The pure parts of `senate.Client`, with no network: whom INFO names leader, which error
replies are retried, the balancer and detector choices, and the view of the cluster (ids,
statuses, the leader, the balancer over the followers) driven by hand with times in ms."""

from __future__ import annotations

import pytest
import redis.exceptions

from senate import Client, ClientError, NoLeader, SenateError
from senate.balance import LeastRequest, Maglev, NoBackendAvailable, RoundRobin
from senate.client import (
    ClusterView,
    balancer_class,
    choose_leader,
    detector_factory,
    is_retryable_reply,
)
from senate.status import SenateInfo

ADDRESSES = ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
INTERVAL_MS = 200.0


def info(node_id: int, role: str, term: int, leader: int | None) -> SenateInfo:
    return SenateInfo(node_id, 1000 + node_id, role, term, leader, 10, 10, 0, 10, [])


def view(interval_ms: float = INTERVAL_MS) -> ClusterView:
    return ClusterView(
        ADDRESSES, detector_factory("phi", interval_ms / 1000.0), RoundRobin([], panic_threshold=0)
    )


def known(v: ClusterView, leader: int = 1, term: int = 2) -> ClusterView:
    """`v` after an INFO round: ids 1, 2, 3 at the addresses in order, `leader` leading."""
    infos = [info(i, "leader" if i == leader else "follower", term, leader) for i in range(1, 4)]
    for index, i in enumerate(infos):
        v.learn(index, i)
    assert v.observe(infos) == f"leader is node {leader} (term {term})"
    return v


def heartbeats(v: ClusterView, indexes: list[int], from_ms: float, to_ms: float) -> None:
    t = from_ms
    while t <= to_ms:
        for index in indexes:
            v.pong(index, t)
        t += INTERVAL_MS


# --- choose_leader ---------------------------------------------------------------------------


def test_the_leader_is_the_claim_of_the_highest_term() -> None:
    infos = [info(1, "leader", 3, 1), info(2, "leader", 4, 2), info(3, "follower", 4, 2)]
    assert choose_leader(infos) == (2, 4)


def test_a_deposed_leader_that_does_not_know_it_is_not_chosen() -> None:
    # Node 1 still claims term 3; the others moved to term 4 and elect.
    infos = [info(1, "leader", 3, 1), info(2, "candidate", 4, None), info(3, "follower", 4, None)]
    assert choose_leader(infos) == (None, 4)


def test_without_a_claim_a_hint_of_the_highest_term_names_the_leader() -> None:
    infos = [info(2, "follower", 5, 3), info(3, "follower", 4, 1)]
    assert choose_leader(infos) == (3, 5)
    assert choose_leader([]) == (None, 0)
    assert choose_leader([info(2, "pre_candidate", 5, None)]) == (None, 5)


# --- is_retryable_reply ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (redis.exceptions.ResponseError("TRYAGAIN not committed within 5 s"), True),
        (redis.exceptions.TryAgainError("not committed within 5 s"), True),
        (redis.exceptions.ResponseError("BUSY too many requests waiting for commit"), True),
        (redis.exceptions.ResponseError("CLUSTERDOWN no leader"), True),
        (redis.exceptions.ClusterDownError("no leader"), True),
        (redis.exceptions.ResponseError("value is not an integer or out of range"), False),
        (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), False),
        (redis.exceptions.ResponseError("unknown command 'FOO'"), False),
        (redis.exceptions.ResponseError("BUSYKEY Target key name already exists"), False),
    ],
)
def test_only_not_now_replies_are_retried(error: Exception, retryable: bool) -> None:
    assert is_retryable_reply(error) is retryable


# --- choices ---------------------------------------------------------------------------------


def test_balancers_are_named_in_snake_case_or_given_as_classes() -> None:
    assert balancer_class("round_robin") is RoundRobin
    assert balancer_class("least_request") is LeastRequest
    assert balancer_class(Maglev) is Maglev
    with pytest.raises(ValueError, match="unknown balancer 'fastest'; one of"):
        balancer_class("fastest")
    with pytest.raises(ValueError, match="is not a balancer"):
        balancer_class(dict)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["phi", "timeout"])
def test_detectors_are_tuned_to_the_heartbeat_interval(kind: str) -> None:
    detector = detector_factory(kind, 0.2)()  # type: ignore[arg-type]
    for t in range(0, 2001, 200):
        detector.heartbeat(float(t))
    assert detector.is_available(2000.0 + 250.0)
    assert not detector.is_available(2000.0 + 1500.0)  # a 1.5 s silence: 7.5 intervals


def test_a_bad_client_configuration_is_refused_before_any_connection() -> None:
    with pytest.raises(ValueError, match="1 to 99 endpoints"):
        Client([])
    with pytest.raises(ValueError, match="endpoints repeat"):
        Client(["127.0.0.1:1", "127.0.0.1:1"])
    with pytest.raises(ValueError, match="is not host:port"):
        Client(["localhost"])
    with pytest.raises(ValueError, match="detector must be"):
        Client(ADDRESSES, detector="psychic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be positive"):
        Client(ADDRESSES, timeout_s=0)


def test_the_errors_are_senate_errors() -> None:
    assert issubclass(NoLeader, ClientError)
    assert issubclass(ClientError, SenateError)
    e = NoLeader("no leader found", "SET", 3, None)
    assert (e.command, e.attempts, e.last_error) == ("SET", 3, None)


# --- the view of the cluster -------------------------------------------------------------------


def test_the_balancer_holds_the_followers_once_the_leader_is_known() -> None:
    v = view()
    assert v.balancer.backends == []
    v.learn(0, info(1, "leader", 2, 1))
    assert v.balancer.backends == ["1"]  # no leader known yet: any node may serve
    known(v, leader=1)
    assert sorted(v.balancer.backends) == ["2", "3"]
    assert [v.role(n) for n in v.nodes] == ["leader", "follower", "follower"]
    assert v.write_target() is v.nodes[0]


def test_a_new_leader_swaps_into_the_balancer_and_older_terms_are_ignored() -> None:
    v = known(view(), leader=1, term=2)
    assert v.observe([info(2, "leader", 3, 2)]) == "leader is node 2 (term 3)"
    assert (v.leader, v.term) == (2, 3)
    assert sorted(v.balancer.backends) == ["1", "3"]
    assert v.observe([info(1, "leader", 2, 1)]) is None  # a stale claim
    assert v.leader == 2
    # A higher term with no leader yet: the old leader is deposed.
    assert v.observe([info(3, "candidate", 4, None)]) is None
    assert v.term == 4
    assert v.leader is None
    assert v.write_target() is None
    assert v.needs_discovery()


def test_a_forgotten_leader_stays_out_of_the_balancer_until_the_next_one() -> None:
    v = known(view(), leader=1)
    v.forget_leader(1)
    assert v.leader is None
    assert v.write_target() is None
    assert sorted(v.balancer.backends) == ["2", "3"]  # stale reads go on in the election
    # The same leader found again is taken again, without a log line.
    assert v.observe([info(1, "leader", 2, 1)]) is None
    assert v.leader == 1


def test_a_failed_connection_marks_a_node_down_until_its_next_pong() -> None:
    v = known(view(), leader=1)
    heartbeats(v, [0, 1, 2], 0.0, 1000.0)
    assert [n.status for n in v.nodes] == ["up", "up", "up"]
    change = v.failed(1, "ConnectionError: refused")
    assert change == "node 2 (127.0.0.1:7102) is down: ConnectionError: refused"
    assert v.failed(1, "again") is None  # one line per change
    assert not v.balancer.is_up("2")
    assert {v.balancer.pick() for _ in range(10)} == {"3"}
    assert v.pong(1, 1100.0) == "node 2 (127.0.0.1:7102) is up: answered PING"
    assert v.balancer.is_up("2")


def test_the_leader_failing_is_forgotten_and_skipped() -> None:
    v = known(view(), leader=1)
    v.failed(0, "ConnectionError: reset")
    assert v.leader is None
    assert v.write_target() is None


def test_the_detector_marks_down_a_silent_node_and_a_fresh_one_watches_it_back() -> None:
    v = known(view(), leader=1)
    heartbeats(v, [0, 1, 2], 0.0, 2000.0)
    changes = []
    for t in range(2200, 4001, 200):  # node 2 (index 1) falls silent after 2000 ms
        heartbeats(v, [0, 2], t, t)
        changes += [(t, change) for change in v.check(float(t))]
    assert len(changes) == 1, changes
    down_at_ms, change = changes[0]
    assert change == "node 2 (127.0.0.1:7102) is down: missed its heartbeats"
    assert 2400 < down_at_ms <= 3400  # within 7 intervals of the last heartbeat
    assert [n.status for n in v.nodes] == ["up", "down", "up"]
    assert {v.balancer.pick() for _ in range(10)} == {"3"}
    v.balancer.mark_down("3")
    with pytest.raises(NoBackendAvailable):
        v.balancer.pick()
    v.balancer.mark_up("3")
    # Back after 10 s away: up at once, and the outage is not learned as an interval.
    assert v.pong(1, 14000.0) is not None
    heartbeats(v, [0, 1, 2], 14200.0, 15000.0)
    assert v.check(15000.0 + 1500.0) != []  # a 1.5 s silence is noticed again
    assert v.nodes[1].status == "down"


def test_nodes_not_heard_of_are_routed_to_and_ask_for_discovery() -> None:
    v = view()
    assert all(n.status == "unknown" for n in v.nodes)
    assert v.needs_discovery()
    assert v.discovery_targets() == v.nodes
    for index in range(3):
        v.failed(index, "refused")
    assert v.discovery_targets() == v.nodes  # all down: ask them all anyway
