"""A load run of `senate bench` as data: what it does (`LoadSpec`, checked on creation) and
what it measured (`LoadResult`: by operation, by second, by node), both to and from JSON.
`senate.loadgen` runs it; its module docs say what the ratio, the window and the figures
mean."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from senate.client import balancer_names
from senate.histogram import Histogram
from senate.security.client_security import ClientSecurity

#: Operation codes, indexes into per-operation lists, and their names.
GET, SET = 0, 1
OP_NAMES: tuple[str, str] = ("get", "set")
#: What sends the load: pipelined RESP connections of its own, or `senate.Client`.
CLIENT_KINDS: tuple[str, str] = ("resp", "senate")

#: Limits on a spec; together they bound the memory of a run.
MAX_CLIENTS = 10_000
MAX_PIPELINE = 10_000
MAX_VALUE_SIZE = 16 << 20
MAX_KEYS = 10**12  # keys are `key:` and 12 digits
MAX_DURATION_S = 3600.0  # bounds the per-second series
MAX_RATIO_PARTS = 1000  # READS + WRITES after dividing by their gcd


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """ "host:port" or "[v6 address]:port" as (host, port); ValueError if malformed."""
    host, sep, port_text = endpoint.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected host:port, got {endpoint!r}")
    return host, int(port_text)


def parse_ratio(ratio: str) -> tuple[int, int]:
    """ "READS:WRITES" reduced by their gcd, e.g. "2:2" -> (1, 1); ValueError if malformed."""
    reads_text, sep, writes_text = ratio.partition(":")
    if not sep or not reads_text.strip().isdigit() or not writes_text.strip().isdigit():
        raise ValueError(f"expected READS:WRITES such as 1:1 or 0:1, got {ratio!r}")
    reads, writes = int(reads_text), int(writes_text)
    if reads + writes == 0:
        raise ValueError("the ratio needs reads or writes")
    divisor = math.gcd(reads, writes)
    reads, writes = reads // divisor, writes // divisor
    if reads + writes > MAX_RATIO_PARTS:
        raise ValueError(f"READS + WRITES reduced must be at most {MAX_RATIO_PARTS}")
    return reads, writes


@dataclass(frozen=True)
class LoadSpec:
    """What to run; `__post_init__` rejects what is out of range with ValueError."""

    endpoints: tuple[str, ...]  # "host:port", at least one
    clients: int = 50
    pipeline: int = 16
    duration_s: float = 10.0
    warmup_s: float = 1.0
    value_size: int = 100
    ratio: str = "1:1"  # READS:WRITES
    keys: int = 100_000
    seed: int = 0
    client: str = "resp"  # one of CLIENT_KINDS
    stale: bool = False  # reads from the followers; client "senate" only
    balancer: str | None = None  # of the stale reads; client "senate" only, None: its default
    #: TLS and credentials of every connection (AUTH is sent before the warm-up).
    security: ClientSecurity = field(default_factory=ClientSecurity)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("no endpoints")
        for endpoint in self.endpoints:
            parse_endpoint(endpoint)
        parse_ratio(self.ratio)
        _check_range("clients", self.clients, 1, MAX_CLIENTS)
        _check_range("pipeline", self.pipeline, 1, MAX_PIPELINE)
        _check_range("value_size", self.value_size, 0, MAX_VALUE_SIZE)
        _check_range("keys", self.keys, 1, MAX_KEYS)
        _check_range("duration_s", self.duration_s, 0.01, MAX_DURATION_S)
        _check_range("warmup_s", self.warmup_s, 0.0, MAX_DURATION_S)
        self._check_client()

    def _check_client(self) -> None:
        """The client options go together; the messages name them as the command line does."""
        if self.client not in CLIENT_KINDS:
            raise ValueError(f"--client must be one of {', '.join(CLIENT_KINDS)}: {self.client!r}")
        if self.client == "senate" and self.pipeline != 1:
            raise ValueError(
                f"--pipeline {self.pipeline} cannot be used with --client senate "
                "(each client makes one call at a time)"
            )
        if self.client != "senate" and (self.stale or self.balancer is not None):
            raise ValueError("--stale and --balancer can only be used with --client senate")
        if self.balancer is not None and self.balancer not in balancer_names():
            raise ValueError(
                f"--balancer must be one of {', '.join(balancer_names())}: {self.balancer!r}"
            )

    def pattern(self) -> tuple[int, ...]:
        """The operations one connection cycles through: the reads, then the writes."""
        reads, writes = parse_ratio(self.ratio)
        return (GET,) * reads + (SET,) * writes

    def op_names(self) -> tuple[str, ...]:
        """The operations the ratio includes, in report order."""
        reads, writes = parse_ratio(self.ratio)
        return tuple(name for name, n in zip(OP_NAMES, (reads, writes), strict=True) if n)

    def to_args(self) -> list[str]:
        """The `python -m senate.loadgen_process` arguments for this spec."""
        args = ["--endpoints", ",".join(self.endpoints)]
        for name, value in self._fields().items():
            if name == "endpoints" or value is None or value is False:
                continue  # None is the default; a flag is given when true
            flag = "--" + name.removesuffix("_s").replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        return args + self.security.to_args()  # the password goes in the environment

    def _fields(self) -> dict[str, Any]:
        """The fields but `security`."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "security"}

    def to_json(self) -> dict[str, Any]:
        """Every field; the security without the password."""
        return dict(self._fields(), security=self.security.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        security = ClientSecurity.from_json(data.get("security", {}))
        return cls(**dict(data, endpoints=tuple(data["endpoints"]), security=security))


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class Progress:
    elapsed_s: float  # since the start of the warm-up
    total_s: float  # warm-up plus duration
    ops: int  # replies received in the measured window so far
    #: "warmup", "measure" (the first sent as the window starts) or "drain" (sent once, as
    #: the window ends: the replies in flight are awaited then, outside it).
    phase: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "progress", **asdict(self)}


