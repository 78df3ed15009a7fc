"""One `pick()` per balancer against a no-op call into the extension, keyed lookups against
uhashring's `get_node`, `pick_many` of 1,000,000 keys, and a Maglev build for 1,000 backends,
each group measured in one run; the ratios print at the end."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from senate import RaftNode
from senate.balance import (
    ALGORITHMS,
    Balancer,
    JumpHash,
    Maglev,
    Random,
    RingHash,
    RoundRobin,
)

ALL = ALGORITHMS
#: A cluster's worth of backends: the nodes a client spreads its reads over.
PICK_BACKENDS = 10
LOOKUP_BACKENDS = 100
KEYS = [f"user:{i}" for i in range(1024)]
MANY = 1_000_000
#: Calls per timed round, fixed: left to calibration on a noisy machine, a round of one call
#: is sometimes chosen, and its time is the clock's overhead, not the call's.
PICK_ROUNDS: dict[str, int] = {"iterations": 10_000, "rounds": 50, "warmup_rounds": 2}
#: Rounds of the paired pick/no-op measurement, and calls of each per round.
PAIRED_ROUNDS, PAIRED_CALLS = 41, 10_000


def paired_ratio(call: Callable[[], object], baseline: Callable[[], object]) -> float:
    """The median over rounds of time(`call` x N) / time(`baseline` x N), the two timed back
    to back (in alternating order) in each round: the machine's speed drifts between
    benchmarks run one after the other, not within a round."""
    calls = range(PAIRED_CALLS)

    def timed(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        for _ in calls:
            fn()
        return time.perf_counter() - start

    ratios = []
    for round_ in range(PAIRED_ROUNDS):
        if round_ % 2:
            base, measured = timed(baseline), timed(call)
        else:
            measured, base = timed(call), timed(baseline)
        ratios.append(measured / base)
    return statistics.median(ratios)


def names(n: int) -> list[str]:
    return [f"backend-{i}" for i in range(n)]


@pytest.mark.benchmark(group="balance-pick")
def test_noop(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    benchmark.pedantic(RaftNode(1, [1]).noop, **PICK_ROUNDS)
    record_median("balance-pick", "noop", benchmark)


@pytest.mark.benchmark(group="balance-pick")
@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_pick(
    benchmark: Any,
    record_median: Callable[[str, str, object], None],
    record_pick_ratio: Callable[[str, float], None],
    cls: Callable[..., Balancer],
) -> None:
    lb = cls(names(PICK_BACKENDS))
    benchmark.pedantic(lb.pick, **PICK_ROUNDS)
    record_median("balance-pick", cls.__name__, benchmark)
    if getattr(benchmark, "stats", None) is not None:  # benchmarks enabled
        record_pick_ratio(cls.__name__, paired_ratio(lb.pick, RaftNode(1, [1]).noop))


def _cycle_keys(lookup: Callable[[str], object]) -> Callable[[], None]:
    keys = KEYS

    def lookups() -> None:
        for key in keys:
            lookup(key)

    return lookups


@pytest.mark.benchmark(group="balance-lookup")
@pytest.mark.parametrize("cls", [RingHash, Maglev], ids=lambda cls: cls.__name__)
def test_lookup(
    benchmark: Any, record_median: Callable[[str, str, object], None], cls: Callable[..., Balancer]
) -> None:
    benchmark(_cycle_keys(cls(names(LOOKUP_BACKENDS)).pick))
    record_median("balance-lookup", cls.__name__, benchmark)


@pytest.mark.benchmark(group="balance-lookup")
def test_lookup_uhashring(
    benchmark: Any, record_median: Callable[[str, str, object], None]
) -> None:
    uhashring = pytest.importorskip("uhashring")
    ring = uhashring.HashRing(nodes=names(LOOKUP_BACKENDS))
    benchmark(_cycle_keys(ring.get_node))
    record_median("balance-lookup", "uhashring", benchmark)


@pytest.mark.benchmark(group="balance-pick-many")
@pytest.mark.parametrize(
    "cls", [RoundRobin, Random, RingHash, Maglev, JumpHash], ids=lambda c: c.__name__
)
def test_pick_many(
    benchmark: Any, record_median: Callable[[str, str, object], None], cls: Callable[..., Balancer]
) -> None:
    lb = cls(names(LOOKUP_BACKENDS))
    keys = list(range(MANY))
    result = benchmark.pedantic(lb.pick_many, args=(keys,), rounds=5, iterations=1)
    assert len(result) == MANY
    record_median("balance-pick-many", cls.__name__, benchmark)


@pytest.mark.benchmark(group="balance-maglev-build")
def test_maglev_build(benchmark: Any, record_median: Callable[[str, str, object], None]) -> None:
    backends = names(1000)
    lb = benchmark.pedantic(
        Maglev, args=(backends,), kwargs={"table_size": 65_537}, rounds=10, iterations=1
    )
    assert lb.table_size == 65_537
    record_median("balance-maglev-build", "maglev-1000", benchmark)
