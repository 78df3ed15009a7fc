"""WATCH on the key-value server: reading the watched keys' versions at a point no earlier
than the WATCH, for the session to put in its EXEC (see `senate._core.RespSession.watched`).

The versions are read after a read barrier, like any read; when the client has writes (or
reads) in flight, through the log behind them instead, so that its own writes sent before
the WATCH are in the versions read (Redis does not abort a transaction for the client's own
earlier writes). The session parses nothing after a WATCH until it has the versions; the
slot resumes it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Protocol

from senate._core import KvStore, RespSession
from senate.errors import NodeNotRunning, Overloaded
from senate.kv_replies import replies_for_error


class Slot:
    """A place in a client's line of replies whose reply is not known yet (`reply` None).
    It has no `__init__` (one Python frame less for every request): set `reply` at once."""

    __slots__ = ("reply",)
    reply: bytes | None


class _Machine(Protocol):
    @property
    def store(self) -> KvStore: ...


class _Reads(Protocol):
    def wait(self) -> asyncio.Future[None]: ...


class _Server(Protocol):
    """What a WATCH uses of `senate.kv.KvServer`."""

    @property
    def machine(self) -> _Machine: ...
    @property
    def reads(self) -> _Reads: ...
    @property
    def timeout_s(self) -> float: ...


class ClientConnection(Protocol):
    """What a WATCH uses of `senate.kv.ClientConnection`: its line of replies and the
    accounting of its commands in flight, which a WATCH joins."""

    session: RespSession
    _slots: collections.deque[bytes | Slot]
    _writes_waiting: int
    _reads_waiting: int
    _deferred_writes: list[tuple[bytes, Slot]]

    @property
    def server(self) -> _Server: ...
    def data_received(self, data: bytes) -> None: ...
    def _propose(self, batch: bytes, slot: Slot) -> bool: ...
    def _push(self, reply: bytes) -> None: ...
    def _slot_done(self, slot: Slot) -> None: ...


class WatchSlot(Slot):
    """The slot of a WATCH: the reply it is given is the store's (the keys' versions); what
    it holds is what the session makes of it (`+OK`, or the node's error). Once given, the
    session parses what the client sent meanwhile."""

    __slots__ = ("answer", "conn")

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.answer: bytes | None = None

    @property
    def reply(self) -> bytes | None:
        return self.answer

    @reply.setter
    def reply(self, versions: bytes | None) -> None:
        if versions is None:
            return
        self.answer = self.conn.session.watched(versions)
        asyncio.get_running_loop().call_soon(self.conn.data_received, b"")


def push_watch(conn: ClientConnection, batch: bytes) -> None:
    """Reads the versions of WATCH's `batch` for `conn`, answered in order in its line."""
    slot = WatchSlot(conn)
    server = conn.server
    if conn._writes_waiting or conn._reads_waiting:
        # Behind the client's commands in flight, in log order (as `_push_write` does).
        if conn._reads_waiting:
            conn._deferred_writes.append((batch, slot))
        elif not conn._propose(batch, slot):
            conn._push(slot.reply or b"")
            return
        conn._writes_waiting += 1
        conn._slots.append(slot)
        return
    conn._slots.append(slot)
    if conn.session.readonly:  # stale reads: the local store at once
        slot.reply = server.machine.store.read(batch, time.time_ns() // 1_000_000)
        conn._slot_done(slot)
        return

    def after_barrier(barrier: asyncio.Future[None]) -> None:
        error = barrier.exception()
        if error is not None:
            slot.reply = replies_for_error(error, server.timeout_s, batch)
        else:
            slot.reply = server.machine.store.read(batch, time.time_ns() // 1_000_000)
        conn._slot_done(slot)

    try:
        server.reads.wait().add_done_callback(after_barrier)
    except (Overloaded, NodeNotRunning) as e:
        slot.reply = replies_for_error(e, server.timeout_s, batch)
        conn._slot_done(slot)
