"""Snapshots sent out of band, in chunks, with flow control, resumable after a lost connection.

A core with `stream_snapshots` (Raft's or Multi-Paxos's) hands its snapshot messages out as
`ACTION_SEND_SNAPSHOT` (`senate_core::raft::snapshot_send`, `paxos::snapshot_send`): the
message's head frame, in the core's protocol, and the snapshot's data (`SnapshotData`, shared
with the core, not copied). `SnapshotSender` streams them, one stream per peer, over a
connection of their own (the peer connection keeps carrying heartbeats meanwhile), in the
format of `senate.runtime.snapshot_codec`:

- the sender offers (index, term, length, CRC32C, head); the receiver answers with the offset
  it holds already (a part file of the same snapshot, left by a lost connection), so a
  transfer resumes where it stopped. `term` is the snapshot's own (Multi-Paxos: the ballot
  its last slot was accepted at), not the message's term or ballot, so the part file's name
  (peer, index, term, CRC32C, length) stays the same under a new head: a Multi-Paxos
  promiser answering the candidate's next ballot resumes too;
- chunks of `SNAPSHOT_CHUNK_BYTES` follow, at most `SNAPSHOT_CHUNKS_IN_FLIGHT` of them not
  yet acknowledged: the receiver acknowledges a chunk once written to its part file (in a
  worker thread; synced every `SNAPSHOT_SYNC_BYTES`);
- once every byte is in, the receiver syncs the file, reads it back (without the interpreter
  lock), checks the CRC32C of the whole and only then hands head and data to its node, which
  steps them into its core (`NodeDriver.step_snapshot`). A mismatch deletes the file and the
  sender starts over.

Memory: a stream holds at most `SNAPSHOT_CHUNKS_IN_FLIGHT` chunks at the sender (in the
socket's buffer) and as many at the receiver (waiting for its writer), plus one message being
decoded: `STREAM_BUFFER_BOUND_BYTES` per stream, whatever the snapshot's size. A node sends
at most one stream per peer and receives one at a time (an offer replaces the one under way
unless that one is another peer's of a snapshot at least as new; `SnapshotReceiver`), into
at most one part file per peer (`snapshot_parts`). The receiver's copy of the whole snapshot
is made once, when it is read back to be restored (the state machine needs it whole).

The sender never reads a file on its loop: chunks are slices of the data the core holds (a
copy of one chunk each). The CRC32C of the whole is computed in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from senate._core import SnapshotData
from senate.runtime import snapshot_codec as codec
from senate.runtime.snapshot_codec import (
    Ack,
    Chunk,
    Decoder,
    Done,
    Offer,
    Resume,
    StreamError,
)
from senate.runtime.snapshot_parts import open_part, part_path, read_back, write_chunks
from senate.runtime.transport import Transport, encode_hello

log = logging.getLogger("senate.snapshots")

#: Bytes of one chunk (at most `snapshot_codec.MAX_CHUNK_BYTES`), and chunks sent and not yet
#: acknowledged, at most, per stream: the defaults of `NodeConfig.snapshot_chunk_bytes` and
#: `snapshot_chunks_in_flight`.
SNAPSHOT_CHUNK_BYTES = codec.DEFAULT_CHUNK_BYTES
SNAPSHOT_CHUNKS_IN_FLIGHT = codec.DEFAULT_CHUNKS_IN_FLIGHT
#: The receiver syncs its part file after this many bytes (and at the end).
SNAPSHOT_SYNC_BYTES = 16 << 20
#: What one stream holds in memory at most, at either end, besides the receiver's one copy of
#: the whole snapshot when it is restored: the window and one message being decoded (5 MiB
#: and a few bytes at the defaults).
STREAM_BUFFER_BOUND_BYTES = (SNAPSHOT_CHUNKS_IN_FLIGHT + 1) * (
    SNAPSHOT_CHUNK_BYTES + codec.HEADER.size + codec.CHUNK.size
)
#: A stream that hears nothing from its peer for this long is dropped (and resumed).
STREAM_IDLE_TIMEOUT_S = 30.0
#: Pauses between attempts of one stream: exponential from `min` to `max`.
RETRY_MIN_S = 0.05
RETRY_MAX_S = 2.0


@dataclass
class Limits:
    chunk_bytes: int = SNAPSHOT_CHUNK_BYTES
    chunks_in_flight: int = SNAPSHOT_CHUNKS_IN_FLIGHT
    sync_bytes: int = SNAPSHOT_SYNC_BYTES

    def __post_init__(self) -> None:
        if not 0 < self.chunk_bytes <= codec.MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in [1, {codec.MAX_CHUNK_BYTES}]")
        if self.chunks_in_flight < 1 or self.sync_bytes < 1:
            raise ValueError("chunks_in_flight and sync_bytes must be at least 1")


# --- the sending side ---------------------------------------------------------------------
#: How a stream attempt ended, as `StreamMetrics.on_stream_ended` names it: the receiver took
#: the snapshot, did not need it (it holds a newer one), found the checksum wrong (the stream
#: starts over), or the connection broke (the stream resumes).
STREAM_OUTCOMES = ("handed_over", "not_needed", "checksum_mismatch", "interrupted")
_OUTCOME_NAMES = {
    codec.DONE_HANDED_OVER: "handed_over",
    codec.DONE_NOT_NEEDED: "not_needed",
    codec.DONE_CHECKSUM_MISMATCH: "checksum_mismatch",
}


class StreamMetrics(Protocol):
    """What the sender records (`senate.runtime.metrics.NodeMetrics` is one)."""

    def on_stream_bytes_sent(self, peer: int, n: int) -> None: ...

    def on_stream_ended(self, outcome: str) -> None: ...


@dataclass
class _Outgoing:
    index: int
    head: bytes
    task: asyncio.Task[None]


class SnapshotSender:
    """Streams the core's snapshot messages to peers: one stream per peer, each retried (and
    resumed) until the peer has the snapshot or a newer one replaces it."""

    def __init__(
        self,
        transport: Transport,
        limits: Limits | None = None,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.transport = transport
        self.limits = limits or Limits()
        self.metrics = metrics
        self._streams: dict[int, _Outgoing] = {}
        #: Whether the node leads (as last told by `note_role`).
        self._leading = False
        #: Streams that ended with the snapshot handed over.
        self.completed = 0
        #: ((index, term, length), CRC32C) of the last snapshot offered: a read of every byte,
        #: once, not on each re-ask of the core (which sends one snapshot at a time).
        self._last_crc32c: tuple[tuple[int, int, int], int] | None = None

    def send(self, to: int, index: int, term: int, head: bytes, data: SnapshotData) -> None:
        """Streams the snapshot at `index` to `to`, unless a stream of it with this head runs
        already (the core asks again while the peer has not acknowledged it). Another head for
        the same snapshot (a Multi-Paxos promiser answering the candidate's next ballot, which
        refuses the older one) replaces the stream; the receiver resumes it from its part file
        (named after the snapshot, not the head)."""
        current = self._streams.get(to)
        if current is not None and not current.task.done():
            if current.index == index and current.head == head:
                return
            current.task.cancel()
        task = asyncio.get_running_loop().create_task(
            self._stream(to, index, term, head, data), name=f"snapshot-to-{to}"
        )
        self._streams[to] = _Outgoing(index, head, task)

    def active(self) -> dict[int, int]:
        """Peer id -> snapshot index of the streams under way."""
        return {to: s.index for to, s in self._streams.items() if not s.task.done()}

    async def stop(self) -> None:
        """Stops every stream (the node is no longer leader, or stops)."""
        tasks = [s.task for s in self._streams.values()]
        self._streams.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def note_role(self, leading: bool) -> None:
        """The node's role, leader or not, as its core reports it. Leaving the leadership
        cancels every stream: a former leader's snapshots are not needed (its successor sends
        its own, and the receivers refuse the old leader's). Nothing else does: a Multi-Paxos
        follower streams the snapshot it sent a candidate with its promise (phase 1 catch-up)
        through the role changes that follow (the candidate gives up, a leader is elected)."""
        if self._leading and not leading:
            self.cancel_all()
        self._leading = leading

    def cancel_all(self) -> None:
        for stream in self._streams.values():
            stream.task.cancel()
        self._streams.clear()

    async def _stream(
        self, to: int, index: int, term: int, head: bytes, data: SnapshotData
    ) -> None:
        if to not in self.transport.peers:
            log.warning(
                "node %d: snapshot %d for %d: no address", self.transport.node_id, index, to
            )
            return
        crc = await self._crc32c(index, term, data)
        offer = Offer(index, term, len(data), crc, head)
        node_id = self.transport.node_id
        log.info("node %d: sending snapshot %d (%d bytes) to %d", node_id, index, len(data), to)
        delay_s = RETRY_MIN_S
        while True:
            try:
                outcome = await self._attempt(to, offer, data)
            except (OSError, EOFError, StreamError, asyncio.TimeoutError) as e:
                log.info("node %d: snapshot %d to %d interrupted: %s", node_id, index, to, e)
                self._ended("interrupted")
            else:
                self._ended(_OUTCOME_NAMES.get(outcome, "interrupted"))
                if outcome != codec.DONE_CHECKSUM_MISMATCH:
                    if outcome == codec.DONE_HANDED_OVER:
                        self.completed += 1
                    log.info("node %d: snapshot %d to %d: done (%d)", node_id, index, to, outcome)
                    return
                log.warning("node %d: snapshot %d to %d: checksum mismatch", node_id, index, to)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)
            if to not in self.transport.peers:
                log.info("node %d: snapshot %d to %d: no longer a peer", node_id, index, to)
                return

    async def _crc32c(self, index: int, term: int, data: SnapshotData) -> int:
        """The snapshot's CRC32C, computed in a worker thread when first offered."""
        key = (index, term, len(data))
        last = self._last_crc32c
        if last is not None and last[0] == key:
            return last[1]
        crc = await asyncio.get_running_loop().run_in_executor(None, data.crc32c)
        self._last_crc32c = (key, crc)
        return crc

    def _ended(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.on_stream_ended(outcome)

    async def _connect(self, to: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to peer `to`, dialed as the transport dials its peers (TLS, source
        address, the peer's identity checked)."""
        t = self.transport
        host, port, options = t.dial_options(to)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, **options),
            timeout=t.limits.handshake_timeout_s,
        )
        problem = t.identity_problem(writer.get_extra_info("peercert"), to)
        if problem is not None:
            writer.close()
            raise OSError(f"peer {to}: {problem}")
        return reader, writer

    async def _attempt(self, to: int, offer: Offer, data: SnapshotData) -> int:
        """One connection's worth of the stream; returns the receiver's DONE outcome."""
        t = self.transport
        reader, writer = await self._connect(to)
        inbox = _Inbox(reader)
        try:
            hello = encode_hello(
                t.cluster_id, t.node_id, to, codec.STREAM_MAGIC, codec.STREAM_VERSION
            )
            writer.write(hello + codec.encode(offer))
            reply = await inbox.next()
            if isinstance(reply, Done):
                return reply.outcome
            if not isinstance(reply, Resume) or reply.offset > offer.data_bytes:
                raise StreamError(f"expected a resume offset, got {reply}")
            sent = acked = reply.offset
            window = self.limits.chunks_in_flight * self.limits.chunk_bytes
            while True:
                while sent < offer.data_bytes and sent - acked < window:
                    piece = data.chunk(sent, self.limits.chunk_bytes)
                    writer.write(codec.encode(Chunk(sent, piece)))
                    sent += len(piece)
                    if self.metrics is not None:
                        self.metrics.on_stream_bytes_sent(to, len(piece))
                await writer.drain()
                reply = await inbox.next()
                if isinstance(reply, Done):
                    return reply.outcome
                if not isinstance(reply, Ack) or not acked <= reply.offset <= sent:
                    raise StreamError(f"expected an ack in [{acked}, {sent}], got {reply}")
                acked = reply.offset
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _Inbox:
    """The receiver's messages, one at a time (several may arrive in one read)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.decoder = Decoder()
        self.pending: list[codec.Message] = []

    async def next(self) -> codec.Message:
        """The next message (EOFError when the peer closed)."""
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(1 << 16), STREAM_IDLE_TIMEOUT_S)
            if not data:
                raise EOFError("the peer closed the stream")
            self.pending = self.decoder.feed(data)
        return self.pending.pop(0)


# --- the receiving side -------------------------------------------------------------------
#: Called with (peer id, head, data) once a snapshot is in, checked and durable.
HandOver = Callable[[int, bytes, SnapshotData], None]


class SnapshotReceiver:
    """Receives snapshot streams into part files under `directory`, one at a time: an offer
    replaces the stream under way, unless that one is another peer's, of a snapshot at least
    as new (two Multi-Paxos promisers answer one candidate at once: taking turns, each
    replacing the other, neither would end). The one refused is told the snapshot is not
    needed; its sender's core asks again if the other stream fails."""

    def __init__(
        self,
        node_id: int,
        directory: Path,
        hand_over: HandOver,
        applied_index: Callable[[], int],
        limits: Limits | None = None,
    ) -> None:
        self.node_id = node_id
        self.directory = directory
        self.hand_over = hand_over
        self.applied_index = applied_index
        self.limits = limits or Limits()
        self._disk = ThreadPoolExecutor(1, thread_name_prefix=f"senate-{node_id}-snapshot-in")
        self._current: IncomingStream | None = None
        #: Streams accepted and not yet ended (the current one among them).
        self._open: set[IncomingStream] = set()
        #: Snapshots handed over, and bytes written, for tests and logs.
        self.handed_over = 0
        self.bytes_written = 0
        #: (peer id, offer) of the last snapshot handed over. The same offer again is not
        #: needed: its sender's core asks again until it hears back from this node's, which
        #: answers only once the snapshot is durable (a write of the whole state), and the
        #: same message stepped twice does the same thing twice. Cleared when the core
        #: refuses it (`forget_handed_over`): then the same offer is taken again.
        self.last_handed_over: tuple[int, Offer] | None = None
        #: A fault switch (`Faults.break_snapshot_stream`): the next stream is cut once it
        #: received this many chunk bytes; None: none is.
        self.break_after_bytes: int | None = None
        #: The offset each stream started (or resumed) at, in order (the last few).
        self.resumed_offsets: list[int] = []

    def forget_handed_over(self, peer_id: int, head: bytes) -> None:
        """The core refused the snapshot `peer_id` handed over with `head`: the same offer is
        needed again. (One overwritten in `Inputs.snapshots` before it was stepped needs
        nothing: the offer handed over after it is the last one.)"""
        last = self.last_handed_over
        if last is not None and last[0] == peer_id and last[1].head == head:
            self.last_handed_over = None

    def accept(self, transport: asyncio.Transport, peer_id: int, rest: bytes) -> None:
        """Takes over an accepted connection whose hello named a snapshot stream from
        `peer_id`; `rest` is what followed the hello."""
        stream = IncomingStream(self, peer_id)
        self._open.add(stream)
        transport.set_protocol(stream)
        stream.connection_made(transport)
        if rest:
            stream.data_received(rest)

    def under_way(self) -> tuple[int, int] | None:
        """(peer id, snapshot index) of the stream under way, if any."""
        current = self._current
        if current is None or current.closed or current.offer is None:
            return None
        return current.peer_id, current.offer.index

    def admit(self, stream: IncomingStream, offer: Offer) -> str | None:
        """Makes `stream`, which offers `offer`, the one under way; or returns why not."""
        current = self._current
        if current is not None and current is not stream and not current.closed:
            busy = current.offer is not None and current.peer_id != stream.peer_id
            if busy and current.offer is not None and current.offer.index >= offer.index:
                return f"snapshot {current.offer.index} from {current.peer_id} is under way"
            current.close("replaced by a newer stream")
        self._current = stream
        return None

    def ended(self, stream: IncomingStream) -> None:
        self._open.discard(stream)
        if self._current is stream:
            self._current = None

    def shutdown(self) -> None:
        for stream in list(self._open):
            stream.close("the node stops")
        self._disk.shutdown(wait=True)

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._disk, fn, *args)


