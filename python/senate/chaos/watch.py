"""Who leads, as seen from outside during a chaos run: every node's `INFO senate` polled in
a thread, the leader chosen as `senate.Client` chooses it (the highest term's claim), and
every change recorded with its time."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from senate.client import choose_leader
from senate.launcher import LocalCluster, LocalNode
from senate.runtime.transport import parse_host_port
from senate.status import RespError, SenateInfo, resp_call

#: Seconds between two polls of every node, and the timeout of one poll of one node (a
#: paused node costs that much per round).
POLL_INTERVAL_S = 0.05
POLL_TIMEOUT_S = 0.2


@dataclass(frozen=True)
class LeaderChange:
    t_s: float  # seconds since the run's start
    leader: int | None  # None: no node known to lead
    term: int  # the highest term (Multi-Paxos: ballot round) seen then

    def to_json(self) -> dict[str, float | int | None]:
        return {"t_s": self.t_s, "leader": self.leader, "term": self.term}


class LeaderWatcher:
    """Polls `cluster` until `stop`; `leader()` is the latest view, `changes` the history."""

    def __init__(self, cluster: LocalCluster, clock: Callable[[], float]) -> None:
        self.cluster = cluster
        self.clock = clock
        self.changes: list[LeaderChange] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="senate-watch", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def leader(self) -> int | None:
        with self._lock:
            return self.changes[-1].leader if self.changes else None

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            infos = [info for info in map(self._info, self.cluster.nodes) if info is not None]
            leader, term = choose_leader(infos)
            with self._lock:
                last = self.changes[-1] if self.changes else None
                # A new leader, or the same one in a new term; not a term bump without one.
                if last is None or last.leader != leader or (leader and last.term != term):
                    self.changes.append(LeaderChange(self.clock(), leader, term))

    @staticmethod
    def _info(node: LocalNode) -> SenateInfo | None:
        if node.pid is None:
            return None
        address = parse_host_port(node.client)
        with contextlib.suppress(OSError, RespError, ValueError):
            reply = resp_call(address, "INFO", "senate", timeout_s=POLL_TIMEOUT_S)
            if isinstance(reply, bytes):
                return SenateInfo.parse(reply.decode(errors="replace"))
        return None
