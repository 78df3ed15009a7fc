"""The client's half of an exactly-once session (`senate.client_session`): numbering and the
`first_unacked` it sends, against a model (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from senate.client_session import WRITE_COMMANDS, WriteSession, error_code


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50)), max_size=200))
def test_first_unacked_is_the_lowest_write_in_flight(steps: list[tuple[bool, int]]) -> None:
    session = WriteSession(7)
    in_flight: set[int] = set()
    numbered = 0
    for new, pick in steps:
        if new or not in_flight:
            seq = session.number()
            numbered += 1
            assert seq == numbered  # 1, 2, 3, ...
            in_flight.add(seq)
        else:
            done = sorted(in_flight)[pick % len(in_flight)]
            session.done(done)
            in_flight.discard(done)
        expected = min(in_flight) if in_flight else numbered + 1
        assert session.first_unacked() == expected
        assert session.in_flight == len(in_flight)
        assert session.wrap(3, ["INCR", "k"]) == ["SENATE.EXEC", 7, 3, expected, "INCR", "k"]


def test_the_wrapped_commands_are_the_stores_writes() -> None:
    assert {"SET", "INCR", "DEL", "APPEND", "MSET", "FLUSHDB"} <= WRITE_COMMANDS
    assert not {"GET", "MGET", "PING", "SENATE.EXEC", "SENATE.SESSION"} & WRITE_COMMANDS
    assert error_code(Exception("NOSESSION session 3 is expired")) == "NOSESSION"
