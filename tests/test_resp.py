"""The RESP reply reader (`senate.resp`): the one the status command, the launcher, the load
generator's slow path and the tests' raw clients use."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from senate import _core
from senate.resp import (
    RespErrorReply,
    RespProtocolError,
    error_flags,
    parse_reply,
    read_reply,
    read_reply_bytes,
    reply_end,
)

# Text without line breaks, for simple strings and errors.
LINE_TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]))


def encode(value: Any, resp3: bool) -> bytes:
    """The encoder the reader is checked against: `value` as a RESP reply (RESP2 types, or
    RESP3 where the value needs one: booleans, doubles, maps, nulls as `_`)."""
    if isinstance(value, RespErrorReply):
        return b"-%s\r\n" % value.message.encode()
    if isinstance(value, bool):
        return b"#%s\r\n" % (b"t" if value else b"f")
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, float):
        return b",%s\r\n" % repr(value).encode()
    if isinstance(value, str):
        return b"+%s\r\n" % value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if value is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return b"%%%d\r\n" % len(value) + b"".join(
            encode(k, resp3) + encode(v, resp3) for k, v in value
        )
    assert isinstance(value, list)
    return b"*%d\r\n" % len(value) + b"".join(encode(v, resp3) for v in value)


def replies(resp3: bool) -> st.SearchStrategy[Any]:
    scalars: list[st.SearchStrategy[Any]] = [
        LINE_TEXT,
        LINE_TEXT.map(RespErrorReply),
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.binary(max_size=40),
        st.none(),
    ]
    if resp3:
        scalars += [st.booleans(), st.floats(allow_nan=False)]
    scalar = st.one_of(scalars)

    def aggregates(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        arrays = st.lists(children, max_size=4).filter(
            lambda items: not items or not all(isinstance(i, tuple) for i in items)
        )
        if not resp3:
            return arrays
        maps = st.lists(st.tuples(scalar, children), min_size=1, max_size=3)
        return arrays | maps

    return st.recursive(scalar, aggregates, max_leaves=12)


def same(a: Any, b: Any) -> bool:
    """Equality, with -0.0 and 0.0 told apart (the encoder writes what it was given)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(
    st.booleans().flatmap(
        lambda resp3: st.tuples(st.just(resp3), st.lists(replies(resp3), min_size=1, max_size=4))
    )
)
def test_replies_read_back_whole_however_the_bytes_are_split(
    case: tuple[bool, list[Any]],
) -> None:
    """Encoded replies, one after another, read back as they were, with their ends; every
    prefix holds exactly the replies that end in it (a reply cut anywhere is incomplete, never
    misread); a stream yields them one at a time, whole, their bytes included."""
    resp3, values = case
    encoded = [encode(v, resp3) for v in values]
    data = b"".join(encoded)
    ends = [sum(map(len, encoded[: k + 1])) for k in range(len(encoded))]
    # Whole.
    position = 0
    for value, end in zip(values, ends, strict=True):
        parsed = parse_reply(data, position)
        assert parsed is not None
        assert same(parsed[0], value)
        assert parsed[1] == end
        position = end
    # Split at every byte boundary: the prefix holds the replies that end in it.
    for cut in range(len(data) + 1):
        prefix = data[:cut]
        position = 0
        complete = 0
        while (parsed := parse_reply(prefix, position)) is not None:
            position = parsed[1]
            complete += 1
        assert complete == sum(1 for end in ends if end <= cut), cut
        assert position == (ends[complete - 1] if complete else 0)
    # From a stream.
    stream = io.BytesIO(data)
    for value, chunk in zip(values, encoded, strict=True):
        got, got_bytes = read_reply_bytes(stream)
        assert same(got, value)
        assert got_bytes == chunk
    with pytest.raises(ConnectionError):
        read_reply(stream)
    # The Rust reply counter agrees on every boundary and on the errors.
    errors = sum(isinstance(v, RespErrorReply) for v in values)
    assert _core.count_replies(data) == (len(values), len(data), errors)
    flags = error_flags(data, len(values))
    assert flags == [isinstance(v, RespErrorReply) for v in values]


def test_not_resp_is_refused() -> None:
    for data in (b"?x\r\n", b"$abc\r\n", b"$3\r\nabcXY", b"#x\r\n", b"_1\r\n", b",nope\r\n"):
        with pytest.raises(RespProtocolError):
            parse_reply(data)
    with pytest.raises(RespProtocolError, match="bulk string of 11 bytes"):
        parse_reply(b"$11\r\n", max_bulk_bytes=10)
    with pytest.raises(RespProtocolError, match="elements"):
        parse_reply(b"*2\r\n*2\r\n", max_elements=3)


def test_deep_nesting_costs_no_recursion() -> None:
    depth = 100_000
    data = b"*1\r\n" * depth + b":7\r\n"
    parsed = parse_reply(data, max_elements=depth)
    assert parsed is not None
    value, end = parsed
    assert end == len(data)
    for _ in range(depth):
        assert isinstance(value, list)
        (value,) = value
    assert value == 7


def test_nested_errors_are_elements_and_only_top_level_ones_count() -> None:
    parts = [b"*2\r\n-ERR a\r\n:1\r\n", b"-ERR b\r\n", b"!5\r\nERR c\r\n"]
    data = b"".join(parts)
    first, second = len(parts[0]), len(parts[0]) + len(parts[1])
    assert reply_end(data, 0) == (first, False)
    assert reply_end(data, first) == (second, True)
    assert reply_end(data, second) == (len(data), True)
    assert reply_end(data[:-1], second) == (-1, False)
    assert parse_reply(data) == ([RespErrorReply("ERR a"), 1], first)
