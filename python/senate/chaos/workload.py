"""The clients of `senate chaos`: concurrent workers doing GET, SET, APPEND and INCR on a
small key space, through redis-py (one node at a time, moving on when it fails) and through
`senate.Client` (to the leader, with its own retries), recording every operation.

Registers (`r0`, `r1`, ...) get GET, SET and APPEND; counters (`c0`, ...) GET and INCR (an
INCR of a register's string would only be an error). Every SET value and APPEND token is
unique (`<client>:<n>;`), so a read names the writes it saw. Patient counters (`p0`, ...) get
INCRs from the `senate.Client` workers only, each retried by the client (with the same
session and sequence number: exactly once) until acknowledged, for up to
`PATIENT_TIMEOUT_S`; so their final values must equal their acknowledged INCRs.

Outcomes, as a checker must read them:
- `ok`: the reply arrived (its value is the output);
- `failed`: known not to have taken effect: a read that failed (reads change nothing), or a
  write refused before it was proposed (`BUSY`);
- `indeterminate`: a write whose reply never came, or came as an error after it may have been
  proposed (a timeout, a lost connection, `TRYAGAIN`): it may take effect later. Its client
  then continues under a new client id, as Jepsen retires a process that crashed, so that no
  client ever has two operations open.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from senate.runtime.transport import parse_host_port

#: Default number of register and counter keys.
DEFAULT_REGISTERS = 6
DEFAULT_COUNTERS = 2
#: Each worker's operations per second, at most (a think time follows each one): bounds the
#: history the checker searches.
DEFAULT_RATE_PER_CLIENT = 40.0
#: How long one operation may take before it is given up (indeterminate if a write).
DEFAULT_OP_TIMEOUT_S = 1.0
#: Default number of patient counter keys, and how long an INCR of one may take.
DEFAULT_PATIENT_COUNTERS = 1
PATIENT_TIMEOUT_S = 60.0
#: The operations kept, at most: a run that would record more stops its clients.
MAX_OPERATIONS = 1_000_000

WRITES = frozenset({"set", "append", "incr"})


@dataclass
class Operation:
    """One client operation. Times are ns since the run's start; `complete_ns` is None for
    an indeterminate one (it may take effect any time after its invocation)."""

    id: int
    client: int
    kind: str  # "get" | "set" | "append" | "incr"
    key: str
    value: str | None  # SET's value, APPEND's token
    output: str | int | None  # GET: the value (None: no key); APPEND: length; INCR: value
    invoke_ns: int
    complete_ns: int | None
    outcome: str  # "ok" | "failed" | "indeterminate"
    via: str  # "redis-py <host:port>" or "senate.Client"
    error: str | None = None


@dataclass
class Recorder:
    """The history, in invocation order of ids; shared by the workers of one loop."""

    origin_ns: int = field(default_factory=time.monotonic_ns)
    operations: list[Operation] = field(default_factory=list)
    _next_client: int = 0

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.origin_ns

    def new_client(self) -> int:
        self._next_client += 1
        return self._next_client

    def full(self) -> bool:
        return len(self.operations) >= MAX_OPERATIONS


@dataclass(frozen=True)
class WorkloadSpec:
    endpoints: tuple[str, ...]
    clients: int = 10
    registers: int = DEFAULT_REGISTERS
    counters: int = DEFAULT_COUNTERS
    patient_counters: int = DEFAULT_PATIENT_COUNTERS
    rate_per_client: float = DEFAULT_RATE_PER_CLIENT
    op_timeout_s: float = DEFAULT_OP_TIMEOUT_S
    seed: int = 0

    @property
    def keys(self) -> list[str]:
        return (
            [f"r{i}" for i in range(self.registers)]
            + [f"c{i}" for i in range(self.counters)]
            + [f"p{i}" for i in range(self.patient_counters)]
        )


def is_patient(key: str) -> bool:
    return key.startswith("p")


def draw_operation(
    rng: random.Random, spec: WorkloadSpec, exactly_once: bool = False
) -> tuple[str, str]:
    """(kind, key): half reads; registers get SET and APPEND, counters INCR, patient
    counters INCR from an `exactly_once` client only (reads from the others)."""
    key = rng.choice(spec.keys)
    if rng.random() < 0.5 or (is_patient(key) and not exactly_once):
        return "get", key
    if key.startswith(("c", "p")):
        return "incr", key
    return ("set" if rng.random() < 0.5 else "append"), key


def _decode(reply: Any) -> str | int | None:
    if isinstance(reply, bytes):
        return reply.decode()
    if reply is None or isinstance(reply, int | str):
        return reply
    raise TypeError(f"unexpected reply {reply!r}")


class Worker(ABC):
    """One client: draws operations and records them, until `stop` is set."""

    def __init__(self, number: int, spec: WorkloadSpec, recorder: Recorder) -> None:
        self.number = number
        self.spec = spec
        self.recorder = recorder
        self.rng = random.Random(spec.seed * 1_000_003 + number)
        self.client = recorder.new_client()
        self._written = 0

    async def run(self, stop: asyncio.Event) -> None:
        period_s = 1.0 / self.spec.rate_per_client
        loop = asyncio.get_running_loop()
        while not stop.is_set() and not self.recorder.full():
            started = loop.time()
            await self.one()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, started + period_s - loop.time()))

    async def one(self) -> Operation:
        kind, key = draw_operation(self.rng, self.spec, self.exactly_once)
        patient = kind == "incr" and is_patient(key)
        value = None
        if kind in ("set", "append"):
            self._written += 1
            value = f"{self.client}:{self._written};"
        args = [kind.upper(), key] + ([] if value is None else [value])
        op = Operation(
            id=len(self.recorder.operations),
            client=self.client,
            kind=kind,
            key=key,
            value=value,
            output=None,
            invoke_ns=self.recorder.now_ns(),
            complete_ns=None,
            outcome="indeterminate",
            via=self.via,
        )
        self.recorder.operations.append(op)
        try:
            timeout_s = PATIENT_TIMEOUT_S if patient else self.spec.op_timeout_s
            reply = await asyncio.wait_for(self.execute(args), timeout_s)
        except Exception as e:  # every failure is classified
            self._failed(op, e)
            await self.on_error()
        else:
            op.output = None if kind == "set" else _decode(reply)
            op.complete_ns = self.recorder.now_ns()
            op.outcome = "ok"
        return op

    def _failed(self, op: Operation, error: Exception) -> None:
        op.error = f"{type(error).__name__}: {error}"
        if op.kind not in WRITES or str(error).startswith("BUSY"):
            op.outcome = "failed"
            op.complete_ns = self.recorder.now_ns()
        else:  # it may still take effect: this client is retired, a new one goes on
            op.outcome = "indeterminate"
            self.client = self.recorder.new_client()

    # --- what a kind of client does -----------------------------------------------------
    via = "?"
    exactly_once = False  # whether its retries carry the same identity

    @abstractmethod
    async def execute(self, args: Sequence[str]) -> Any:
        """Sends one command (its args) through this kind of client; its reply."""

    async def on_error(self) -> None:
        """After a failed operation (a redis-py worker moves to the next node)."""
        return  # a senate.Client worker's client routes and reconnects by itself

    async def close(self) -> None:
        """Releases the worker's connections."""
        return  # a senate.Client worker's clients are closed by `run_workload`


