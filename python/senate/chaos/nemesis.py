"""The nemesis of `senate chaos`: a fault schedule drawn from a seed, carried out on a local
cluster of `senate serve` processes started with fault control.

The schedule alternates quiet gaps and faults, one fault at a time, so that the availability
during each fault and the recovery after it can be told apart. Every kind asked for comes
once per cycle, in an order drawn from the seed; a run long enough for one cycle sees every
kind. Which node a fault hits (the leader, a follower) is decided when it starts, from the
leader the watcher sees then: the schedule is the seed's, the cluster's state is not.

Fault kinds (durations drawn in `[FAULT_MIN_S, FAULT_MAX_S)`, gaps in `[GAP_MIN_S, GAP_MAX_S)`):

    kill            SIGKILL a node (the leader or a follower), restart it at the end
    pause           SIGSTOP a node, SIGCONT at the end
    isolate-leader  cut the leader off both ways (a link cut in the peer transport)
    split           a random minority cut off from the majority, both ways
    bridge          two halves that reach each other only through one bridge node
    one-way         the leader's frames to its followers dropped; theirs still reach it
                    (partitions: links cut in the peer transport, or with `netfilter`,
                    nftables rules dropping the packets between the nodes' addresses)
    disk-stall      the leader's (or a follower's) log writes held back
    snapshot        every node snapshots and compacts its log, during a follower's pause
    transfer        leadership transferred to a random follower, during a disk stall
    replace         a member (the leader or a follower; SIGKILLed first or not, drawn)
                    replaced as docs/membership.md says: a fresh node under a new id with
                    an empty data directory (`join = true`) added as a learner, promoted,
                    the old id removed and its process stopped; a replacement is skipped
                    (and said so) when it would leave fewer than `MIN_FIRST_MEMBERS` of
                    the first members, which the clients know as their endpoints
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from senate.chaos.control import ControlError, call
from senate.chaos.netfilter import NetfilterPartitioner
from senate.check import CHAOS_FAULT_KINDS
from senate.launcher import LocalCluster
from senate.member_calls import MemberCallError, replace_member

log = logging.getLogger("senate.chaos")

#: The fault kinds, as the history format names them (see the module docs for each).
FAULT_KINDS: tuple[str, ...] = CHAOS_FAULT_KINDS
#: A fault lasts `[FAULT_MIN_S, FAULT_MAX_S)` seconds, a quiet gap `[GAP_MIN_S, GAP_MAX_S)`.
FAULT_MIN_S = 1.0
FAULT_MAX_S = 2.5
GAP_MIN_S = 0.5
GAP_MAX_S = 1.5
#: How long one control call may take (a paused node does not answer).
CONTROL_TIMEOUT_S = 2.0
#: How long a restarted node may take to answer on its control socket.
RESTART_TIMEOUT_S = 30.0
#: How long a replacement (add, promote, remove) may take, in seconds.
REPLACE_TIMEOUT_S = 60.0
#: Members of the first configuration a replacement leaves at least: the clients' endpoints
#: are the first members' client addresses.
MIN_FIRST_MEMBERS = 2


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    start_s: float  # from the start of the fault phase
    duration_s: float
    draw: int  # the seed of the choices made when it starts (targets, sides)


def schedule(seed: int, kinds: Sequence[str], duration_s: float) -> list[PlannedFault]:
    """The faults of a fault phase of `duration_s` seconds: a gap, a fault, a gap, ..., each
    kind once per cycle in a drawn order; the last fault ends before `duration_s`."""
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        raise ValueError(f"fault kinds must be among {', '.join(FAULT_KINDS)}: {kinds}")
    rng = random.Random(seed)
    planned: list[PlannedFault] = []
    t = rng.uniform(GAP_MIN_S, GAP_MAX_S)
    cycle: list[str] = []
    while True:
        if not cycle:
            cycle = list(kinds)
            rng.shuffle(cycle)
        length = rng.uniform(FAULT_MIN_S, FAULT_MAX_S)
        if t + length > duration_s:
            return planned
        planned.append(PlannedFault(cycle.pop(), t, length, rng.getrandbits(32)))
        t += length + rng.uniform(GAP_MIN_S, GAP_MAX_S)


@dataclass
class FaultEvent:
    """A fault as it happened: its kind, when (seconds from the run's start), the nodes it
    hit, and what exactly was done."""

    kind: str
    start_s: float
    end_s: float | None
    nodes: list[int]
    detail: str
    errors: list[str] = field(default_factory=list)  # control calls that failed

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "nodes": self.nodes,
            "detail": self.detail,
            "errors": self.errors,
        }


class Nemesis:
    """Carries out a schedule on `cluster` (started with `fault_control=True`) in its own
    thread. `leader()` says who leads now (None if unknown); `clock()` is seconds since the
    run's start. With `netfilter` (the cluster started with `host_per_node=True`),
    partitions are nftables rules between the nodes' addresses instead of cut links."""

    def __init__(
        self,
        cluster: LocalCluster,
        planned: Sequence[PlannedFault],
        leader: Callable[[], int | None],
        clock: Callable[[], float],
        netfilter: NetfilterPartitioner | None = None,
    ) -> None:
        self.cluster = cluster
        self.netfilter = netfilter
        self.planned = list(planned)
        self.leader = leader
        self.clock = clock
        self.events: list[FaultEvent] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._paused: set[int] = set()
        self._killed: set[int] = set()
        #: Members replaced (removed from the configuration, their process stopped).
        self.removed: set[int] = set()
        #: The nodes that replaced them.
        self.added: set[int] = set()
        self._first_members = frozenset(cluster.config.ids)
        self._origin_s = 0.0
        self.error: BaseException | None = None

    # --- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._origin_s = self.clock()
        self._thread = threading.Thread(target=self._run, name="senate-nemesis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops after the fault in progress, then heals everything."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.heal_all()

    def _run(self) -> None:
        try:
            for fault in self.planned:
                if self._wait_until(self._origin_s + fault.start_s):
                    return
                self._carry_out(fault)
        except BaseException as e:  # reported by the runner; the run is void
            log.exception("nemesis failed")
            self.error = e

    def _wait_until(self, t_s: float) -> bool:
        """Sleeps until the run's clock reads `t_s`; True when stopped meanwhile."""
        return self._stop.wait(max(0.0, t_s - self.clock()))

    def _carry_out(self, fault: PlannedFault) -> None:
        rng = random.Random(fault.draw)
        ids = self.members()
        leader = self.leader()
        leader_or_any = leader if leader in ids else rng.choice(ids)
        followers = [i for i in ids if i != leader_or_any]
        event = FaultEvent(fault.kind, self.clock(), None, [], "")
        self.events.append(event)
        undo = self._inject(fault.kind, event, rng, leader_or_any, followers)
        log.info("fault %s on %s: %s", fault.kind, event.nodes, event.detail)
        self._stop.wait(fault.duration_s)
        undo()
        event.end_s = self.clock()

    def _inject(
        self,
        kind: str,
        event: FaultEvent,
        rng: random.Random,
        leader: int,
        followers: list[int],
    ) -> Callable[[], None]:
        """Starts one fault; returns what ends it."""
        ids = self.members()
        target = leader if rng.random() < 0.5 else rng.choice(followers)
        if kind == "kill":
            event.nodes, event.detail = [target], f"SIGKILL node {target}"
            self._kill(target)
            return lambda: self._restart(target)
        if kind == "pause":
            event.nodes, event.detail = [target], f"SIGSTOP node {target}"
            self._pause(target)
            return lambda: self._resume(target)
        if kind == "isolate-leader":
            return self._partition(event, [[leader], followers])
        if kind == "split":
            shuffled = rng.sample(ids, len(ids))
            minority = (len(ids) - 1) // 2
            return self._partition(event, [shuffled[:minority], shuffled[minority:]])
        if kind == "bridge":
            shuffled = rng.sample(ids, len(ids))
            bridge, rest = shuffled[0], shuffled[1:]
            half = len(rest) // 2
            sides = [rest[:half], rest[half:]]
            event.detail = f"bridge node {bridge} between {sides[0]} and {sides[1]}: "
            return self._partition(event, sides, bridge=bridge)
        if kind == "one-way":
            event.nodes = [leader]
            event.detail = f"node {leader}'s frames to {followers} dropped (one way)"
            self._cut(event, leader, followers)
            return lambda: self._heal(event, [leader])
        if kind == "disk-stall":
            event.nodes, event.detail = [target], f"node {target}'s log writes held back"
            self._control(event, target, {"op": "stall_disk"})
            return lambda: self._control(event, target, {"op": "resume_disk"})
        if kind == "snapshot":
            paused = rng.choice(followers)
            event.nodes = ids
            event.detail = f"every node snapshots and compacts, node {paused} paused"
            self._pause(paused)
            for node_id in ids:
                if node_id != paused:
                    self._control(event, node_id, {"op": "snapshot"})
            return lambda: self._resume(paused)
        if kind == "transfer":
            to = rng.choice(followers)
            event.nodes = [leader, to]
            event.detail = f"leadership from node {leader} to node {to}, node {to}'s disk stalled"
            self._control(event, to, {"op": "stall_disk"})
            self._control(event, leader, {"op": "transfer_leader", "to": to})
            return lambda: self._control(event, to, {"op": "resume_disk"})
        if kind == "replace":
            self._replace(event, target, kill=rng.random() < 0.5)
            return lambda: None
        raise ValueError(f"unknown fault kind {kind!r}")

    def members(self) -> list[int]:
        """The cluster's nodes but those replaced."""
        return [i for i in self.cluster.config.ids if i not in self.removed]

    # --- the means ------------------------------------------------------------------------
    def _replace(self, event: FaultEvent, target: int, kill: bool) -> None:
        """Replaces member `target` by a fresh node (see the module docs), killing it first
        if `kill`; the steps and their times go in `event.detail`, a failure in `errors`."""
        first_left = self._first_members - self.removed - {target}
        if len(first_left) < MIN_FIRST_MEMBERS:
            event.detail = (
                f"replacement of node {target} skipped: it would leave {len(first_left)} of "
                f"the first members, the clients' endpoints"
            )
            return
        if kill:
            self._kill(target)
        asking = {n.id: n.client for n in self.cluster.nodes if n.id in self.members()}
        new_id = self.cluster.add_node()  # started empty, with join = true
        self.added.add(new_id)
        event.nodes = [target, new_id]
        how = "SIGKILLed" if kill else "running"
        event.detail = f"node {target} ({how}) replaced by node {new_id}:"
        try:
            done = replace_member(
                asking,
                target,
                new_id,
                self.cluster.config.addresses(new_id).peer,
                timeout_s=REPLACE_TIMEOUT_S,
                security=self.cluster.client_security,
            )
        except MemberCallError as e:
            event.errors.append(f"replace node {target} by {new_id}: {e}")
            return
        event.detail += "".join(f" {step} {t:.2f} s," for step, t in done.step_end_s.items())
        self.removed.add(target)
        self._killed.discard(target)  # not to be restarted: it is no member
        self._paused.discard(target)
        self.cluster.stop_node(target)
        event.detail += " old process stopped"

    def _partition(
        self, event: FaultEvent, sides: list[list[int]], bridge: int | None = None
    ) -> Callable[[], None]:
        """Cuts every link between `sides` both ways (`bridge`, if any, reaches all)."""
        nodes = sorted(i for side in sides for i in side)
        event.nodes = nodes if bridge is None else sorted([*nodes, bridge])
        event.detail += " | ".join(str(sorted(side)) for side in sides)
        for side in sides:
            others = [i for i in nodes if i not in side]
            for node_id in side:
                if others:
                    self._cut(event, node_id, others)
        return lambda: self._heal(event, event.nodes)

    def _cut(self, event: FaultEvent, node_id: int, peers: list[int]) -> None:
        """Drops what `node_id` sends to `peers` (one way)."""
        if self.netfilter is None:
            self._control(event, node_id, {"op": "cut", "peers": peers})
            return
        for peer in peers:
            self.netfilter.cut_one_way(
                self.cluster.node_host(node_id), self.cluster.node_host(peer)
            )

    def _heal(self, event: FaultEvent, nodes: Iterable[int]) -> None:
        if self.netfilter is not None:
            self.netfilter.heal()
            return
        for node_id in nodes:
            self._control(event, node_id, {"op": "heal"})

    def _control(self, event: FaultEvent, node_id: int, request: dict[str, Any]) -> None:
        """One control call; a node that is down or paused cannot be reached: noted."""
        if node_id in self._killed or node_id in self._paused:
            event.errors.append(f"node {node_id}: {request['op']}: down or paused, skipped")
            return
        try:
            call(self.cluster.fault_socket(node_id), request, timeout_s=CONTROL_TIMEOUT_S)
        except ControlError as e:
            event.errors.append(str(e))

    def _kill(self, node_id: int) -> None:
        self._resume(node_id)  # a paused process dies on SIGKILL as well; keep the books
        self._killed.add(node_id)
        self.cluster.kill(node_id, signal.SIGKILL)

    def _restart(self, node_id: int) -> None:
        """Starts a killed node again and waits until it answers on its control socket, so
        that the next fault finds it listening (a fault that starts while a node boots would
        find its socket closed)."""
        if node_id not in self._killed:
            return
        self._killed.discard(node_id)
        self.cluster.restart(node_id)
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                call(self.cluster.fault_socket(node_id), {"op": "status"}, CONTROL_TIMEOUT_S)
                return
            except ControlError:
                time.sleep(0.02)
        raise ControlError(f"node {node_id} did not answer within {RESTART_TIMEOUT_S:g} s")

    def _pause(self, node_id: int) -> None:
        pid = self._pid(node_id)
        if pid is not None and node_id not in self._paused:
            os.kill(pid, signal.SIGSTOP)
            self._paused.add(node_id)

    def _resume(self, node_id: int) -> None:
        pid = self._pid(node_id)
        if node_id in self._paused:
            self._paused.discard(node_id)
            if pid is not None:
                os.kill(pid, signal.SIGCONT)

    def _pid(self, node_id: int) -> int | None:
        return next(n.pid for n in self.cluster.nodes if n.id == node_id)

    def heal_all(self) -> None:
        """Ends every fault: restarts the killed, resumes the paused, heals every link and
        disk (a node restarted since is healthy already)."""
        for node_id in list(self._paused):
            self._resume(node_id)
        for node_id in list(self._killed):
            self._restart(node_id)
        if self.netfilter is not None:
            self.netfilter.heal()
        deadline = time.monotonic() + 30.0
        for node_id in self.members():
            while True:
                try:
                    path = self.cluster.fault_socket(node_id)
                    call(path, {"op": "heal"}, timeout_s=CONTROL_TIMEOUT_S)
                    call(path, {"op": "resume_disk"}, timeout_s=CONTROL_TIMEOUT_S)
                    break
                except ControlError:  # a restarted node not listening yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
