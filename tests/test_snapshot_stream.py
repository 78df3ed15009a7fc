"""Snapshots streamed out of band in chunks (`senate.runtime.snapshot_stream`): the wire codec
(property tests), a stream between two real transports over TCP (resumed after a cut,
refusing bad input), and a lagging node process catching up by a stream cut mid-transfer,
with either protocol."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from senate._core import NodeDriver, RaftNode, SnapshotData
from senate.runtime import snapshot_codec as codec
from senate.runtime.inputs import Inputs
from senate.runtime.metrics import NodeMetrics
from senate.runtime.snapshot_codec import (
    Ack,
    Chunk,
    Decoder,
    Done,
    Offer,
    Resume,
    StreamError,
    decode_body,
    encode,
)
from senate.runtime.snapshot_parts import PART_SUFFIX, open_part, part_path
from senate.runtime.snapshot_stream import Limits, SnapshotReceiver, SnapshotSender
from senate.runtime.transport import Transport, encode_hello
from test_cluster_processes import ProcCluster, add_many, wait_for

U64 = st.integers(0, 2**64 - 1)
messages = st.one_of(
    st.builds(Offer, U64, U64, U64, st.integers(0, 2**32 - 1), st.binary(max_size=64)),
    st.builds(Resume, U64),
    st.builds(Chunk, U64, st.binary(min_size=1, max_size=300)),
    st.builds(Ack, U64),
    st.builds(Done, st.sampled_from(codec.DONE_OUTCOMES)),
)


# --- the codec --------------------------------------------------------------------------
@given(st.lists(messages, max_size=8), st.data())
def test_messages_round_trip_however_the_stream_is_cut(msgs: list[Any], data: Any) -> None:
    wire = b"".join(encode(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder, out, start = Decoder(), [], 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[start:cut])
        start = cut
    assert out == msgs
    assert decoder.buffered_bytes == 0


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    with contextlib.suppress(StreamError):
        Decoder().feed(data)


@given(messages, st.data())
def test_a_flipped_bit_is_refused_or_decodes_to_a_wellformed_message(msg: Any, data: Any) -> None:
    wire = bytearray(encode(msg))
    bit = data.draw(st.integers(0, 8 * len(wire) - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    try:
        for decoded in Decoder().feed(bytes(wire)):
            assert encode(decoded) == encode(decoded)  # re-encodes: every field in range
    except StreamError:
        pass


def test_an_oversized_body_is_refused_from_its_header() -> None:
    header = codec.HEADER.pack(codec.KIND_CHUNK, codec.MAX_BODY_BYTES[codec.KIND_CHUNK] + 1)
    with pytest.raises(StreamError, match="at most"):
        Decoder().feed(header)  # the body is never awaited
    with pytest.raises(StreamError, match="unknown message kind"):
        Decoder().feed(codec.HEADER.pack(9, 0))


def test_a_chunk_whose_checksum_fails_is_refused() -> None:
    body = codec.CHUNK.pack(0, zlib.crc32(b"abc") ^ 1) + b"abc"
    with pytest.raises(StreamError, match="checksum"):
        decode_body(codec.KIND_CHUNK, body)


def test_encoding_refuses_out_of_range_messages() -> None:
    with pytest.raises(ValueError, match="chunk of 0 bytes"):
        encode(Chunk(0, b""))
    with pytest.raises(ValueError, match="chunk of"):
        encode(Chunk(0, bytes(codec.MAX_CHUNK_BYTES + 1)))
    with pytest.raises(ValueError, match="unknown outcome"):
        encode(Done(7))


# --- two transports over TCP --------------------------------------------------------------
class Pair:
    """A receiving transport (node 2) and a sending one (node 1) on 127.0.0.1."""

    def __init__(self, directory: Path, limits: Limits) -> None:
        self.received: list[tuple[int, bytes, bytes]] = []
        self.directory = directory
        self.limits = limits
        self.applied = 0

    async def __aenter__(self) -> Pair:
        self.receiver_transport = Transport(2, "t", ("127.0.0.1", 0), {}, lambda _c: None)
        self.receiver = SnapshotReceiver(
            2, self.directory, self._hand_over, lambda: self.applied, self.limits
        )
        self.receiver_transport.peers = {1: ("127.0.0.1", 1)}
        self.receiver_transport.on_stream = self.receiver.accept
        await self.receiver_transport.start()
        port = self.receiver_transport.port
        self.sender_transport = Transport(1, "t", ("127.0.0.1", 0), {}, lambda _c: None)
        self.sender_transport.peers = {2: ("127.0.0.1", port)}
        self.metrics = NodeMetrics(1)
        self.sender = SnapshotSender(self.sender_transport, self.limits, self.metrics)
        return self

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"node": "1", **labels})
        return 0.0 if value is None else value

    def _hand_over(self, peer: int, head: bytes, data: SnapshotData) -> None:
        self.received.append((peer, head, data.chunk(0, len(data))))

    async def __aexit__(self, *exc: object) -> None:
        await self.sender.stop()
        self.receiver.shutdown()
        await self.receiver_transport.stop()


async def until(what: str, cond: Callable[[], Any], deadline_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_stream_cut_mid_transfer_resumes_where_it_stopped(tmp_path: Path) -> None:
    data = os.urandom(300_000)

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=4096, chunks_in_flight=3)) as p:
            p.receiver.break_after_bytes = 100_000
            p.sender.send(2, 7, 3, b"head", SnapshotData.from_bytes(data))
            await until("the snapshot handed over", lambda: p.received)
            assert p.received == [(1, b"head", data)]
            assert p.receiver.break_after_bytes is None, "the cut did not happen"
            # Resumed where the written bytes ended (the chunks in flight at the cut were
            # lost with the connection), not from the start: no byte was written twice.
            first, resumed = p.receiver.resumed_offsets
            assert first == 0
            assert 100_000 - 3 * 4096 <= resumed <= 100_000
            assert p.receiver.bytes_written == len(data)
            await until("the sender to finish", lambda: not p.sender.active())
            assert p.sender.completed == 1
            assert not list(tmp_path.glob("*.part")), "the part file was left behind"
            # The metrics saw the cut, the hand-over, and every byte (those resent included).
            ended = "senate_snapshot_streams_total"
            assert p.sample(ended, outcome="interrupted") >= 1
            assert p.sample(ended, outcome="handed_over") == 1
            sent = p.sample("senate_snapshot_stream_bytes_sent_total", peer="2")
            # Resent at most what was in flight around the cut: a window on either side.
            assert len(data) <= sent <= len(data) + 6 * 4096

    run(main())


def test_another_head_for_the_same_snapshot_replaces_the_stream_and_resumes(
    tmp_path: Path,
) -> None:
    """A Multi-Paxos promiser answers a candidate's next ballot with the same snapshot under
    another head: the stream under the old head (which the candidate would refuse) is
    replaced, and the new one resumes from the bytes the receiver holds (its part file is
    named after the snapshot, not the head)."""
    data = os.urandom(200_000)
    snapshot = SnapshotData.from_bytes(data)
    held_bytes = 50_000
    offer = Offer(7, 3, len(data), snapshot.crc32c(), b"")
    part_path(tmp_path, 1, offer).write_bytes(data[:held_bytes])  # left by a lost connection

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=4096, chunks_in_flight=2)) as p:
            # The receiver's disk thread waits: the first stream cannot start meanwhile.
            disk_free = threading.Event()
            held = p.receiver.run(disk_free.wait)
            p.sender.send(2, 7, 3, b"ballot 1", snapshot)
            await until("the first offer", lambda: p.receiver.under_way() == (1, 7))
            first = p.sender._streams[2].task
            p.sender.send(2, 7, 3, b"ballot 1", snapshot)  # asked again: the stream goes on
            assert p.sender._streams[2].task is first
            p.sender.send(2, 7, 3, b"ballot 2", snapshot)
            disk_free.set()
            await held
            await until("the snapshot handed over", lambda: p.received)
            await until("the sender to finish", lambda: not p.sender.active())
            assert p.received == [(1, b"ballot 2", data)]
            # Every start at the bytes held (the first stream's too, if its answer was on its
            # way when it was replaced): none sent a chunk but the last.
            assert set(p.receiver.resumed_offsets) == {held_bytes}
            assert p.receiver.bytes_written == len(data) - held_bytes
            assert p.sender.completed == 1

    run(main())


def test_only_leaving_the_leadership_cancels_the_streams(tmp_path: Path) -> None:
    """A follower's stream (a Multi-Paxos promiser's catch-up of a candidate) goes on through
    role changes; a leader's stops when it steps down."""
    data = os.urandom(100_000)

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=4096, chunks_in_flight=2)) as p:
            disk_free = threading.Event()
            held = p.receiver.run(disk_free.wait)  # no stream ends while the disk waits
            p.sender.note_role(leading=False)
            p.sender.send(2, 7, 3, b"promise", SnapshotData.from_bytes(data))
            p.sender.note_role(leading=False)  # a new ballot, a new leader: not this node
            assert p.sender.active() == {2: 7}
            p.sender.note_role(leading=True)
            assert p.sender.active() == {2: 7}, "becoming leader keeps it"
            p.sender.note_role(leading=False)
            await asyncio.sleep(0)  # the cancelled task ends
            assert p.sender.active() == {}, "stepping down cancels it"
            p.sender.send(2, 8, 3, b"promise", SnapshotData.from_bytes(data))
            disk_free.set()
            await held
            await until("the snapshot handed over", lambda: p.received)
            assert p.received == [(1, b"promise", data)]

    run(main())


