"""Calls in flight: each proposal's envelope, its deadline, and what waits for its outcome.

A call is proposed as an entry that starts with its envelope (origin node id, the origin's
call sequence number, state machine slot, and the call's request id if it names one:
`senate.runtime.envelope`); the origin answers its caller when it applies the entry
(`senate.runtime.driver.Applier`), or when the call expires, is dropped, or the node stops.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from senate._core import NotLeader, ProposalDropped
from senate.errors import CallTimeout, Overloaded
from senate.runtime.core import Core
from senate.runtime.envelope import ENVELOPE, keyed_entry, request_id_bytes
from senate.runtime.metrics import NodeMetrics

# The runtime's parts log under the name the node always logged under (users filter on it).
log = logging.getLogger("senate.node")

__all__ = ["ENVELOPE", "Calls", "Waiter", "first_sequence", "resolve"]
#: The first sequence number of a start is drawn below this bound: the 2**63 numbers above it
#: are left to count up through, which no node does without wrapping the envelope's u64.
FIRST_SEQUENCE_BOUND = 1 << 63
#: Calls that time out are logged at most once per this many seconds (with the node's state
#: then), so that a client's TRYAGAIN can be traced in the node's log without a line per call.
EXPIRED_CALLS_LOG_INTERVAL_S = 1.0

#: What waits for a call's outcome: a future, or a callback `(result, error)` (see
#: `Node.propose_with_callback`).
Waiter = asyncio.Future[Any] | Callable[[Any, BaseException | None], None]


def first_sequence() -> int:
    """A start's first call sequence number, drawn at random in [0, 2**63).

    A node answers a caller when it applies an entry whose envelope names this node and the
    caller's sequence number, so a new call must not take the number of an entry of an earlier
    start that is still to be applied (committed late, or replayed from the log). Numbers from
    the wall clock (`time.time_ns()`, as before) repeat when the clock steps back between two
    starts. Drawn at random, the numbers of two starts that make n and m calls overlap with
    probability at most (n + m) / 2**63: about 2**-32 for a billion calls each.
    """
    return int.from_bytes(os.urandom(8), "little") % FIRST_SEQUENCE_BOUND


def resolve(node_id: int, waiter: Waiter, result: Any, error: BaseException | None) -> None:
    """Gives a call's outcome to what waits for it: a future, or a callback."""
    if isinstance(waiter, asyncio.Future):
        if waiter.done():
            return
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)
        return
    try:
        waiter(result, error)
    except Exception:  # the caller's bug must not stop the node
        log.exception("node %d: a call's callback raised", node_id)


