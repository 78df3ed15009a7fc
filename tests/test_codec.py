"""The wire codec seen through the Python API: frames a node emits are accepted by their
destination; arbitrary or corrupted bytes are refused with a `SenateError`, never a crash."""

from __future__ import annotations

import contextlib
from functools import lru_cache

from hypothesis import given
from hypothesis import strategies as st

import senate
from cluster import Cluster, InFlight
from senate import RaftNode


@lru_cache(maxsize=1)
def sample_frames() -> tuple[tuple[int, bytes], ...]:
    """(destination, frames) emitted by a 3-node cluster electing a leader, replicating and
    compacting: every common message type."""
    c = Cluster(3, seed=2)
    captured: list[tuple[int, bytes]] = []
    original_deliver = c.deliver

    def recording_deliver(message: InFlight) -> None:
        captured.append((message.dst, message.frames))
        original_deliver(message)

    c.deliver = recording_deliver  # type: ignore[method-assign]
    leader = c.wait_for_leader(100)
    for i in range(5):
        c.nodes[leader].propose(f"payload {i}".encode() * (i + 1))
        c.tick()
    c.nodes[c.followers()[0]].read_index(7)
    c.tick(3)
    return tuple(captured)


def test_frames_a_node_emits_are_accepted_by_their_destination() -> None:
    frames = sample_frames()
    assert len(frames) > 10
    for dst, data in frames:
        node = RaftNode(dst, [1, 2, 3])
        assert node.step(data) >= 1


@given(st.binary(max_size=512))
def test_arbitrary_bytes_are_refused_or_accepted_never_crash(data: bytes) -> None:
    node = RaftNode(1, [1, 2, 3])
    with contextlib.suppress(senate.SenateError):
        node.step(data)
    node.tick()
    node.status()


@given(st.data())
def test_corrupted_frames_are_refused_or_accepted_never_crash(data: st.DataObject) -> None:
    frames = sample_frames()
    dst, original = frames[data.draw(st.integers(0, len(frames) - 1), label="frame")]
    corrupted = bytearray(original)
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]), label="how")
    if how == "flip":
        at = data.draw(st.integers(0, len(corrupted) - 1), label="at")
        corrupted[at] ^= data.draw(st.integers(1, 255), label="mask")
    elif how == "truncate":
        del corrupted[data.draw(st.integers(0, len(corrupted) - 1), label="keep") :]
    elif how == "extend":
        corrupted += data.draw(st.binary(min_size=1, max_size=64), label="tail")
    else:
        at = data.draw(st.integers(0, len(corrupted)), label="at")
        corrupted[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="insert")
    node = RaftNode(dst, [1, 2, 3])
    with contextlib.suppress(senate.SenateError):
        node.step(bytes(corrupted))
    while (ready := node.ready()) is not None:
        node.advance()
        assert ready.committed is not None