def test_the_same_snapshot_offered_again_after_its_hand_over_takes_no_bytes(
    tmp_path: Path,
) -> None:
    """The sender's core asks again until the receiver's answers, which it does once the
    snapshot is durable: the same offer again is not needed; another head is."""
    data = os.urandom(50_000)

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=4096)) as p:
            snapshot = SnapshotData.from_bytes(data)
            p.sender.send(2, 7, 3, b"head", snapshot)
            await until("the snapshot handed over", lambda: p.received)
            await until("the sender to finish", lambda: not p.sender.active())
            p.sender.send(2, 7, 3, b"head", snapshot)  # asked again, not yet applied there
            await until("the sender to finish", lambda: not p.sender.active())
            assert p.sample("senate_snapshot_streams_total", outcome="not_needed") == 1
            assert p.receiver.bytes_written == len(data)
            # The snapshot's CRC32C is kept for the offers again (a read of every byte).
            assert p.sender._last_crc32c == ((7, 3, len(data)), snapshot.crc32c())
            p.sender.send(2, 7, 3, b"next ballot", snapshot)
            await until("the sender to finish", lambda: not p.sender.active())
            assert [head for _, head, _ in p.received] == [b"head", b"next ballot"]

    run(main())


def test_a_snapshot_its_core_refused_is_taken_again(tmp_path: Path) -> None:
    """A snapshot handed over that the node's core refuses (here a head that is none) is not
    held: the same offer again is streamed again, not answered not needed."""
    data = os.urandom(20_000)

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=4096)) as p:
            inputs = Inputs(2, 0.01, asyncio.Event(), None)
            inputs.on_snapshot_refused = p.receiver.forget_handed_over
            p.receiver.hand_over = inputs.on_snapshot
            core = NodeDriver(RaftNode(2, [1, 2, 3]), tick_ms=10, now_ns=0)
            snapshot = SnapshotData.from_bytes(data)
            for attempt in (1, 2):
                p.sender.send(2, 7, 3, b"not a head", snapshot)
                await until("the snapshot handed over", lambda: inputs.snapshots)
                await until("the sender to finish", lambda: not p.sender.active())
                assert p.receiver.last_handed_over is not None
                inputs.step_snapshots(core)  # DecodeError: refused, and forgotten
                assert p.receiver.last_handed_over is None
                assert p.receiver.bytes_written == attempt * len(data)
            assert p.sample("senate_snapshot_streams_total", outcome="not_needed") == 0

    run(main())


