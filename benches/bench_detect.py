"""The cost of a detector from Python: one heartbeat() plus one phi() (or is_available())
call, against a no-op call into the extension and against the same closure making two no-op
calls (the fair baseline for two calls), measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from senate import HeartbeatDetector, PhiAccrualDetector, RaftNode

#: Milliseconds between the heartbeats the benchmarks feed (time only moves forward).
INTERVAL_MS = 1000.0


@pytest.mark.benchmark(group="detect")
def test_noop(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    node = RaftNode(1, [1])
    benchmark(node.noop)
    record_median("detect", "noop", benchmark)


@pytest.mark.benchmark(group="detect")
def test_noop_pair(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    node = RaftNode(1, [1])
    now_ms = 0.0

    def two_noops() -> None:
        nonlocal now_ms
        now_ms += INTERVAL_MS
        node.noop()
        node.noop()

    benchmark(two_noops)
    record_median("detect", "noop_pair", benchmark)


@pytest.mark.benchmark(group="detect")
def test_phi_heartbeat_and_phi(
    benchmark: Any, record_median: Callable[[str, str, object], None]
) -> None:
    detector = PhiAccrualDetector()
    now_ms = 0.0

    def one_beat() -> float:
        nonlocal now_ms
        now_ms += INTERVAL_MS
        detector.heartbeat(now_ms)
        return detector.phi(now_ms + INTERVAL_MS / 2)

    benchmark(one_beat)
    record_median("detect", "phi", benchmark)
    assert detector.samples <= detector.max_samples
    assert detector.is_available(now_ms)


@pytest.mark.benchmark(group="detect")
def test_fixed_heartbeat_and_is_available(
    benchmark: Any, record_median: Callable[[str, str, object], None]
) -> None:
    detector = HeartbeatDetector()
    now_ms = 0.0

    def one_beat() -> bool:
        nonlocal now_ms
        now_ms += INTERVAL_MS
        detector.heartbeat(now_ms)
        return detector.is_available(now_ms + INTERVAL_MS / 2)

    benchmark(one_beat)
    record_median("detect", "fixed", benchmark)
    assert detector.is_available(now_ms)
