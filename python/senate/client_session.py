"""The client's half of an exactly-once session (see docs/exactly-once.md): `senate.Client`
opens a session through the log (`SENATE.SESSION OPEN`), numbers its writes, and sends each
as `SENATE.EXEC <session> <seq> <first_unacked> <command...>`, retrying with the same
numbers; the store runs each `(session, seq)` at most once and answers a retry with the
reply it kept.

`first_unacked` is the lowest sequence number of the writes still in flight (or the next one
when none is): the store drops the replies below it and refuses a late copy of such a write
(`STALESEQ`) instead of running it again. A write leaves the set in flight when its call
ends, whatever the outcome: with a reply, with its own error, or given up at its deadline
(then a late copy of it is refused once a later write has carried the new `first_unacked`).
Pure bookkeeping, no I/O.
"""

from __future__ import annotations

import heapq
from typing import Any

from senate._core import write_command_names

__all__ = [
    "MAX_WRITES_IN_FLIGHT_PER_SESSION",
    "WRITE_COMMANDS",
    "WriteSession",
    "error_code",
]

#: The commands that change the store: the ones a session wraps (reads need no session).
WRITE_COMMANDS = frozenset(write_command_names())
#: Writes of one session in flight at most: below the store's replies kept per session
#: (`kv::client_sessions::DEFAULT_MAX_REPLIES_PER_SESSION`, 4096), so the store never
#: refuses one with SESSIONFULL.
MAX_WRITES_IN_FLIGHT_PER_SESSION = 4000


def error_code(error: BaseException) -> str:
    """The first word of an error reply (`NOSESSION`, `STALESEQ`, ...)."""
    return str(error).split(" ", 1)[0]


class WriteSession:
    """One session's numbering: the id the store gave, the next sequence number, and the
    writes in flight (a heap with the ones done removed lazily, so `first_unacked` costs
    O(log n) amortised)."""

    def __init__(self, session_id: int) -> None:
        assert session_id >= 1, "the store numbers sessions from 1"
        self.id = session_id
        #: The next write's number; writes are numbered from 1.
        self.next_seq = 1
        self._in_flight: set[int] = set()
        self._heap: list[int] = []

    def number(self) -> int:
        """A new write's sequence number; the write is in flight until `done`."""
        seq = self.next_seq
        self.next_seq = seq + 1
        self._in_flight.add(seq)
        heapq.heappush(self._heap, seq)
        return seq

    def done(self, seq: int) -> None:
        """Write `seq`'s call ended: the store may drop its reply."""
        self._in_flight.discard(seq)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def first_unacked(self) -> int:
        """The lowest sequence number in flight, or the next one."""
        heap = self._heap
        while heap and heap[0] not in self._in_flight:
            heapq.heappop(heap)
        return heap[0] if heap else self.next_seq

    def wrap(self, seq: int, args: list[Any]) -> list[Any]:
        """`args` (a write) as the `SENATE.EXEC` command that runs it at most once."""
        return ["SENATE.EXEC", self.id, seq, self.first_unacked(), *args]
