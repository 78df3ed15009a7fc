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
from senate._core import FRAME_BODY_BYTES_END, FRAME_BODY_BYTES_OFFSET, FRAME_HEADER_BYTES


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


def frame_ends(frames: bytes) -> list[int]:
    """Where each frame of `frames` ends (its header says how long its body is)."""
    ends = [0]
    while ends[-1] < len(frames):
        at = ends[-1]
        length_field = frames[at + FRAME_BODY_BYTES_OFFSET : at + FRAME_BODY_BYTES_END]
        body_bytes = int.from_bytes(length_field, "little")
        ends.append(at + FRAME_HEADER_BYTES + body_bytes)
    assert ends[-1] == len(frames)
    return ends[1:]


def node_state(node: RaftNode) -> tuple[object, ...]:
    """What stepping a message may change: the status and whether a Ready is due."""
    s = node.status()
    return (s.term, s.vote, s.commit, s.last_index, s.role, s.leader, node.has_ready())


def drain(node: RaftNode) -> list[tuple[object, ...]]:
    """Takes and advances every Ready; what each held."""
    taken: list[tuple[object, ...]] = []
    while (ready := node.ready()) is not None:
        taken.append((ready.hard_state, ready.committed_index, len(ready.messages)))
        node.advance()
    return taken


@lru_cache(maxsize=3)
def effective_frame(dst: int) -> bytes:
    """A frame to `dst` of the sample that changes a fresh node's state."""
    for to, data in sample_frames():
        node = RaftNode(to, [1, 2, 3], seed=1)
        fresh = node_state(node)
        if to == dst and node.step(data) and node_state(node) != fresh:
            return data
    raise AssertionError(f"no frame to node {dst} changes its state")


@given(st.data())
def test_corrupted_frames_are_refused_without_effect_and_the_node_goes_on(
    data: st.DataObject,
) -> None:
    """Corrupted bytes (a frame flipped, cut, extended or spliced) never crash a node: the
    frames before the damage are stepped, the damaged frame and what follows are refused
    and change nothing (as a twin node that stepped only the intact frames shows), and a
    valid message stepped afterwards has its effect."""
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
    # The twin steps the frames that are intact (same bytes, same place) at the start of the
    # corrupted bytes: what the node may take of them.
    intact = [end for end in frame_ends(original) if corrupted[:end] == original[:end]]
    intact_end = intact[-1] if intact else 0
    node = RaftNode(dst, [1, 2, 3], seed=1)
    twin = RaftNode(dst, [1, 2, 3], seed=1)
    fresh = node_state(node)
    if intact_end:
        assert twin.step(original[:intact_end]) == len(intact)
    with contextlib.suppress(senate.SenateError):
        node.step(bytes(corrupted))
    assert node_state(node) == node_state(twin)
    if not intact_end:
        assert node_state(node) == fresh
    assert drain(node) == drain(twin)
    # The node goes on: a valid message is stepped and has its effect, as on the twin.
    valid = effective_frame(dst)
    assert node.step(valid) == twin.step(valid) >= 1
    assert node_state(node) == node_state(twin)
    if not intact_end:
        assert node_state(node) != fresh
    assert drain(node) == drain(twin)
