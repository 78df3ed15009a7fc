"""Load balancers: a class per algorithm, all in Rust, all with the same methods.

>>> lb = Maglev(["a", "b", "c"])
>>> lb.pick("user:42") in ("a", "b", "c")
True

Every balancer takes its backends as a list of names or a dict of name to weight, and has
`pick()` / `pick(key)`, `pick_many(n_or_keys)`, `mark_down`/`mark_up`, `add`/`remove`,
in-flight accounting with `start(name)`/`finish(name, latency_ms, ok)`, and `request(key)`,
a context manager that does all of it around one request:

    with lb.request() as backend:
        send(backend)

The classes are the extension's own (not subclasses): a subclass would slow every `pick()`.
`Request` lives here, in Python, because it reads the clock; the core never does.

| class | picks |
| --- | --- |
| `RoundRobin` | the eligible backends in turn |
| `Random` | uniformly at random |
| `WeightedRandom` | at random by weight (alias method) |
| `SmoothWeighted` | by weight, interleaved as nginx (`{a: 5, b: 1}`: a a a b a a) |
| `LeastRequest` | fewer requests in flight of two random (weighted) |
| `PeakEwma` | lower latency estimate times load of two random |
| `RingHash` | by key: ring with virtual nodes |
| `Maglev` | by key: Maglev lookup table |
| `Rendezvous` | by key: highest random weight (weighted) |
| `JumpHash` | by key: jump consistent hash |
| `BoundedLoadHash` | by key, with no backend over (1 + epsilon) times its share in flight |
"""

from __future__ import annotations

import contextlib
import time
from types import TracebackType
from typing import TypeAlias

from senate._core import (
    BoundedLoadHash,
    DuplicateBackend,
    JumpHash,
    LeastRequest,
    Maglev,
    NoBackendAvailable,
    NotInFlight,
    PeakEwma,
    Random,
    Rendezvous,
    RingHash,
    RoundRobin,
    SmoothWeighted,
    UnknownBackend,
    WeightedRandom,
)

__all__ = [
    "ALGORITHMS",
    "Balancer",
    "BoundedLoadHash",
    "DuplicateBackend",
    "JumpHash",
    "Key",
    "LeastRequest",
    "Maglev",
    "NoBackendAvailable",
    "NotInFlight",
    "PeakEwma",
    "Random",
    "Rendezvous",
    "Request",
    "RingHash",
    "RoundRobin",
    "SmoothWeighted",
    "UnknownBackend",
    "WeightedRandom",
]

#: A key: a str (hashed as UTF-8), bytes, or an int (taken modulo 2**64).
Key: TypeAlias = str | bytes | int

#: Any of the balancers.
Balancer: TypeAlias = (
    RoundRobin
    | Random
    | WeightedRandom
    | SmoothWeighted
    | LeastRequest
    | PeakEwma
    | RingHash
    | Maglev
    | Rendezvous
    | JumpHash
    | BoundedLoadHash
)

#: Every balancer class, in the order of the module docs.
ALGORITHMS: tuple[type[Balancer], ...] = (
    RoundRobin,
    Random,
    WeightedRandom,
    SmoothWeighted,
    LeastRequest,
    PeakEwma,
    RingHash,
    Maglev,
    Rendezvous,
    JumpHash,
    BoundedLoadHash,
)


class Request:
    """One request through a balancer: `with lb.request(key) as backend: ...`.

    Entering picks a backend and counts a request in flight to it; leaving counts it finished
    with its latency (from `time.monotonic`) and its outcome (`ok` unless an exception left
    the block, or `ok` was set to False inside it). A backend removed while the request was in
    flight is forgotten quietly.
    """

    __slots__ = ("_balancer", "_key", "_started", "backend", "ok")

    def __init__(self, balancer: Balancer, key: Key | None = None) -> None:
        self._balancer = balancer
        self._key = key
        self._started = 0.0
        self.backend: str | None = None
        #: The outcome reported; set it to False to report a failure without raising.
        self.ok = True

    def __enter__(self) -> str:
        backend = self._balancer.pick(self._key)
        self._balancer.start(backend)
        self.backend = backend
        self._started = time.monotonic()
        return backend

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        now = time.monotonic()
        assert self.backend is not None, "Request left without being entered"
        ok = self.ok and exc_type is None
        latency_ms = (now - self._started) * 1000.0
        # The backend may have left (and maybe come back) while the request was in flight.
        with contextlib.suppress(UnknownBackend, NotInFlight):
            self._balancer.finish(self.backend, latency_ms, ok, now * 1000.0)