@dataclass(frozen=True)
class SecondSample:
    """One second of the window (the last one may be shorter), by operation name."""

    t_s: float  # its start, from the start of the window
    seconds: float  # its length
    ops: dict[str, int]
    errors: dict[str, int]
    p50_ms: dict[str, float]
    p99_ms: dict[str, float]

    def ops_per_s(self, op: str) -> float:
        return self.ops.get(op, 0) / self.seconds


@dataclass(frozen=True)
class OpResult:
    op: str  # "get" or "set"
    ops: int  # replies received in the window
    errors: int  # error replies among them
    ops_per_s: float
    latency: Histogram  # seconds from send to reply, of the window's replies
    replies_total: int  # every reply, warm-up and drain included: what the server answered
    errors_total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "ops": self.ops,
            "errors": self.errors,
            "ops_per_s": self.ops_per_s,
            "latency_ms": self.latency.summary_ms(),
            "latency": self.latency.to_json(),
            "replies_total": self.replies_total,
            "errors_total": self.errors_total,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpResult:
        fields = {k: v for k, v in data.items() if k not in ("latency", "latency_ms")}
        return cls(latency=Histogram.from_json(data["latency"]), **fields)


@dataclass(frozen=True)
class LoadResult:
    spec: LoadSpec
    loop: str  # "uvloop" or "asyncio"
    window_s: float  # the measured window's actual length
    per_op: dict[str, OpResult]  # the operations of the ratio, reads first
    series: tuple[SecondSample, ...]
    unanswered: int  # requests never answered: connections lost, or the drain timed out
    connection_errors: int
    error_messages: tuple[str, ...] = field(default=())  # the first few (loadgen's limit)
    #: The window's replies by the endpoint that sent them ("host:port" as in the spec);
    #: None when not known (a result from before it was counted).
    per_node: dict[str, int] | None = None

    @property
    def ops(self) -> int:
        return sum(r.ops for r in self.per_op.values())

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.window_s

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.per_op.values())

    @property
    def ok(self) -> bool:
        """No error reply (warm-up included), no request unanswered, no connection lost."""
        errors_total = sum(r.errors_total for r in self.per_op.values())
        return errors_total == 0 and self.unanswered == 0 and self.connection_errors == 0

    def latency(self) -> Histogram:
        """Every operation's latencies together."""
        total = Histogram()
        for op_result in self.per_op.values():
            total.merge(op_result.latency)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "loop": self.loop,
            "window_s": self.window_s,
            "ops": self.ops,
            "ops_per_s": self.ops_per_s,
            "errors": self.errors,
            "ok": self.ok,
            "per_op": {name: r.to_json() for name, r in self.per_op.items()},
            "series": [asdict(sample) for sample in self.series],
            "unanswered": self.unanswered,
            "connection_errors": self.connection_errors,
            "error_messages": list(self.error_messages),
            **({} if self.per_node is None else {"per_node": self.per_node}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(
            spec=LoadSpec.from_json(data["spec"]),
            loop=data["loop"],
            window_s=data["window_s"],
            per_op={name: OpResult.from_json(r) for name, r in data["per_op"].items()},
            series=tuple(SecondSample(**sample) for sample in data["series"]),
            unanswered=data["unanswered"],
            connection_errors=data["connection_errors"],
            error_messages=tuple(data["error_messages"]),
            per_node=data.get("per_node"),
        )
