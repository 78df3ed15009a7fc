"""RESP (the Redis protocol) replies: the one reader of them on the Python side.

`parse_reply` reads one reply (RESP2 and RESP3) from bytes; `read_reply` and
`read_reply_bytes` read one from a stream (`senate status`, the launcher's probes, the
tests' raw clients); `error_flags` tells which replies of a chunk are errors (the load
generator's slow path). `count_replies` finds reply boundaries in Rust
(`senate._core.count_replies`): the load generator's fast path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from senate import _core
from senate._core import DEFAULT_MAX_BULK_BYTES, KvError

#: The most elements (nested ones included) accepted in one reply.
MAX_ELEMENTS_PER_REPLY = 1 << 20
#: The longest bulk string accepted in a reply: the core's (Redis's own default
#: proto-max-bulk-len).
MAX_BULK_BYTES = DEFAULT_MAX_BULK_BYTES


class RespProtocolError(ValueError):
    """The bytes received are not RESP replies (a broken server or a wrong port)."""


@dataclass(frozen=True)
class RespErrorReply:
    """An error reply (`-` or RESP3's blob error `!`), as a value: errors nested in an
    aggregate (as in EXEC's) are elements like any other."""

    message: str


#: A reply: simple string (str), error (RespErrorReply), integer and big number (int), bulk
#: and verbatim string (bytes), null (None), boolean, double, and aggregates: array, set and
#: push (list), map (list of (key, value) pairs).
RespValue = str | int | float | bytes | RespErrorReply | list[Any] | None

# Type bytes whose reply is the rest of the line.
_LINE_TYPES = frozenset(b"+-:_#,(")
# Type bytes followed by a length and that many bytes.
_BLOB_TYPES = frozenset(b"$!=")
# Type bytes followed by an element count (a map's counts pairs).
_AGGREGATE_TYPES = frozenset(b"*~%>")


def _line_value(kind: int, body: bytes, at: int) -> RespValue:
    try:
        if kind == 0x2B:  # '+'
            return body.decode(errors="replace")
        if kind == 0x2D:  # '-'
            return RespErrorReply(body.decode(errors="replace"))
        if kind in (0x3A, 0x28):  # ':' integer, '(' big number
            return int(body)
        if kind == 0x2C:  # ','
            return float(body)
        if kind == 0x23 and body in (b"t", b"f"):  # '#'
            return body == b"t"
        if kind == 0x5F and not body:  # '_'
            return None
    except ValueError:
        pass
    raise RespProtocolError(f"bad {chr(kind)!r} reply at offset {at}")


def _header_int(data: bytes | bytearray, type_at: int, line_end: int) -> int:
    try:
        return int(data[type_at + 1 : line_end])
    except ValueError:
        raise RespProtocolError(f"bad length at offset {type_at}") from None


def _aggregate(kind: int, items: list[RespValue]) -> RespValue:
    if kind == 0x25:  # '%': a map, as its (key, value) pairs
        return list(zip(items[0::2], items[1::2], strict=True))
    return items


def parse_reply(
    data: bytes | bytearray,
    start: int = 0,
    *,
    max_bulk_bytes: int = MAX_BULK_BYTES,
    max_elements: int = MAX_ELEMENTS_PER_REPLY,
) -> tuple[RespValue, int] | None:
    """The reply at `data[start:]` and where it ends, or None when it is not complete yet.

    Raises `RespProtocolError` for bytes that are not RESP, a bulk string longer than
    `max_bulk_bytes` or more than `max_elements` elements (nested ones included). Iterative:
    deeply nested aggregates cost no recursion.
    """
    size = len(data)
    position = start
    elements = 0
    # The aggregates being read, innermost last: (type byte, elements read, elements due).
    open_aggregates: list[tuple[int, list[RespValue], int]] = []
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        kind = data[position]
        value: RespValue
        if kind in _LINE_TYPES:
            value = _line_value(kind, bytes(data[position + 1 : line_end]), position)
            position = line_end + 2
        elif kind in _BLOB_TYPES:
            length = _header_int(data, position, line_end)
            position = line_end + 2
            if length < 0:
                value = None
            else:
                if length > max_bulk_bytes:
                    raise RespProtocolError(f"bulk string of {length} bytes")
                body_end = position + length
                if body_end + 2 > size:
                    return None
                if data[body_end : body_end + 2] != b"\r\n":
                    raise RespProtocolError(f"bulk string at {position} not followed by CRLF")
                body = bytes(data[position:body_end])
                value = RespErrorReply(body.decode(errors="replace")) if kind == 0x21 else body
                position = body_end + 2
        elif kind in _AGGREGATE_TYPES:
            count = _header_int(data, position, line_end)
            position = line_end + 2
            due = count * 2 if kind == 0x25 else count
            elements += max(due, 0)
            if elements > max_elements:
                raise RespProtocolError(f"aggregate of {count} elements")
            if due > 0:
                open_aggregates.append((kind, [], due))
                continue
            value = None if count < 0 else _aggregate(kind, [])
        else:
            raise RespProtocolError(f"unknown reply type byte {kind:#04x} at offset {position}")
        # Hand the value to the aggregates it completes, innermost first.
        while open_aggregates:
            agg_kind, items, due = open_aggregates[-1]
            items.append(value)
            if len(items) < due:
                break
            open_aggregates.pop()
            value = _aggregate(agg_kind, items)
        else:
            return value, position


def reply_end(data: bytes | bytearray, start: int) -> tuple[int, bool]:
    """The end of the reply at `data[start:]` and whether it is an error reply.

    Returns `(-1, False)` when the reply is not complete yet. Only a top-level error reply
    counts as an error; errors nested in arrays (as in EXEC's) are elements, not errors.
    """
    parsed = parse_reply(data, start)
    if parsed is None:
        return -1, False
    value, end = parsed
    return end, isinstance(value, RespErrorReply)


def read_reply_bytes(
    stream: BinaryIO,
    *,
    max_bulk_bytes: int = MAX_BULK_BYTES,
    max_elements: int = MAX_ELEMENTS_PER_REPLY,
) -> tuple[RespValue, bytes]:
    """One reply from `stream`, and its bytes. Reads line by line: every reply ends with a
    line end, so nothing past the reply is read (the next reply stays in the stream). Raises
    ConnectionError when the stream ends mid-reply or a line exceeds the limits, and
    `RespProtocolError` for bytes that are not RESP."""
    buffer = bytearray()
    while True:
        line = stream.readline(max_bulk_bytes + 2)
        if not line:
            raise ConnectionError("connection closed mid-reply")
        if not line.endswith(b"\n") and len(line) == max_bulk_bytes + 2:
            raise ConnectionError("line too long")
        buffer += line
        # A reply of many lines (an INFO text, an array) is parsed again from its start as
        # each line arrives: such replies are small here (status, probes, tests).
        parsed = parse_reply(buffer, max_bulk_bytes=max_bulk_bytes, max_elements=max_elements)
        if parsed is not None:
            value, end = parsed
            assert end == len(buffer), "a reply ends at a line end"
            return value, bytes(buffer)


def read_reply(
    stream: BinaryIO,
    *,
    max_bulk_bytes: int = MAX_BULK_BYTES,
    max_elements: int = MAX_ELEMENTS_PER_REPLY,
) -> RespValue:
    """One reply from `stream` (see `read_reply_bytes`)."""
    value, _data = read_reply_bytes(
        stream, max_bulk_bytes=max_bulk_bytes, max_elements=max_elements
    )
    return value


def count_replies(data: bytes) -> tuple[int, int, int]:
    """`(replies, used_bytes, error_replies)` for the complete replies at the start of `data`.

    `data[:used_bytes]` holds `replies` whole replies, `error_replies` of them top-level
    errors; the rest is the beginning of a reply not yet received. Raises
    `RespProtocolError` for bytes that are not RESP.
    """
    try:
        return _core.count_replies(data)
    except KvError as error:
        raise RespProtocolError(str(error)) from None


def error_texts(data: bytes, replies: int) -> list[str]:
    """The text of each top-level error reply among the first `replies` complete replies in
    `data` (for reports: "TRYAGAIN ...", "ERR ...")."""
    texts: list[str] = []
    position = 0
    for _ in range(replies):
        end, is_error = reply_end(data, position)
        assert end > 0, "fewer complete replies than counted"
        if is_error:
            texts.append(data[position + 1 : end].decode(errors="replace").strip())
        position = end
    return texts


def error_flags(data: bytes, replies: int) -> list[bool]:
    """Whether each of the first `replies` complete replies in `data` is an error reply.

    The slow path, taken only for chunks in which `count_replies` found errors, to tell
    which requests they answer.
    """
    flags: list[bool] = []
    position = 0
    for _ in range(replies):
        end, is_error = reply_end(data, position)
        assert end > 0, "fewer complete replies than counted"
        flags.append(is_error)
        position = end
    return flags