class IncomingStream(asyncio.Protocol):
    """One snapshot stream being received (after the hello)."""

    def __init__(self, owner: SnapshotReceiver, peer_id: int) -> None:
        self.owner = owner
        self.peer_id = peer_id
        self.transport: asyncio.Transport | None = None
        self.decoder = Decoder()
        self.offer: Offer | None = None
        self.path: Path | None = None
        self.fd: int | None = None
        #: Bytes received (queued for the writer or written), and written.
        self.received = 0
        self.written = 0
        self.synced = 0
        #: The offset this connection started at.
        self.resumed_at = 0
        #: Chunks received and not yet written, and their bytes (bounded by the window).
        self.queue: list[Chunk] = []
        self.queued_bytes = 0
        self.writing = False
        self.paused = False
        self.closed = False
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._touch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        self.owner.ended(self)
        if not self.writing:
            self._close_file()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._touch()
        try:
            for msg in self.decoder.feed(data):
                self._on_message(msg)
        except StreamError as e:
            self.close(str(e), level=logging.WARNING)

    def close(self, why: str, level: int = logging.INFO) -> None:
        if not self.closed:
            log.log(
                level,
                "node %d: snapshot stream from %d closed: %s",
                self.owner.node_id,
                self.peer_id,
                why,
            )
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(STREAM_IDLE_TIMEOUT_S, self.close, "idle")

    def _send(self, msg: codec.Message) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(codec.encode(msg))

    def _on_message(self, msg: codec.Message) -> None:
        if isinstance(msg, Offer) and self.offer is None:
            self._on_offer(msg)
        elif isinstance(msg, Chunk) and self.offer is not None and self.fd is not None:
            self._on_chunk(msg)
        else:
            raise StreamError(f"unexpected {type(msg).__name__}")

    def _on_offer(self, offer: Offer) -> None:
        self.offer = offer
        if self.owner.applied_index() >= offer.index:
            self._send(Done(codec.DONE_NOT_NEEDED))
            self.close("the node has the snapshot's entries already")
            return
        if self.owner.last_handed_over == (self.peer_id, offer):
            self._send(Done(codec.DONE_NOT_NEEDED))
            self.close("the node has this snapshot already, not yet applied")
            return
        refused = self.owner.admit(self, offer)
        if refused is not None:
            self._send(Done(codec.DONE_NOT_NEEDED))
            self.close(refused)
            return
        self.path = part_path(self.owner.directory, self.peer_id, offer)
        self.writing = True
        future = self.owner.run(open_part, self.path, offer.data_bytes)
        future.add_done_callback(self._opened)

    def _opened(self, future: asyncio.Future[tuple[int, int]]) -> None:
        self.writing = False
        if future.exception() is not None:
            self.close(f"opening the part file: {future.exception()}", logging.ERROR)
            return
        self.fd, offset = future.result()
        if self.closed:
            self._close_file()
            return
        self.received = self.written = self.synced = self.resumed_at = offset
        self.owner.resumed_offsets = [*self.owner.resumed_offsets[-7:], offset]
        log.info(
            "node %d: receiving snapshot %d from %d at offset %d of %d",
            self.owner.node_id,
            self.offer.index if self.offer else 0,
            self.peer_id,
            offset,
            self.offer.data_bytes if self.offer else 0,
        )
        self._send(Resume(offset))
        self._maybe_finish()

    def _on_chunk(self, chunk: Chunk) -> None:
        assert self.offer is not None
        end = chunk.offset + len(chunk.data)
        if chunk.offset != self.received or end > self.offer.data_bytes:
            raise StreamError(f"chunk [{chunk.offset}, {end}) where {self.received} was next")
        cut = self.owner.break_after_bytes
        if cut is not None and end - self.resumed_at >= cut:
            self.owner.break_after_bytes = None
            self.close(f"cut at {end} by a fault switch", logging.WARNING)
            return
        self.received = end
        self.queue.append(chunk)
        self.queued_bytes += len(chunk.data)
        limits = self.owner.limits
        if self.queued_bytes >= limits.chunks_in_flight * limits.chunk_bytes and not self.paused:
            # A sender with a wider window than ours waits in TCP's flow control.
            assert self.transport is not None
            self.transport.pause_reading()
            self.paused = True
        self._write_next()

    def _write_next(self) -> None:
        if self.writing or not self.queue or self.fd is None:
            return
        chunks, self.queue, self.queued_bytes = self.queue, [], 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        end = chunks[-1].offset + len(chunks[-1].data)
        sync = end - self.synced >= self.owner.limits.sync_bytes
        self.writing = True
        future = self.owner.run(write_chunks, self.fd, chunks, sync)
        future.add_done_callback(lambda f: self._written(f, end, sync))

    def _written(self, future: asyncio.Future[None], end: int, synced: bool) -> None:
        self.writing = False
        if future.exception() is not None:
            self.close(f"writing the part file: {future.exception()}", logging.ERROR)
        else:  # in the part file, where a resumed stream goes on from
            self.owner.bytes_written += end - self.written
            self.written = end
            if synced:
                self.synced = end
        if self.closed:
            self._close_file()
            return
        self._send(Ack(end))
        if self.queue:
            self._write_next()
        else:
            self._maybe_finish()

    def _maybe_finish(self) -> None:
        offer, path, fd = self.offer, self.path, self.fd
        assert offer is not None
        assert path is not None
        if self.written < offer.data_bytes or fd is None:
            return
        self.fd = None
        self.writing = True
        future = self.owner.run(read_back, fd, path, offer.data_crc32c)
        future.add_done_callback(self._checked)

    def _checked(self, future: asyncio.Future[SnapshotData | None]) -> None:
        self.writing = False
        offer = self.offer
        assert offer is not None
        if future.exception() is not None:
            self.close(f"reading the part file back: {future.exception()}", logging.ERROR)
            return
        data = future.result()
        if data is None:
            log.warning(
                "node %d: snapshot %d from %d: checksum mismatch, deleted",
                self.owner.node_id,
                offer.index,
                self.peer_id,
            )
            self._send(Done(codec.DONE_CHECKSUM_MISMATCH))
            self.close("checksum mismatch")
            return
        self.owner.handed_over += 1
        self.owner.last_handed_over = (self.peer_id, offer)
        self.owner.hand_over(self.peer_id, offer.head, data)
        self._send(Done(codec.DONE_HANDED_OVER))
        self.close("snapshot received")

    def _close_file(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