class Calls:
    """The calls of one node not answered yet, and the proposals not yet handed to the core.

    Calls in flight: seq -> what waits for the outcome. Their (deadline, seq): in call order
    for the default timeout (so in deadline order: the loop's clock only grows), in a heap for
    calls given their own.
    """

    def __init__(
        self,
        node_id: int,
        max_pending_calls: int,
        default_timeout_s: float,
        wake: asyncio.Event,
        metrics: NodeMetrics | None,
    ) -> None:
        self.node_id = node_id
        self.max_pending_calls = max_pending_calls
        self.default_timeout_s = default_timeout_s
        self.metrics = metrics
        self._wake = wake
        #: The next call's sequence number (see `first_sequence`).
        self.next_seq = first_sequence()
        #: seq -> what waits for that call's outcome; at most `max_pending_calls`.
        self.pending: dict[int, Waiter] = {}
        self._default_deadlines: deque[tuple[float, int]] = deque()
        self._deadlines: list[tuple[float, int]] = []
        #: Envelope + command of the calls not yet proposed to the core, in call order.
        self.outbox: list[bytes] = []
        #: seq -> request id, of the pending calls that name one (for their `CallTimeout`).
        self._request_ids: dict[int, str | bytes] = {}
        #: Loop time of the last "calls not committed" line, and calls expired since.
        self._expired_logged_s = float("-inf")
        self._expired_unlogged = 0

    def add(
        self,
        command: bytes,
        on_done: Waiter,
        slot: int,
        timeout: float | None,
        now: float,
        request_id: str | bytes | None = None,
    ) -> None:
        """Registers a call of `command` on `slot`, answered through `on_done`, expiring
        `timeout` seconds (the default when None) after `now`; named `request_id` if given
        (it then runs at most once however often it is retried: `senate.runtime.requests`)."""
        pending = self.pending
        if len(pending) >= self.max_pending_calls:
            raise Overloaded(f"{len(pending)} calls waiting (max_pending_calls)")
        rid = None if request_id is None else request_id_bytes(request_id)
        seq = self.next_seq
        self.next_seq = seq + 1
        pending[seq] = on_done
        if timeout is None:
            self._default_deadlines.append((now + self.default_timeout_s, seq))
        else:
            heapq.heappush(self._deadlines, (now + timeout, seq))
        outbox = self.outbox
        if not outbox:
            # The driver proposes what the outbox holds on every wake-up (or is woken again
            # when it could not: a write finishing, the next tick), so only the first
            # proposal of a batch wakes it: one Python call less for the others.
            self._wake.set()
        if rid is None:
            outbox.append(ENVELOPE.pack(self.node_id, seq, slot) + command)
        else:
            assert request_id is not None
            self._request_ids[seq] = request_id
            outbox.append(keyed_entry(self.node_id, seq, slot, rid, command))

    def propose(self, core: Core, max_batch_proposals: int) -> None:
        """Hands the core the oldest `max_batch_proposals` proposals of the outbox."""
        batch = self.outbox[:max_batch_proposals]
        try:
            core.propose_batch(batch)
            if self.metrics is not None:
                self.metrics.on_proposals(len(batch))
        except NotLeader:
            return  # no leader known: keep them; retried on the next wake-up until their deadline
        except ProposalDropped as e:
            for data in batch:
                waiter = self.pending.pop(ENVELOPE.unpack_from(data)[1], None)
                if waiter is not None:
                    resolve(self.node_id, waiter, None, ProposalDropped(str(e)))
        del self.outbox[:max_batch_proposals]
        if self.outbox:
            self._wake.set()

    def expire(self, now: float, describe_node: Callable[[], str | None]) -> None:
        """Fails the calls whose deadline passed at loop time `now` with `CallTimeout`, and
        logs them (rate-limited) with `describe_node()`, the node's state then."""
        pending = self.pending
        expired: list[tuple[int, Waiter]] = []
        # Pops expired calls, and answered ones at the front (calls are mostly answered in the
        # order of their deadlines, so this keeps both about as small as `pending`).
        in_order = self._default_deadlines
        while in_order and (in_order[0][0] <= now or in_order[0][1] not in pending):
            seq = in_order.popleft()[1]
            waiter = pending.pop(seq, None)
            if waiter is not None:
                expired.append((seq, waiter))
        heap = self._deadlines
        while heap and (heap[0][0] <= now or heap[0][1] not in pending):
            seq = heapq.heappop(heap)[1]
            waiter = pending.pop(seq, None)
            if waiter is not None:
                expired.append((seq, waiter))
        request_ids = self._request_ids
        for seq, waiter in expired:
            error = CallTimeout(f"node {self.node_id}: call not committed in time")
            if request_ids:
                error.request_id = request_ids.pop(seq, None)
            resolve(self.node_id, waiter, None, error)
        if request_ids:  # the ids of calls answered meanwhile
            for seq in [s for s in request_ids if s not in pending]:
                del request_ids[seq]
        if expired:
            self._log_expired(len(expired), now, describe_node)
        if self.outbox:  # calls that expired waiting for a leader are not proposed
            self.outbox = [d for d in self.outbox if ENVELOPE.unpack_from(d)[1] in pending]

    def _log_expired(self, count: int, now: float, describe_node: Callable[[], str | None]) -> None:
        self._expired_unlogged += count
        if now - self._expired_logged_s < EXPIRED_CALLS_LOG_INTERVAL_S:
            return
        state = describe_node()
        if state is None:
            return
        log.warning(
            "node %d: %d call(s) timed out since the last such line (%s)",
            self.node_id,
            self._expired_unlogged,
            state,
        )
        self._expired_logged_s = now
        self._expired_unlogged = 0

    def fail_all(self, error: BaseException) -> None:
        """Fails every call waiting (the node stops) and drops the proposals not made."""
        pending, self.pending = self.pending, {}
        self._request_ids.clear()
        for waiter in pending.values():
            resolve(self.node_id, waiter, None, error)
        self.outbox.clear()
