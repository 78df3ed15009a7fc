"""The wire format of a snapshot stream: a leader sends a follower its snapshot out of band, on
a connection of its own, in chunks (`senate.runtime.snapshot_stream`).

The connection opens with the peer hello (`senate.runtime.transport.encode_hello`) under
`STREAM_MAGIC` and version `STREAM_VERSION`; then both ends send messages::

    kind u8 | body_bytes u32 LE | body

    OFFER  (sender)    index u64 | term u64 | data_bytes u64 | data_crc32c u32 | head
    RESUME (receiver)  offset u64: the bytes of this offer it holds already; send from there
    CHUNK  (sender)    offset u64 | crc32 u32 | data (1 to MAX_CHUNK_BYTES bytes)
    ACK    (receiver)  offset u64: every byte below it is written
    DONE   (receiver)  outcome u8 (DONE_*)

All integers little-endian. `head` is the core's frame of the snapshot message without its
data (`SnapshotData`), `data_crc32c` the CRC32C of the whole data, a chunk's `crc32` the CRC-32
(zlib's) of its bytes. A body longer than its kind allows is refused from the 5-byte header,
before it is awaited; anything malformed raises `StreamError` and the connection is closed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

#: The hello's magic and version on a snapshot stream (peer connections have their own).
STREAM_MAGIC = b"SNS\x01"
STREAM_VERSION = 1

KIND_OFFER = 1
KIND_RESUME = 2
KIND_CHUNK = 3
KIND_ACK = 4
KIND_DONE = 5

#: DONE outcomes: the snapshot was received whole and handed to the node; the node has it
#: already (nothing was sent); the data received did not match `data_crc32c` (deleted: the
#: sender starts over).
DONE_HANDED_OVER = 0
DONE_NOT_NEEDED = 1
DONE_CHECKSUM_MISMATCH = 2
DONE_OUTCOMES = (DONE_HANDED_OVER, DONE_NOT_NEEDED, DONE_CHECKSUM_MISMATCH)

#: A sender's chunk size and its window (chunks sent and not yet acknowledged), by default
#: (`NodeConfig.snapshot_chunk_bytes`, `snapshot_chunks_in_flight`).
DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_CHUNKS_IN_FLIGHT = 4

#: The largest chunk this build accepts (a sender's chunks are `SNAPSHOT_CHUNK_BYTES`, at
#: most this), and the largest head (a snapshot message without data: the configuration's
#: ids at most).
MAX_CHUNK_BYTES = 4 << 20
MAX_HEAD_BYTES = 1 << 20

HEADER = struct.Struct("<BI")
OFFER = struct.Struct("<QQQI")
OFFSET = struct.Struct("<Q")
CHUNK = struct.Struct("<QI")
DONE = struct.Struct("<B")

#: The longest body of each kind.
MAX_BODY_BYTES = {
    KIND_OFFER: OFFER.size + MAX_HEAD_BYTES,
    KIND_RESUME: OFFSET.size,
    KIND_CHUNK: CHUNK.size + MAX_CHUNK_BYTES,
    KIND_ACK: OFFSET.size,
    KIND_DONE: DONE.size,
}


class StreamError(ValueError):
    """A snapshot stream's bytes are malformed, or break its rules: the connection is closed."""


@dataclass(frozen=True)
class Offer:
    index: int
    term: int
    data_bytes: int
    data_crc32c: int
    head: bytes


@dataclass(frozen=True)
class Resume:
    offset: int


@dataclass(frozen=True)
class Chunk:
    offset: int
    data: bytes


@dataclass(frozen=True)
class Ack:
    offset: int


@dataclass(frozen=True)
class Done:
    outcome: int


Message = Offer | Resume | Chunk | Ack | Done


def encode(msg: Message) -> bytes:
    """The bytes of `msg` on the wire."""
    if isinstance(msg, Offer):
        if len(msg.head) > MAX_HEAD_BYTES:
            raise ValueError(f"head of {len(msg.head)} bytes, at most {MAX_HEAD_BYTES}")
        kind = KIND_OFFER
        body = OFFER.pack(msg.index, msg.term, msg.data_bytes, msg.data_crc32c) + msg.head
    elif isinstance(msg, Chunk):
        if not 0 < len(msg.data) <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk of {len(msg.data)} bytes, 1 to {MAX_CHUNK_BYTES}")
        kind, body = KIND_CHUNK, CHUNK.pack(msg.offset, zlib.crc32(msg.data)) + msg.data
    elif isinstance(msg, Resume):
        kind, body = KIND_RESUME, OFFSET.pack(msg.offset)
    elif isinstance(msg, Ack):
        kind, body = KIND_ACK, OFFSET.pack(msg.offset)
    else:
        if msg.outcome not in DONE_OUTCOMES:
            raise ValueError(f"unknown outcome {msg.outcome}")
        kind, body = KIND_DONE, DONE.pack(msg.outcome)
    return HEADER.pack(kind, len(body)) + body


def decode_body(kind: int, body: bytes) -> Message:
    """The message of `kind` whose body is `body` (its length already checked)."""
    if kind == KIND_OFFER:
        if len(body) < OFFER.size:
            raise StreamError(f"offer of {len(body)} bytes")
        index, term, data_bytes, data_crc32c = OFFER.unpack_from(body)
        return Offer(index, term, data_bytes, data_crc32c, bytes(body[OFFER.size :]))
    if kind == KIND_CHUNK:
        if len(body) <= CHUNK.size:
            raise StreamError(f"chunk of {len(body)} bytes")
        offset, crc32 = CHUNK.unpack_from(body)
        data = bytes(body[CHUNK.size :])
        if zlib.crc32(data) != crc32:
            raise StreamError(f"chunk at {offset}: checksum mismatch")
        return Chunk(offset, data)
    if kind == KIND_DONE:
        (outcome,) = DONE.unpack(body) if len(body) == DONE.size else (None,)
        if outcome not in DONE_OUTCOMES:
            raise StreamError(f"done of {len(body)} bytes, outcome {outcome}")
        return Done(outcome)
    if len(body) != OFFSET.size:
        raise StreamError(f"kind {kind}: {len(body)} bytes, not {OFFSET.size}")
    (offset,) = OFFSET.unpack(body)
    return Resume(offset) if kind == KIND_RESUME else Ack(offset)


class Decoder:
    """Cuts a byte stream into messages. Holds at most one message's bytes (the longest body
    allowed, `MAX_BODY_BYTES`, checked from the header before the body is awaited)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        #: The kind and body length of the message whose body is awaited, once its header is in.
        self._header: tuple[int, int] | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """The messages `data` completes, in order; raises `StreamError` on malformed input
        (the stream is then unusable)."""
        self._buf += data
        out: list[Message] = []
        while True:
            if self._header is None:
                if len(self._buf) < HEADER.size:
                    return out
                kind, body_bytes = HEADER.unpack_from(self._buf)
                limit = MAX_BODY_BYTES.get(kind)
                if limit is None:
                    raise StreamError(f"unknown message kind {kind}")
                if body_bytes > limit:
                    raise StreamError(f"kind {kind}: body of {body_bytes} bytes, at most {limit}")
                del self._buf[: HEADER.size]
                self._header = (kind, body_bytes)
            kind, body_bytes = self._header
            if len(self._buf) < body_bytes:
                return out
            body = bytes(self._buf[:body_bytes])
            del self._buf[:body_bytes]
            self._header = None
            out.append(decode_body(kind, body))