class RedisPyWorker(Worker):
    """redis-py's asyncio client on one node at a time; after any error it drops the
    connection (a late reply must not answer the next command) and moves to the next node."""

    def __init__(self, number: int, spec: WorkloadSpec, recorder: Recorder) -> None:
        super().__init__(number, spec, recorder)
        import redis.asyncio

        self._redis_module = redis.asyncio
        self._endpoint = number % len(spec.endpoints)
        self._conn: Any = None

    @property
    def via(self) -> str:  # type: ignore[override]
        return f"redis-py {self.spec.endpoints[self._endpoint]}"

    async def execute(self, args: Sequence[str]) -> Any:
        if self._conn is None:
            host, port = parse_host_port(self.spec.endpoints[self._endpoint])
            self._conn = self._redis_module.Redis(
                host=host,
                port=port,
                socket_timeout=self.spec.op_timeout_s,
                socket_connect_timeout=self.spec.op_timeout_s,
                single_connection_client=True,
            )
        return await self._conn.execute_command(*args)

    async def on_error(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close_quietly(conn)
        self._endpoint = (self._endpoint + 1) % len(self.spec.endpoints)

    async def close(self) -> None:
        if self._conn is not None:
            await _close_quietly(self._conn)
            self._conn = None


class SenateClientWorker(Worker):
    """A caller of the `senate.Client`s shared by such workers (to the leader, with retries,
    exactly once): `client` times out after the operation timeout, `patient` after
    `PATIENT_TIMEOUT_S` (for the patient counters)."""

    exactly_once = True

    via = "senate.Client"  # which node answered is the client's choice

    def __init__(
        self, number: int, spec: WorkloadSpec, recorder: Recorder, client: Any, patient: Any
    ) -> None:
        super().__init__(number, spec, recorder)
        self._client = client
        self._patient = patient

    async def execute(self, args: Sequence[str]) -> Any:
        kind, key = args[0], args[1]
        if kind == "GET":
            return await self._client.get(key)
        if kind == "INCR":
            return await (self._patient if is_patient(key) else self._client).incr(key)
        if kind == "SET":
            return await self._client.set(key, args[2])
        return await self._client.execute(*args, write=True)


async def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        await conn.aclose()


async def final_reads(spec: WorkloadSpec, recorder: Recorder, deadline_s: float) -> None:
    """Reads every key through the leader once the cluster healed, retrying each until it is
    answered or the deadline passes; recorded as operations of one more client."""
    from senate.client import Client

    client_id = recorder.new_client()
    async with Client(list(spec.endpoints), timeout_s=spec.op_timeout_s * 5) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        for key in spec.keys:
            while True:
                invoke = recorder.now_ns()
                try:
                    value = await client.get(key)
                except Exception:  # retried until the deadline
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
                    continue
                recorder.operations.append(
                    Operation(
                        id=len(recorder.operations),
                        client=client_id,
                        kind="get",
                        key=key,
                        value=None,
                        output=_decode(value),
                        invoke_ns=invoke,
                        complete_ns=recorder.now_ns(),
                        outcome="ok",
                        via="senate.Client (final read)",
                    )
                )
                break


async def run_workload(spec: WorkloadSpec, recorder: Recorder, stop: asyncio.Event) -> list[Worker]:
    """Runs `spec.clients` workers until `stop`: even-numbered ones through redis-py, odd
    ones through shared `senate.Client`s."""
    from senate.client import Client

    endpoints = list(spec.endpoints)
    async with (
        Client(endpoints, timeout_s=spec.op_timeout_s) as shared,
        Client(endpoints, timeout_s=PATIENT_TIMEOUT_S) as patient,
    ):
        workers: list[Worker] = [
            RedisPyWorker(n, spec, recorder)
            if n % 2 == 0
            else SenateClientWorker(n, spec, recorder, shared, patient)
            for n in range(spec.clients)
        ]
        try:
            await asyncio.gather(*(w.run(stop) for w in workers))
        finally:
            for worker in workers:
                await worker.close()
    return workers
