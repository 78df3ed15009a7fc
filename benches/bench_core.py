"""The cost of driving the core from Python: one propose/ready/advance round on a
single-voter node against a no-op call into the extension, measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from senate import RaftNode

PAYLOAD = b"x" * 64
#: Rounds between compactions, so that a long benchmark keeps the in-memory log bounded.
COMPACT_EVERY_ROUNDS = 1 << 16


def leader_node() -> RaftNode:
    node = RaftNode(1, [1])
    node.campaign()
    while (ready := node.ready()) is not None:
        ready.committed  # noqa: B018 - applying is reading the entries
        node.advance()
    assert node.status().role == "leader"
    return node


@pytest.mark.benchmark(group="core-round")
def test_noop(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    node = leader_node()
    benchmark(node.noop)
    record_median("core-round", "noop", benchmark)


@pytest.mark.benchmark(group="core-round")
def test_round(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    node = leader_node()
    rounds = 0
    applied = node.status().applied

    def one_round() -> None:
        nonlocal rounds, applied
        node.propose(PAYLOAD)
        ready = node.ready()
        if ready is not None:
            for entry in ready.committed:
                applied = entry.index
            node.advance()
        rounds += 1
        if rounds % COMPACT_EVERY_ROUNDS == 0:
            node.compact(applied, b"")

    benchmark(one_round)
    record_median("core-round", "round", benchmark)
    assert node.status().applied == applied
