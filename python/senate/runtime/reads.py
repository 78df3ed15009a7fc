"""Read barriers: linearizable reads through ReadIndex rounds, batched.

A barrier waits, then is issued with the others waiting as one round (a read request id),
is confirmed at a commit index by the core (a read state), and is served once the node has
applied that index. A round lost with a leader change produces nothing: it is issued again.
"""

from __future__ import annotations

import asyncio
import heapq

from senate._core import NotLeader
from senate.errors import CallTimeout
from senate.runtime.core import Core


class Reads:
    """The read barriers of one node, from waiting to served."""

    def __init__(self, node_id: int, wake: asyncio.Event) -> None:
        self.node_id = node_id
        self._wake = wake
        #: Barriers not yet issued: they go in the next round.
        self.waiting: list[asyncio.Future[None]] = []
        self._next_read_id = 1
        #: Rounds issued: request id -> (their barriers, tick issued).
        self._in_flight: dict[int, tuple[list[asyncio.Future[None]], int]] = {}
        #: Rounds confirmed, (commit index, request id, barriers) in a heap: served once the
        #: node applied their index.
        self._confirmed: list[tuple[int, int, list[asyncio.Future[None]]]] = []

    async def barrier(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        """Returns once a round issued after the call is confirmed and applied here."""
        fut: asyncio.Future[None] = loop.create_future()
        self.waiting.append(fut)
        self._wake.set()
        try:
            await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise CallTimeout(f"node {self.node_id}: read not confirmed in time") from None

    def issue(self, core: Core, now_ticks: int) -> None:
        """Issues the waiting barriers as one round (unless no leader is known)."""
        rid = self._next_read_id
        try:
            core.read_index(rid)
        except NotLeader:
            return  # retried on the next wake-up (their own timeouts bound the wait)
        self._next_read_id += 1
        self._in_flight[rid] = (self.waiting, now_ticks)
        self.waiting = []

    def retry_stale(self, now_ticks: int, election_timeout_ticks: int) -> None:
        """Read rounds lost with a leader change produce nothing: re-issue them."""
        horizon = now_ticks - election_timeout_ticks
        for rid, (waiters, issued) in list(self._in_flight.items()):
            if issued < horizon:
                del self._in_flight[rid]
                self.waiting.extend(w for w in waiters if not w.done())
                self._wake.set()

    def confirm(self, read_states: list[tuple[int, int]]) -> None:
        """Records the rounds the core confirmed: (request id, commit index) each."""
        for rid, index in read_states:
            entry = self._in_flight.pop(rid, None)
            if entry is not None:
                heapq.heappush(self._confirmed, (index, rid, entry[0]))

    @property
    def confirmed(self) -> bool:
        """Whether confirmed rounds wait to be served."""
        return bool(self._confirmed)

    def serve(self, applied_index: int) -> None:
        """Answers the confirmed rounds whose index the node applied."""
        confirmed = self._confirmed
        while confirmed and confirmed[0][0] <= applied_index:
            _, _, waiters = heapq.heappop(confirmed)
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def fail_all(self, error: BaseException) -> None:
        """Fails every barrier not yet answered (the node stops)."""
        waiters = list(self.waiting)
        for entry in self._in_flight.values():
            waiters.extend(entry[0])
        for _, _, ws in self._confirmed:
            waiters.extend(ws)
        for fut in waiters:
            if not fut.done():
                fut.set_exception(error)
        self.waiting.clear()
        self._in_flight.clear()
        self._confirmed.clear()
