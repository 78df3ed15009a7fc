"""What `senate.Client` knows of a cluster, with no I/O: who leads (the highest term's
claim), each node's status from its failure detector, and the balancer over the followers
that serve stale reads. The client (`senate.client`) is the asyncio shell around it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from senate.balance import ALGORITHMS, Balancer
from senate.detect import Detector, HeartbeatDetector, PhiAccrualDetector
from senate.status import SenateInfo

#: The balancer of stale reads unless the client is given another.
DEFAULT_BALANCER = "round_robin"
#: The phi detector's settings are Akka's for a 1 s heartbeat, scaled to the interval:
#: a pause of this many intervals is acceptable, and the standard deviation is at least
#: this fraction of an interval.
PHI_ACCEPTABLE_PAUSE_INTERVALS = 3.0
PHI_MIN_STD_DEVIATION_INTERVALS = 0.1
#: The timeout detector gives up after this many intervals without a PONG.
TIMEOUT_DETECTOR_INTERVALS = 5.0

Status = Literal["unknown", "up", "down"]
Role = Literal["leader", "follower", "unknown"]


def choose_leader(infos: Iterable[SenateInfo]) -> tuple[int | None, int]:
    """(leader id or None, term) from the nodes' INFO. Only the highest term reported counts
    (a leader of an older term has been deposed, whether it knows or not): the node claiming
    leadership in it, failing that the leader a node of that term knows of."""
    infos = list(infos)
    if not infos:
        return None, 0
    term = max(info.term for info in infos)
    current = [info for info in infos if info.term == term]
    claims = {info.node_id for info in current if info.role == "leader"}
    if claims:  # two claims in one term would be a server's bug: trust neither
        return (claims.pop() if len(claims) == 1 else None), term
    hints = {info.leader for info in current if info.leader is not None}
    return (hints.pop() if len(hints) == 1 else None), term


def _balancers_by_name() -> dict[str, type[Balancer]]:
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower(): cls for cls in ALGORITHMS}


def balancer_names() -> list[str]:
    """The snake_case names of the balancers of `senate.balance`, sorted."""
    return sorted(_balancers_by_name())


def balancer_class(name: str | type[Balancer]) -> type[Balancer]:
    """A balancer class from its snake_case name (`"round_robin"`, `"peak_ewma"`, ...) or
    itself."""
    if isinstance(name, type):
        if name not in ALGORITHMS:
            raise ValueError(f"{name.__name__} is not a balancer of senate.balance")
        return name
    by_name = _balancers_by_name()
    if name not in by_name:
        raise ValueError(f"unknown balancer {name!r}; one of {', '.join(sorted(by_name))}")
    return by_name[name]


def detector_factory(
    kind: Literal["phi", "timeout"], heartbeat_interval_s: float
) -> Callable[[], Detector]:
    """Makes the detectors of one kind, tuned to the heartbeat interval."""
    interval_ms = heartbeat_interval_s * 1000.0
    if kind == "phi":
        return lambda: PhiAccrualDetector(
            first_heartbeat_estimate_ms=interval_ms,
            acceptable_heartbeat_pause_ms=PHI_ACCEPTABLE_PAUSE_INTERVALS * interval_ms,
            min_std_deviation_ms=PHI_MIN_STD_DEVIATION_INTERVALS * interval_ms,
        )
    if kind == "timeout":
        return lambda: HeartbeatDetector(TIMEOUT_DETECTOR_INTERVALS * interval_ms)
    raise ValueError(f"detector must be 'phi' or 'timeout', not {kind!r}")


@dataclass(frozen=True)
class NodeView:
    """One node as the client sees it."""

    #: None until the node answered an INFO.
    id: int | None
    address: str
    role: Role
    status: Status
    #: Attempts sent to the node (commands and stale reads; not PINGs nor INFOs).
    requests: int
    #: Those of the attempts the node answered: a reply, or the command's own error reply
    #: (not a retryable one, a timeout or a connection error).
    served: int

    @property
    def up(self) -> bool:
        """Not down: up, or not heard of yet (routing tries it)."""
        return self.status != "down"


@dataclass
class NodeState:
    index: int
    address: str
    detector: Detector
    id: int | None = None
    status: Status = "unknown"
    requests: int = 0
    served: int = 0  # <= requests


@dataclass
class ClusterView:
    """What the client knows of the cluster, with no I/O: node ids and statuses, the leader,
    and the balancer over the up followers. Time comes in as `now_ms`. Every method that
    changes a status returns the change as a log line (None when nothing changed)."""

    addresses: Sequence[str]
    new_detector: Callable[[], Detector]
    balancer: Balancer
    nodes: list[NodeState] = field(init=False)
    #: The leader's id, None when unknown or forgotten.
    leader: int | None = None
    #: The highest term seen; a leader of an older term is never taken.
    term: int = 0
    #: The leader most recently taken (kept when it is forgotten).
    last_leader: int | None = None

    def __post_init__(self) -> None:
        assert self.addresses, "a cluster view needs at least one address"
        assert len(self.balancer) == 0, "the balancer starts empty"
        self.nodes = [NodeState(i, a, self.new_detector()) for i, a in enumerate(self.addresses)]

    # --- ids and leadership ------------------------------------------------------------
    def by_id(self, node_id: int) -> NodeState | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def learn(self, index: int, info: SenateInfo) -> None:
        """Records what node `index` said of itself in INFO."""
        node = self.nodes[index]
        if node.id != info.node_id:
            other = self.by_id(info.node_id)
            assert other is None or other is node, f"node id {info.node_id} at two addresses"
            node.id = info.node_id
            self._sync_balancer()

    def observe(self, infos: Iterable[SenateInfo]) -> str | None:
        """Takes the leader from INFO replies (`choose_leader`) unless its term is older than
        one seen before."""
        leader, term = choose_leader(infos)
        if term < self.term:
            return None
        if term > self.term:
            self.term = term
            self.leader = None  # a new term: the old leader is deposed
        if leader is None or leader == self.leader:
            return None
        changed = leader != self.last_leader
        self.leader = self.last_leader = leader
        self._sync_balancer()
        return f"leader is node {leader} (term {term})" if changed else None

    def forget_leader(self, node_id: int) -> None:
        """Node `node_id` failed as leader: discover the leader again."""
        if self.leader == node_id:
            self.leader = None

    def role(self, node: NodeState) -> Role:
        if node.id is None or self.leader is None:
            return "unknown"
        return "leader" if node.id == self.leader else "follower"

    # --- liveness -----------------------------------------------------------------------
    def pong(self, index: int, now_ms: float) -> str | None:
        node = self.nodes[index]
        if node.status == "down":
            node.detector = self.new_detector()  # the outage is no heartbeat interval
        node.detector.heartbeat(now_ms)
        return self._set_status(node, "up", "answered PING")

    def failed(self, index: int, reason: str) -> str | None:
        """Node `index`'s connection failed: it is down until its next PONG."""
        node = self.nodes[index]
        if node.id is not None:
            self.forget_leader(node.id)
        return self._set_status(node, "down", reason)

    def check(self, now_ms: float) -> list[str]:
        """Marks down the up nodes whose detector gave up on them."""
        changes = []
        for node in self.nodes:
            if node.status == "up" and not node.detector.is_available(now_ms):
                change = self._set_status(node, "down", "missed its heartbeats")
                assert change is not None
                changes.append(change)
        return changes

    def _set_status(self, node: NodeState, status: Status, reason: str) -> str | None:
        if node.status == status:
            return None
        node.status = status
        if node.id is not None and str(node.id) in self.balancer:
            if status == "down":
                self.balancer.mark_down(str(node.id))
            else:
                self.balancer.mark_up(str(node.id))
        return f"node {node.id or '?'} ({node.address}) is {status}: {reason}"

    # --- routing --------------------------------------------------------------------------
    def write_target(self) -> NodeState | None:
        """The leader's node, unless it is unknown or down."""
        if self.leader is None:
            return None
        node = self.by_id(self.leader)
        return node if node is not None and node.status != "down" else None

    def needs_discovery(self) -> bool:
        return self.leader is None or any(n.id is None and n.status == "up" for n in self.nodes)

    def discovery_targets(self) -> list[NodeState]:
        """The nodes to ask for the leader: those not down, or all when all are down."""
        return [n for n in self.nodes if n.status != "down"] or list(self.nodes)

    def _sync_balancer(self) -> None:
        """Makes the balancer's backends the nodes of known id but the last leader known (it
        stays out while forgotten: the followers keep serving stale reads in an election),
        each up or down as its node."""
        followers = {
            str(n.id): n for n in self.nodes if n.id is not None and n.id != self.last_leader
        }
        for name in self.balancer.backends:
            if name not in followers:
                self.balancer.remove(name)
        for name, node in followers.items():
            if name not in self.balancer:
                self.balancer.add(name)
                if node.status == "down":
                    self.balancer.mark_down(name)
