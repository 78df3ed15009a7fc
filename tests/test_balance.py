"""The balancers from Python: the shared surface, health, the request context manager, and
the quality figures of the design over 1,000,000 picks against the release extension."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from senate import ConfigError
from senate.balance import (
    ALGORITHMS,
    Balancer,
    BoundedLoadHash,
    DuplicateBackend,
    JumpHash,
    LeastRequest,
    Maglev,
    NoBackendAvailable,
    NotInFlight,
    PeakEwma,
    Rendezvous,
    RingHash,
    SmoothWeighted,
    UnknownBackend,
    WeightedRandom,
)

ALL = ALGORITHMS
HASHING = [RingHash, Maglev, Rendezvous, JumpHash, BoundedLoadHash]
PICKS = 1_000_000


def names(n: int) -> list[str]:
    return [f"backend-{i}" for i in range(n)]


# ---- the shared surface ------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_surface(cls: Callable[..., Balancer]) -> None:
    lb = cls(["a", "b", "c"])
    assert lb.backends == ["a", "b", "c"]
    assert len(lb) == 3
    assert "a" in lb
    assert "z" not in lb
    assert lb.pick() in "abc"
    assert lb.pick("key") in "abc"
    assert lb.pick(b"key") in "abc"
    assert lb.pick(-7) in "abc"
    assert set(lb.pick_many(30)) <= {"a", "b", "c"}
    assert len(lb.pick_many(["x", b"y", 3, 2**70])) == 4
    assert len(lb.pick_many(iter(range(5)))) == 5
    lb.add("d", 2)
    assert lb.weight("d") == 2
    with pytest.raises(DuplicateBackend) as duplicate:
        lb.add("d")
    assert duplicate.value.name == "d"
    lb.remove("a")
    with pytest.raises(UnknownBackend):
        lb.remove("a")
    assert lb.backends == ["b", "c", "d"]
    assert lb.mark_down("b") is True
    assert lb.mark_down("b") is False
    assert lb.is_up("b") is False
    lb.start("c")
    assert lb.in_flight("c") == 1
    lb.finish("c", 2.5, True, 10.0)
    with pytest.raises(NotInFlight):
        lb.finish("c")
    with pytest.raises(TypeError):
        lb.pick(1.5)  # type: ignore[arg-type]
    assert cls.__name__ in repr(lb)


@pytest.mark.parametrize("cls", ALL)
def test_errors(cls: Callable[..., Balancer]) -> None:
    with pytest.raises(ConfigError) as bad:
        cls({"a": 0})
    assert bad.value.field == "weight"
    with pytest.raises(ConfigError):
        cls(["a"], panic_threshold=2.0)
    with pytest.raises(TypeError):
        cls("abc")
    lb = cls(["a"], panic_threshold=0.0)
    lb.mark_down("a")
    with pytest.raises(NoBackendAvailable):
        lb.pick()
    with pytest.raises(NoBackendAvailable):
        lb.pick_many(3)


@pytest.mark.parametrize("cls", HASHING)
def test_keys_map_the_same_way_every_time(cls: Callable[..., Balancer]) -> None:
    a, b = cls(names(20), seed=1), cls(list(reversed(names(20))), seed=2)
    keys = [f"user:{i}" for i in range(2000)]
    if cls is JumpHash:  # buckets follow the order backends were added in
        b = cls(names(20), seed=2)
    assert a.pick_many(keys) == b.pick_many(keys)
    # A str key hashes as its UTF-8 bytes.
    assert a.pick_many(keys) == a.pick_many([k.encode() for k in keys])


def test_smooth_weighted_is_nginx() -> None:
    assert "".join(SmoothWeighted({"a": 5, "b": 1, "c": 1}).pick_many(7)) == "aabacaa"
    assert "".join(SmoothWeighted({"a": 5, "b": 1}).pick_many(6)) == "aaabaa"


def test_maglev_table_size() -> None:
    assert Maglev(names(10)).table_size == 65_537
    assert Maglev(names(1000)).table_size == 100_003
    with pytest.raises(ConfigError) as bad:
        Maglev(["a"], table_size=1000)
    assert bad.value.field == "table_size"


def test_request_counts_in_flight_and_records_latency() -> None:
    lb = PeakEwma(["a", "b"], initial_latency_ms=50.0)
    with lb.request() as backend:
        assert lb.in_flight(backend) == 1
    assert lb.in_flight(backend) == 0
    assert lb.latency_estimate_ms(backend) < 50.0  # a fast request pulled the estimate down
    with pytest.raises(RuntimeError), lb.request() as failed:
        raise RuntimeError("boom")
    assert lb.latency_estimate_ms(failed) >= 1000.0  # failures count as failure_latency_ms
    # A backend removed during the request is forgotten quietly.
    with lb.request() as gone:
        lb.remove(gone)


@given(
    n=st.integers(1, 12),
    down=st.sets(st.integers(0, 11)),
    cls=st.sampled_from(ALL),
    keys=st.lists(st.one_of(st.text(), st.binary(), st.integers(-(2**63), 2**64 - 1)), max_size=20),
)
@settings(max_examples=150, deadline=None)
def test_never_picks_a_down_backend(
    n: int, down: set[int], cls: Callable[..., Balancer], keys: list[str | bytes | int]
) -> None:
    lb = cls(names(n), panic_threshold=0.0)
    down_names = {f"backend-{i}" for i in down if i < n}
    for name in down_names:
        lb.mark_down(name)
    if len(down_names) == n:
        with pytest.raises(NoBackendAvailable):
            lb.pick()
        return
    picked = lb.pick_many(keys) + lb.pick_many(20)
    assert not set(picked) & down_names


@given(cls=st.sampled_from(ALL), n=st.integers(4, 10))
@settings(max_examples=30, deadline=None)
def test_panic_mode_selects_among_all(cls: Callable[..., Balancer], n: int) -> None:
    lb = cls(names(n))  # panic below 50% up
    for name in names(n)[1:]:
        lb.mark_down(name)
    assert lb.in_panic
    assert len(set(lb.pick_many(list(range(500))) + lb.pick_many(500))) > 1


# ---- quality: 1,000,000 picks against the release extension ------------------------------

#: max/mean bounds over 1,000,000 picks, per algorithm and backend count (10, 100, 1,000).
#: Random-like algorithms: about five standard deviations of the sampling noise.
EVENNESS_BOUNDS: dict[str, tuple[float, float, float]] = {
    "RoundRobin": (1.0, 1.0, 1.0),
    "SmoothWeighted": (1.0, 1.0, 1.0),
    "Random": (1.02, 1.05, 1.17),
    "WeightedRandom": (1.02, 1.05, 1.17),
    "LeastRequest": (1.001, 1.001, 1.01),
    "PeakEwma": (1.05, 1.16, 1.5),  # 100,000 picks (each a start and a finish)
    "Maglev": (1.02, 1.05, 1.2),
    "JumpHash": (1.02, 1.05, 1.17),
    "Rendezvous": (1.02, 1.05, 1.17),
    "RingHash": (1.15, 1.3, 1.4),
    "BoundedLoadHash": (1.26, 1.26, 1.26),
}


def evenness(cls: Callable[..., Balancer], n: int) -> float:
    lb = cls(names(n))
    name = cls.__name__
    if name in ("LeastRequest", "BoundedLoadHash"):
        # Every pick starts a request that never finishes: the load they balance.
        counts: Counter[str] = Counter()
        for key in range(PICKS // 10 if n == 1000 and name == "BoundedLoadHash" else PICKS):
            backend = lb.pick(key)
            lb.start(backend)
            counts[backend] += 1
    elif name == "PeakEwma":
        counts = Counter()
        for now in range(PICKS // 10):  # every backend equally fast: 10 ms each
            backend = lb.pick()
            lb.start(backend)
            lb.finish(backend, 10.0, True, float(now))
            counts[backend] += 1
    else:
        counts = Counter(lb.pick_many(range(PICKS)))
    assert len(counts) == n
    return max(counts.values()) / (sum(counts.values()) / n)


@pytest.mark.parametrize("cls", ALL)
def test_evenness(
    cls: Callable[..., Balancer], record_property: Callable[[str, object], None]
) -> None:
    name = cls.__name__
    sizes = (10, 100) if name in ("Rendezvous", "PeakEwma") else (10, 100, 1000)
    figures = {n: evenness(cls, n) for n in sizes}
    record_property("max_over_mean", figures)
    print(f"{name}: max/mean " + ", ".join(f"{n}: {r:.4f}" for n, r in figures.items()))
    for n, bound in zip(sizes, EVENNESS_BOUNDS[name], strict=False):
        assert figures[n] <= bound + 1e-9, f"{name} over {n}: {figures[n]:.4f} > {bound}"


WEIGHTS = {"a": 1, "b": 2, "c": 3, "d": 4}


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (WeightedRandom, {}),
        (SmoothWeighted, {}),
        (LeastRequest, {}),
        (Maglev, {}),
        (Rendezvous, {}),
        (RingHash, {"vnodes": 4000}),
    ],
)
def test_weights_within_one_percent(cls: Callable[..., Balancer], options: dict[str, int]) -> None:
    lb = cls(WEIGHTS, **options)
    if cls is LeastRequest:
        counts: Counter[str] = Counter()
        for _ in range(PICKS // 10):
            backend = lb.pick()
            lb.start(backend)
            counts[backend] += 1
    else:
        counts = Counter(lb.pick_many(range(PICKS)))
    total = sum(counts.values())
    shares = {name: counts[name] / total for name in WEIGHTS}
    print(f"{cls.__name__}: " + ", ".join(f"{k} {v:.4f}" for k, v in shares.items()))
    for name, weight in WEIGHTS.items():
        assert abs(shares[name] - weight / 10) <= 0.01


@pytest.mark.parametrize("cls", [RingHash, Maglev, Rendezvous, JumpHash])
@pytest.mark.parametrize("n", [10, 100, 1000])
def test_disruption(cls: Callable[..., Balancer], n: int) -> None:
    keys = list(range(PICKS // (10 if cls is Rendezvous and n == 1000 else 1)))
    lb = cls(names(n))
    before = lb.pick_many(keys)
    lb.remove("backend-0")
    after = lb.pick_many(keys)
    moved = sum(b != a for b, a in zip(before, after, strict=True)) / len(keys)
    needless = sum(b != a and b != "backend-0" for b, a in zip(before, after, strict=True)) / len(
        keys
    )
    ideal = 1 / n
    print(
        f"{cls.__name__} n={n}: moved {moved:.5f} (ideal {ideal:.5f}, "
        f"excess {moved - ideal:+.5f}), needless {needless:.5f}"
    )
    if cls is Maglev:
        # Maglev's reshuffle of the other backends' slots: measured 0.2% (n=10), 0.55%
        # (n=100), 0.6% (n=1,000) of all keys; asserted below 1%.
        assert needless <= 0.01
    else:
        assert needless == 0
    assert moved - needless <= 1.5 * ideal + 0.002


def test_order_of_picks_is_seeded() -> None:
    a = list(itertools.islice(iter(LeastRequest(names(10), seed=9).pick, None), 100))
    b = list(itertools.islice(iter(LeastRequest(names(10), seed=9).pick, None), 100))
    assert a == b
