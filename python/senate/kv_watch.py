"""WATCH on the key-value server: reading the watched keys' versions at a point no earlier
than the WATCH, for the session to put in its EXEC (see `senate._core.RespSession.watched`);
and an EXEC whose queued connection commands change the connection, whose reply the session
must see before it parses on (`RespSession.executed`).

The versions are read after a read barrier, like any read; when the client has writes in
flight, through the log behind them instead, so that its own writes sent before
the WATCH are in the versions read (Redis does not abort a transaction for the client's own
earlier writes). The session parses nothing after a WATCH (or such an EXEC) until it has the
reply; the slot resumes it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Protocol

from senate._core import KvStore, RespSession


class Slot:
    """A place in a client's line of replies whose reply is not known yet (`reply` None).
    It has no `__init__` (one Python frame less for every request): set `reply` at once."""

    __slots__ = ("reply",)
    reply: bytes | None


class _Machine(Protocol):
    @property
    def store(self) -> KvStore: ...


class _Server(Protocol):
    """What a WATCH uses of `senate.kv.KvServer`."""

    @property
    def machine(self) -> _Machine: ...


class ClientConnection(Protocol):
    """What a WATCH uses of `senate.kv.ClientConnection`: its line of replies and how it
    answers writes and reads, which a WATCH joins."""

    session: RespSession
    _slots: collections.deque[bytes | Slot]
    _writes_waiting: int

    @property
    def server(self) -> _Server: ...
    def data_received(self, data: bytes) -> None: ...
    def _push_write(self, batch: bytes, slot: Slot | None = None) -> None: ...
    def _push_read(self, batch: bytes, slot: Slot | None = None) -> None: ...
    def _slot_done(self, slot: Slot) -> None: ...


class HeldSlot(Slot):
    """The slot of a batch the session waits for (a WATCH, or an EXEC that changes the
    connection): the reply it is given is the store's; what it holds is what the session's
    `take` (`watched`, `executed`) makes of it. Once given, the session parses what the client
    sent meanwhile."""

    __slots__ = ("answer", "conn", "take")

    def __init__(self, conn: ClientConnection, take: Callable[[bytes], bytes]) -> None:
        self.conn = conn
        self.take = take
        self.answer: bytes | None = None

    @property
    def reply(self) -> bytes | None:
        return self.answer

    @reply.setter
    def reply(self, versions: bytes | None) -> None:
        if versions is None:
            return
        self.answer = self.take(versions)
        asyncio.get_running_loop().call_soon(self.conn.data_received, b"")


def push_held(
    conn: ClientConnection, batch: bytes, take: Callable[[bytes], bytes], *, writes: bool = False
) -> None:
    """Runs the batch of a WATCH (`take`: `session.watched`) or of an EXEC that changes the
    connection (`session.executed`) for `conn`, answered in order in its line: as a read is
    (`ClientConnection._push_read`), but through the log behind the client's writes in
    flight (`_push_write`), and from the local store at once on a READONLY connection; a
    batch that `writes` through the log."""
    slot = HeldSlot(conn, take)
    if writes or conn._writes_waiting:
        conn._push_write(batch, slot)
    elif conn.session.readonly:  # stale reads: the local store at once
        conn._slots.append(slot)
        slot.reply = conn.server.machine.store.read(batch, time.time_ns() // 1_000_000)
        conn._slot_done(slot)
    else:
        conn._push_read(batch, slot)