def test_a_node_that_has_the_entries_already_takes_no_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=1024)) as p:
            p.applied = 7
            p.sender.send(2, 7, 3, b"head", SnapshotData.from_bytes(bytes(10_000)))
            await until("the sender to give up", lambda: not p.sender.active())
            assert p.received == []
            assert p.receiver.bytes_written == 0

    run(main())


class RawStream:
    """A hand-driven snapshot stream to node 2 (from node `sender`, 1 by default), as a faulty
    or hostile sender would drive it."""

    def __init__(self, sender: int = 1) -> None:
        self.sender = sender

    async def open(self, port: int, offer: Offer) -> list[codec.Message]:
        """Sends the hello and `offer`; returns the first answer."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.decoder = Decoder()
        hello = encode_hello("t", self.sender, 2, codec.STREAM_MAGIC, codec.STREAM_VERSION)
        self.writer.write(hello + encode(offer))
        return self.decoder.feed(await asyncio.wait_for(self.reader.read(1 << 16), 20))

    async def send_then_read_to_end(self, payload: bytes) -> list[codec.Message]:
        """Sends `payload`; returns every answer until the node closes the stream."""
        self.writer.write(payload)
        out: list[codec.Message] = []
        while data := await asyncio.wait_for(self.reader.read(1 << 16), 20):
            out += self.decoder.feed(data)
        self.writer.close()
        return out


def test_bad_input_closes_the_stream_and_loses_nothing(tmp_path: Path) -> None:
    data = os.urandom(5000)
    crc = SnapshotData.from_bytes(data).crc32c()
    chunks = b"".join(encode(Chunk(k, data[k : k + 1024])) for k in range(0, 5000, 1024))

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=1024)) as p:
            port = p.receiver_transport.port
            # Garbage after the hello: closed without an answer.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_hello("t", 1, 2, codec.STREAM_MAGIC, 1) + b"\xff" * 64)
            assert await asyncio.wait_for(reader.read(), 20) == b""
            writer.close()
            # A chunk that skips ahead of the offset the receiver asked for: closed.
            raw = RawStream()
            assert await raw.open(port, Offer(5, 1, len(data), crc, b"head")) == [Resume(0)]
            assert await raw.send_then_read_to_end(encode(Chunk(1024, data[1024:2048]))) == []
            # The right bytes under a wrong checksum of the whole: refused, the file deleted.
            raw = RawStream()
            assert await raw.open(port, Offer(6, 1, len(data), crc ^ 1, b"head")) == [Resume(0)]
            answers = await raw.send_then_read_to_end(chunks)
            assert answers[-1] == Done(codec.DONE_CHECKSUM_MISMATCH)
            assert Ack(len(data)) in answers
            assert p.received == []
            # The node still takes a good stream.
            p.sender.send(2, 8, 1, b"head", SnapshotData.from_bytes(data))
            await until("the snapshot handed over", lambda: p.received)
            assert p.received == [(1, b"head", data)]
            assert not list(tmp_path.glob("*.part"))

    run(main())


def test_another_peers_stream_waits_unless_its_snapshot_is_newer(tmp_path: Path) -> None:
    """Two Multi-Paxos promisers answer one candidate at once: the receiver keeps the stream
    under way against another peer's offer of a snapshot no newer (told it is not needed),
    and lets a newer one replace it; the sender refused stops."""
    data = os.urandom(20_000)

    async def main() -> None:
        async with Pair(tmp_path, Limits(chunk_bytes=1024)) as p:
            p.receiver_transport.peers[3] = ("127.0.0.1", 3)
            port = p.receiver_transport.port
            crc = SnapshotData.from_bytes(data).crc32c()
            disk_free = threading.Event()
            held = p.receiver.run(disk_free.wait)  # the stream under way stays under way
            p.sender.send(2, 7, 3, b"head", SnapshotData.from_bytes(data))
            await until("node 1's stream", lambda: p.receiver.under_way() == (1, 7))
            for index in (7, 6):
                refused = RawStream(3)
                answers = await refused.open(port, Offer(index, 3, len(data), crc, b"h"))
                assert answers == [Done(codec.DONE_NOT_NEEDED)], index
                assert await refused.send_then_read_to_end(b"") == []  # and closed
            assert p.receiver.under_way() == (1, 7)
            newer = RawStream(3)
            opening = asyncio.ensure_future(newer.open(port, Offer(9, 3, len(data), crc, b"h")))
            await until("node 3's stream", lambda: p.receiver.under_way() == (3, 9))
            disk_free.set()
            await held
            assert await opening == [Resume(0)]
            # Node 1's stream was replaced; its sender asks again, is refused, and stops.
            await until("node 1's sender to stop", lambda: not p.sender.active())
            assert p.sample("senate_snapshot_streams_total", outcome="not_needed") == 1
            assert p.received == []
            answers = await newer.send_then_read_to_end(
                b"".join(encode(Chunk(k, data[k : k + 1024])) for k in range(0, len(data), 1024))
            )
            assert answers[-1] == Done(codec.DONE_HANDED_OVER)
            assert p.received == [(3, b"h", data)]
            assert not list(tmp_path.glob("*.part"))

    run(main())


def test_part_files_are_kept_one_per_peer_while_no_newer_snapshot_is_offered(
    tmp_path: Path,
) -> None:
    def offer(index: int) -> Offer:
        return Offer(index, 1, 10, 0, b"")

    kept = part_path(tmp_path, 1, offer(9))  # another peer's newer snapshot
    older = part_path(tmp_path, 1, offer(4))  # another peer's older one
    same_peer = part_path(tmp_path, 3, offer(8))  # the offering peer's other snapshot
    stray = tmp_path / f"not-ours{PART_SUFFIX}"
    for path in (kept, older, same_peer, stray):
        path.write_bytes(b"12345")
    fd, offset = open_part(part_path(tmp_path, 3, offer(7)), 10)
    os.close(fd)
    assert offset == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [kept.name, part_path(tmp_path, 3, offer(7)).name]
    )
    fd, offset = open_part(kept, 10)  # resumed where it stopped
    os.close(fd)
    assert offset == 5


def test_a_stream_hello_from_an_unknown_peer_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with Pair(tmp_path, Limits()) as p:
            reader, writer = await asyncio.open_connection("127.0.0.1", p.receiver_transport.port)
            writer.write(encode_hello("t", 9, 2, codec.STREAM_MAGIC, codec.STREAM_VERSION))
            assert await asyncio.wait_for(reader.read(), 20) == b""
            writer.close()
            assert p.receiver_transport.refused_by_reason.get("unknown_peer") == 1

    run(main())


# --- a node process catching up -------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["raft", "paxos"])
def test_a_lagging_node_catches_up_by_a_stream_cut_mid_transfer(
    tmp_path: Path, protocol: str
) -> None:
    """The leader's snapshot (or, with Multi-Paxos, a promiser's, if the restarted node
    campaigns first) reaches a restarted node in 2 KiB chunks; the node cuts the first stream
    after 40 KB; the sender resumes it where it stopped, and the node ends with the leader's
    state. Every snapshot it restored came by a stream, none in a peer frame."""
    args = ["--snapshot-chunk-bytes=2048", "--break-snapshot-stream=40000"]
    c = ProcCluster(tmp_path, snapshot_entries=50, protocol=protocol, extra_args=args)
    try:
        for i in c.ids:
            c.start(i)
        leader = wait_for("a leader", c.leader)
        lagging = next(i for i in c.ids if i != leader)
        c.kill(lagging)
        acked: list[str] = []
        add_many(c, leader, [f"{k:03d}" + "x" * 500 for k in range(240)], acked)
        assert len(acked) == 240
        wait_for("the leader to compact", lambda: c.status(leader)["snapshot_index"] > 100)
        c.start(lagging)
        wait_for("the lagging node to catch up", lambda: len(c.tags(lagging)) >= len(acked))
        assert c.tags(lagging) == c.tags(leader)
        log = c.log_text(lagging)
        assert "cut at" in log, "the stream was not cut"
        # The streams received, (index, peer, offset), and the cut, in the log's order.
        events = re.findall(
            r"receiving snapshot (\d+) from (\d+) at offset (\d+)|stream from (\d+) closed: cut at",
            log,
        )
        (cut_at,) = (i for i, e in enumerate(events) if e[3])
        cut_peer = int(events[cut_at][3])
        streams = [(int(i), int(p), int(o)) for i, p, o, cut in events if not cut]
        before, after = streams[:cut_at], streams[cut_at:]
        assert before[0][2] == 0, streams
        cut_index = next(i for i, p, _ in reversed(before) if p == cut_peer)
        # The cut stream's part file survives the streams after it unless one of the cut
        # peer's other snapshots, or any peer's at or above the cut index, was opened
        # (`snapshot_parts.open_part`; with Multi-Paxos another promiser's may take the turn).
        # Then the cut peer's next stream of that snapshot resumes where the cut left it (less
        # the window in flight at the cut), and starts over if the file went first.
        again = next(
            (n for n, (i, p, _) in enumerate(after) if (i, p) == (cut_index, cut_peer)), None
        )
        deleted = any(
            p == cut_peer or i >= cut_index
            for i, p, _ in after[: len(after) if again is None else again]
        )
        if protocol == "raft":
            assert again is not None, streams  # the leader's alone
            assert not deleted, streams
        assert again is not None or deleted, (
            f"the cut stream neither resumed nor was replaced: {streams}"
        )
        if again is not None:
            offset = after[again][2]
            assert offset == 0 if deleted else offset >= 40000 - 4 * 2048, (cut_peer, streams)
        restored = log.count("restored a snapshot")
        streamed = len(re.findall(r"snapshot stream from \d+ closed: snapshot received", log))
        assert restored >= 1
        assert restored <= streamed, "a snapshot was restored that no stream handed over"
    finally:
        c.stop_all()
