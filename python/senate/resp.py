"""RESP (the Redis protocol) for the load generator: reply counting.

`count_replies` finds reply boundaries in Rust (`senate._core.count_replies`, which knows
RESP2 and RESP3); `error_flags`, the slow path for the rare chunk that holds error replies,
walks RESP2 replies here to tell which requests they answer.
"""

from __future__ import annotations

from senate import _core
from senate._core import KvError

#: The most elements (nested ones included) accepted in one reply.
MAX_ELEMENTS_PER_REPLY = 1 << 20
#: The longest bulk string accepted in a reply (Redis's own default proto-max-bulk-len).
MAX_BULK_BYTES = 512 << 20

_SIMPLE = 0x2B  # '+'
_ERROR = 0x2D  # '-'
_INTEGER = 0x3A  # ':'
_BULK = 0x24  # '$'
_ARRAY = 0x2A  # '*'


class RespProtocolError(ValueError):
    """The bytes received are not RESP2 replies (a broken server or a wrong port)."""


def reply_end(data: bytes, start: int) -> tuple[int, bool]:
    """The end of the reply at `data[start:]` and whether it is an error reply.

    Returns `(-1, False)` when the reply is not complete yet. Only a top-level `-` reply
    counts as an error; errors nested in arrays (as in EXEC's) are elements, not errors.
    """
    size = len(data)
    position = start
    pending = 1  # elements still to read: arrays add their element count
    is_error = data[start] == _ERROR if start < size else False
    while pending:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return -1, False
        kind = data[position]
        pending -= 1
        if kind in (_SIMPLE, _ERROR, _INTEGER):
            position = line_end + 2
        elif kind == _BULK:
            length = _header_int(data, position, line_end)
            position = line_end + 2
            if length >= 0:
                if length > MAX_BULK_BYTES:
                    raise RespProtocolError(f"bulk string of {length} bytes")
                position += length + 2
                if position > size:
                    return -1, False
                if data[position - 2 : position] != b"\r\n":
                    raise RespProtocolError(f"bulk string at {start} not followed by CRLF")
        elif kind == _ARRAY:
            count = _header_int(data, position, line_end)
            position = line_end + 2
            if count > 0:
                pending += count
                if pending > MAX_ELEMENTS_PER_REPLY:
                    raise RespProtocolError(f"array of {count} elements")
        else:
            raise RespProtocolError(f"unknown reply type byte {kind:#04x} at offset {position}")
    return position, is_error


def _header_int(data: bytes, type_at: int, line_end: int) -> int:
    try:
        return int(data[type_at + 1 : line_end])
    except ValueError:
        raise RespProtocolError(f"bad length at offset {type_at}") from None


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
