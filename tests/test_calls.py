"""Call identity: the sequence numbers a node gives its calls (`senate.runtime.calls`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from senate import Node, ReplCounter
from senate.runtime.calls import ENVELOPE, FIRST_SEQUENCE_BOUND, first_sequence

U64_END = 1 << 64


def first_call_sequence(node_id: int) -> int:
    """The sequence number the first call of a new node `node_id` gets, read from the entry
    the call proposes."""
    node = Node(ReplCounter(), id=node_id, peers={node_id: "127.0.0.1:1"})

    def on_done(_result: Any, _error: BaseException | None) -> None:
        raise AssertionError("the call is never answered here")

    node._calls.add(b"command", on_done, 0, None, now=0.0)
    (entry,) = node._calls.outbox
    origin, seq, slot = ENVELOPE.unpack_from(entry)
    assert (origin, slot, entry[ENVELOPE.size :]) == (node_id, 0, b"command")
    return int(seq)


def test_two_starts_at_a_stepped_back_clock_do_not_share_sequence_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node restarted after the wall clock stepped back (here: to the very nanosecond of the
    first start) must not give its calls the numbers of the calls of its earlier start: an
    entry of those still to be applied would answer a new call with another call's result."""
    clock_ns = 1_700_000_000_000_000_000
    monkeypatch.setattr(time, "time_ns", lambda: clock_ns)
    first = first_call_sequence(1)
    second = first_call_sequence(1)
    assert first != second
    # Nor are the ranges they count through close: either would take about 2**40 calls
    # (over a day at ten million calls a second) to reach the other's start, but for a
    # draw of probability 2**-22.
    assert abs(first - second) > 1 << 40


def test_sequence_numbers_stay_within_the_envelopes_u64() -> None:
    """The first number is below 2**63, so a start counts through 2**63 numbers before its
    numbers could leave the envelope's u64 field."""
    for _ in range(1000):
        assert 0 <= first_sequence() < FIRST_SEQUENCE_BOUND
    assert FIRST_SEQUENCE_BOUND * 2 == U64_END
    assert ENVELOPE.unpack_from(ENVELOPE.pack(1, U64_END - 1, 0))[1] == U64_END - 1
    # A node that made 2**62 calls since the worst draw still fits.
    seq = FIRST_SEQUENCE_BOUND - 1 + (1 << 62)
    assert ENVELOPE.unpack_from(ENVELOPE.pack(1, seq, 0))[1] == seq
    assert first_call_sequence(2) < FIRST_SEQUENCE_BOUND


def test_a_call_after_the_first_takes_the_next_number() -> None:
    node = Node(ReplCounter(), id=3, peers={3: "127.0.0.1:1"})
    loop = asyncio.new_event_loop()
    try:
        futures = [loop.create_future() for _ in range(3)]
        for fut in futures:
            node._calls.add(b"x", fut, 0, None, now=0.0)
    finally:
        loop.close()
    seqs = [ENVELOPE.unpack_from(entry)[1] for entry in node._calls.outbox]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert sorted(node._calls.pending) == seqs
