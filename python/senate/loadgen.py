"""The load generator behind `senate bench`: GET and SET over RESP2 against a set of endpoints.

`clients` connections are spread round robin over the endpoints; each keeps `pipeline`
requests in flight (a window, refilled as replies arrive, rather than redis-benchmark's
send-16-wait-for-16), for a warm-up and then for `duration_s` measured seconds. Requests are
GET (a read) and SET (a write) on keys `key:%012d` (redis-benchmark's `-r` keys), the key
index drawn uniformly from `[0, keys)` by a per-connection RNG seeded from `seed`.

The ratio is written `READS:WRITES`: "1:1" alternates GET and SET, "0:1" is SET only, "1:0"
GET only, "1:9" one GET for every nine SETs; each connection walks that pattern in order, so
the mix is exact (memtier_benchmark's `--ratio` is the other way round, SET:GET).

With `client="senate"` the load goes through one `senate.Client` given every endpoint
instead: `clients` coroutines share it, each with one call at a time (so `pipeline` must be
1), writes going to the leader and reads too, unless `stale` (reads then go to the followers,
spread by the client's `balancer`). One shared client is what an application runs: one
heartbeat and failure detector per node, and a balancer that sees every read in flight (one
client per coroutine would multiply the PINGs and INFOs, and balance nothing). It has
`clients` connections per node, so no call waits for a connection. The pattern, keys and
values are the same as over raw connections; a call that raises (the command's own error
reply, or the client's `ClientError` at its deadline) counts as an error reply.

Measured: every reply received in the window, by operation: its latency from the send of its
request to the arrival of the chunk holding its reply (replies come in order on a
connection), error replies (a benchmark with errors is not a good benchmark: they are counted
and reported, and `LoadResult.ok` is false), and a per-second series. Replies to requests
sent during the warm-up or received after the window are counted in the `*_total` figures
only, which after the final drain equal what the server answered. The window's replies are
also counted by the endpoint that sent them (`LoadResult.per_node`): over raw connections the
endpoint each connection is to (a follower forwards writes to the leader), through
`senate.Client` the node the client sent the call to and that answered it.

Run it in its own process, away from the cluster it measures: `python -m senate.loadgen_process
--endpoints ... ` writes JSON lines on stdout (`{"type": "progress", ...}` about every 0.25 s,
then one `{"type": "result", ...}`, or `{"type": "error", "message": ...}` and exit status
1); `senate.loadgen_process` holds that command line and `run_load_subprocess`, which runs
it and reads them. `run_load` runs in this process.

Progress marks the window's edges: its first "measure" report is sent in the event loop's
step that starts the window (ops 0), and one "drain" report in the step that ends it (ops:
the window's, final), before the replies in flight are awaited. A parent reading them can
sample something at the window's edges, late only by the pipe (`senate bench` reads the
nodes' CPU time there).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import cast

from senate.client import DEFAULT_BALANCER, Client, ClientError
from senate.histogram import Histogram
from senate.loadspec import (
    GET,
    OP_NAMES,
    SET,
    LoadResult,
    LoadSpec,
    OpResult,
    Progress,
    SecondSample,
    parse_endpoint,
)
from senate.resp import RespProtocolError, count_replies, error_flags, error_texts
from senate.status import encode_command

__all__ = [
    "LoadError",
    "count_replies",
    "run_load",
    "run_load_async",
]

#: The most bytes of a reply not yet complete a connection buffers before it gives up.
MAX_PARTIAL_REPLY_BYTES = 64 << 20
#: The most connection error messages a result keeps (the count is kept in full).
MAX_ERROR_MESSAGES = 10

#: Seconds between progress reports; four ticks make a second of the series.
TICK_S = 0.25
TICKS_PER_SECOND = 4
#: A series sample shorter than this (the end of a window just after a second) is folded into
#: the sample before it (its counts and length; the percentiles stay that sample's), so the
#: series always counts every reply of the window.
MIN_SAMPLE_S = 0.05
CONNECT_TIMEOUT_S = 10.0
#: How long the replies to the requests in flight at the end of the window are awaited.
DRAIN_TIMEOUT_S = 10.0

_KEY_PREFIX = b"key:"
_KEY_DIGITS = 12


class LoadError(Exception):
    """The load could not be run: no connection, a protocol error, a failed subprocess."""


# --- the run ---------------------------------------------------------------------------------


class _Run:
    """The state the connections of one run share; only the event loop's thread touches it."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.pattern = spec.pattern()
        self.value = value = b"x" * spec.value_size
        key_header = b"$%d\r\n%s" % (len(_KEY_PREFIX) + _KEY_DIGITS, _KEY_PREFIX)
        # A request is head + the key's 12 digits + tail (see `_Connection.send`).
        self.templates: tuple[tuple[bytes, bytes], ...] = (
            (b"*2\r\n$3\r\nGET\r\n" + key_header, b"\r\n"),
            (b"*3\r\n$3\r\nSET\r\n" + key_header, b"\r\n$%d\r\n%s\r\n" % (len(value), value)),
        )
        self.sending = True
        self.recording = False
        self.interval = [Histogram(), Histogram()]  # the window's current second, by op
        self.window = [Histogram(), Histogram()]  # the window's completed seconds, by op
        self.interval_errors = [0, 0]
        self.window_errors = [0, 0]
        self.replies_total = [0, 0]
        self.errors_total = [0, 0]
        self.outstanding = 0  # requests sent and not answered, over all connections
        self.drained = asyncio.Event()  # set when sending is over and outstanding == 0
        self.open_connections = 0
        self.connection_errors = 0
        self.unanswered = 0  # requests of lost connections
        self.error_messages: list[str] = []  # len <= MAX_ERROR_MESSAGES
        self.series: list[SecondSample] = []
        #: Replies so far by endpoint, read at the window's edges: the counts must move in
        #: the same step of the event loop as the reply is recorded, so the difference is
        #: exactly the window's replies.
        self.replies_by_node: Callable[[], dict[str, int]] | None = None
        self._replies_by_node_at_start: dict[str, int] = {}
        self.per_node: dict[str, int] | None = None  # the window's, once it is over

    def window_ops(self) -> int:
        return sum(h.count for h in self.window) + sum(h.count for h in self.interval)

    def start_window(self) -> None:
        self.recording = True
        if self.replies_by_node is not None:
            self._replies_by_node_at_start = self.replies_by_node()

    def end_window(self) -> None:
        self.recording = False
        if self.replies_by_node is not None:
            start = self._replies_by_node_at_start
            self.per_node = {
                node: replies - start.get(node, 0)
                for node, replies in self.replies_by_node().items()
            }

    def note_error(self, message: str) -> None:
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            self.error_messages.append(message)

    def connection_failed(self, message: str, unanswered: int) -> None:
        self.connection_errors += 1
        self.note_error(message)
        self.unanswered += unanswered
        self.answered(unanswered)

    def call_done(self, op: int, latency_s: float, error: BaseException | None) -> None:
        """Accounts one call made through `senate.Client` (a request and its reply)."""
        self.replies_total[op] += 1
        if self.recording:
            self.interval[op].record(latency_s)
        if error is not None:
            self.errors_total[op] += 1
            if self.recording:
                self.interval_errors[op] += 1
            self.note_error(f"{OP_NAMES[op].upper()}: {type(error).__name__}: {error}")
        self.answered(1)

    def answered(self, requests: int) -> None:
        self.outstanding -= requests
        assert self.outstanding >= 0, self.outstanding
        if self.outstanding == 0 and not self.sending:
            self.drained.set()

    def stop_sending(self) -> None:
        self.sending = False
        if self.outstanding == 0:
            self.drained.set()

    def end_second(self, t_s: float, seconds: float) -> None:
        """Closes the current second of the window: a series sample, then into the window."""
        names = self.spec.op_names()
        codes = [OP_NAMES.index(name) for name in names]
        if seconds < MIN_SAMPLE_S and self.series:
            last = self.series[-1]
            self.series[-1] = dataclasses.replace(
                last,
                seconds=last.seconds + seconds,
                ops={OP_NAMES[c]: last.ops[OP_NAMES[c]] + self.interval[c].count for c in codes},
                errors={
                    OP_NAMES[c]: last.errors[OP_NAMES[c]] + self.interval_errors[c] for c in codes
                },
            )
        else:
            self.series.append(
                SecondSample(
                    t_s=t_s,
                    seconds=seconds,
                    ops={OP_NAMES[c]: self.interval[c].count for c in codes},
                    errors={OP_NAMES[c]: self.interval_errors[c] for c in codes},
                    p50_ms={OP_NAMES[c]: self.interval[c].percentile(50) * 1e3 for c in codes},
                    p99_ms={OP_NAMES[c]: self.interval[c].percentile(99) * 1e3 for c in codes},
                )
            )
        for code in (GET, SET):
            self.window[code].merge(self.interval[code])
            self.window_errors[code] += self.interval_errors[code]
        self.interval = [Histogram(), Histogram()]
        self.interval_errors = [0, 0]

    def result(self, loop_name: str, window_s: float) -> LoadResult:
        per_op = {}
        for name in self.spec.op_names():
            code = OP_NAMES.index(name)
            per_op[name] = OpResult(
                op=name,
                ops=self.window[code].count,
                errors=self.window_errors[code],
                ops_per_s=self.window[code].count / window_s,
                latency=self.window[code],
                replies_total=self.replies_total[code],
                errors_total=self.errors_total[code],
            )
        return LoadResult(
            spec=self.spec,
            loop=loop_name,
            window_s=window_s,
            per_op=per_op,
            series=tuple(self.series),
            unanswered=self.unanswered + self.outstanding,
            connection_errors=self.connection_errors,
            error_messages=tuple(self.error_messages),
            per_node=self.per_node,
        )


class _Connection(asyncio.Protocol):
    """One client connection: keeps `pipeline` requests in flight while the run is sending."""

    def __init__(self, run: _Run, index: int) -> None:
        self._run = run
        self.endpoint = run.spec.endpoints[index % len(run.spec.endpoints)]
        self.replies = 0  # every reply so far
        self._rng = random.Random(f"{run.spec.seed}:{index}")
        self._pattern_index = index % len(run.pattern)  # spreads the ops over connections
        self._sent_at: deque[float] = deque()  # perf_counter() at send, oldest first
        self._sent_ops: deque[int] = deque()  # len == len(_sent_at)
        self._rest = b""  # the start of a reply not complete yet
        self._transport: asyncio.Transport | None = None
        self._closing = False
        #: Set while the reply to AUTH is awaited (before any request is sent).
        self._auth_reply: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._run.open_connections += 1

    def start(self) -> None:
        self.send(self._run.spec.pipeline)

    def authenticate(self, command: bytes) -> asyncio.Future[None]:
        """Sends AUTH; the future is done at its +OK, or fails with LoadError."""
        assert self._transport is not None
        assert not self._sent_at, "AUTH goes first"
        self._auth_reply = asyncio.get_running_loop().create_future()
        self._transport.write(command)
        return self._auth_reply

    def _take_auth_reply(self, data: bytes) -> None:
        waiter = self._auth_reply
        assert waiter is not None
        data = self._rest + data
        try:
            replies, used, errors = count_replies(data)
        except RespProtocolError as error:
            self._auth_reply = None
            waiter.set_exception(LoadError(f"AUTH answered something not RESP: {error}"))
            return
        if not replies:
            self._rest = data
            return
        self._auth_reply, self._rest = None, data[used:]
        if errors:
            waiter.set_exception(LoadError(f"AUTH refused: {error_texts(data, 1)[0]}"))
        else:
            waiter.set_result(None)

    def send(self, requests: int) -> None:
        """Sends `requests` requests in one write."""
        run = self._run
        assert self._transport is not None
        pattern, templates = run.pattern, run.templates
        random_float, keys = self._rng.random, run.spec.keys
        out = bytearray()
        ops = self._sent_ops
        index = self._pattern_index
        for _ in range(requests):
            op = pattern[index]
            index = index + 1 if index + 1 < len(pattern) else 0
            head, tail = templates[op]
            out += head
            out += b"%012d" % int(random_float() * keys)  # uniform on [0, keys)
            out += tail
            ops.append(op)
        self._pattern_index = index
        self._sent_at.extend(repeat(time.perf_counter(), requests))
        run.outstanding += requests
        self._transport.write(out)

    def data_received(self, data: bytes) -> None:
        if self._auth_reply is not None:
            self._take_auth_reply(data)
            return
        if self._rest:
            data = self._rest + data
        try:
            replies, used, errors = count_replies(data)
            if replies > len(self._sent_at):
                raise RespProtocolError(f"{replies} replies to {len(self._sent_at)} requests")
        except RespProtocolError as error:
            self.fail(f"protocol error: {error}")
            return
        self._rest = data[used:]
        if len(self._rest) > MAX_PARTIAL_REPLY_BYTES:
            self.fail(f"a reply longer than {MAX_PARTIAL_REPLY_BYTES} bytes")
            return
        if replies:
            if errors:
                for text in error_texts(data, replies):
                    self._run.note_error(f"error reply: {text}")
            self._answered(replies, error_flags(data, replies) if errors else None)
            if self._run.sending:
                self.send(replies)

    def _answered(self, replies: int, error_flags: list[bool] | None) -> None:
        """Accounts the replies to the `replies` oldest requests (`error_flags` if errors)."""
        now = time.perf_counter()
        run = self._run
        self.replies += replies
        next_sent_at, next_op = self._sent_at.popleft, self._sent_ops.popleft
        totals = run.replies_total
        if run.recording:
            histograms = run.interval
            for _ in range(replies):
                op = next_op()
                totals[op] += 1
                histograms[op].record(now - next_sent_at())
        else:
            for _ in range(replies):
                totals[next_op()] += 1
                next_sent_at()
        if error_flags is not None:
            self._count_errors(error_flags)
        run.answered(replies)

    def _count_errors(self, error_flags: list[bool]) -> None:
        # The ops have been popped; the ones answered were the ones before _sent_ops's head,
        # which `pattern` replays: walk it backwards from this connection's send position.
        run = self._run
        first = self._pattern_index - len(self._sent_ops) - len(error_flags)
        for offset, is_error in enumerate(error_flags):
            if is_error:
                op = run.pattern[(first + offset) % len(run.pattern)]
                run.errors_total[op] += 1
                if run.recording:
                    run.interval_errors[op] += 1

    def fail(self, message: str) -> None:
        """Gives up on this connection: its requests in flight are unanswered."""
        if self._closing:
            return
        self._closing = True
        self._run.connection_failed(message, len(self._sent_at))
        self._sent_at.clear()
        self._sent_ops.clear()
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._auth_reply is not None and not self._auth_reply.done():
            self._auth_reply.set_exception(LoadError(f"connection lost at AUTH: {exc}"))
        self._run.open_connections -= 1
        if not self._closing:
            self.fail(f"connection lost: {exc or 'closed by the server'}")


async def _connect(run: _Run) -> list[_Connection]:
    """`clients` connections, round robin over the endpoints, over TLS and authenticated as
    the spec's security says; LoadError if any fails."""
    loop = asyncio.get_running_loop()
    connections = [_Connection(run, index) for index in range(run.spec.clients)]
    security = run.spec.security
    context = security.ssl_context()
    auth = security.auth_args()
    auth_command = None if auth is None else encode_command(*auth)

    async def connect(index: int) -> None:
        host, port = parse_endpoint(connections[index].endpoint)
        server_hostname = host if context is not None else None
        await loop.create_connection(
            lambda: connections[index], host, port, ssl=context, server_hostname=server_hostname
        )
        if auth_command is not None:
            await connections[index].authenticate(auth_command)

    attempts = [connect(index) for index in range(len(connections))]
    outcomes = await asyncio.wait_for(
        asyncio.gather(*attempts, return_exceptions=True), CONNECT_TIMEOUT_S
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        for connection in connections:
            connection.close()
        raise LoadError(f"{len(failures)} of {len(connections)} connections failed: {failures[0]}")
    return connections


async def _tick_until(
    run: _Run, anchor: float, until: float, on_tick: Callable[[int, float], None]
) -> None:
    """Calls `on_tick(k, now)` at `anchor + k * TICK_S` for k = 1, 2, ... and at `until`.

    Returns early, after a tick, once every connection is lost.
    """
    tick = 0
    while True:
        tick += 1
        deadline = min(anchor + tick * TICK_S, until)
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        now = time.perf_counter()
        on_tick(tick, now)
        if now >= until or run.open_connections == 0:
            return


async def _clock(run: _Run, on_progress: Callable[[Progress], None] | None) -> float:
    """Runs the warm-up and the window; returns the window's length in seconds."""
    spec = run.spec
    start = time.perf_counter()
    total_s = spec.warmup_s + spec.duration_s

    def report(phase: str, now: float) -> None:
        if on_progress is not None:
            on_progress(Progress(now - start, total_s, run.window_ops(), phase))

    if spec.warmup_s > 0:
        await _tick_until(
            run, start, start + spec.warmup_s, lambda _tick, now: report("warmup", now)
        )
    window_start = time.perf_counter()
    run.start_window()
    report("measure", window_start)  # the window's start edge, in the same step
    second_start = window_start

    def on_tick(tick: int, now: float) -> None:
        nonlocal second_start
        if tick % TICKS_PER_SECOND == 0:
            run.end_second(second_start - window_start, now - second_start)
            second_start = now
        report("measure", now)

    await _tick_until(run, window_start, window_start + spec.duration_s, on_tick)
    window_end = time.perf_counter()
    run.end_window()
    run.end_second(second_start - window_start, window_end - second_start)
    report("drain", window_end)  # the window's end edge: nothing was answered since
    return window_end - window_start


async def _drain(run: _Run) -> None:
    """Stops sending; waits for the replies in flight, up to DRAIN_TIMEOUT_S."""
    run.stop_sending()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(run.drained.wait(), DRAIN_TIMEOUT_S)


async def run_load_async(
    spec: LoadSpec, on_progress: Callable[[Progress], None] | None = None
) -> LoadResult:
    """Runs `spec` on the running event loop; LoadError if it cannot connect (or, through
    `senate.Client`, finds no leader)."""
    run = _Run(spec)
    if spec.client == "senate":
        window_s = await _run_through_client(run, on_progress)
    else:
        window_s = await _run_over_connections(run, on_progress)
    loop_name = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    return run.result(loop_name, window_s)


async def _run_over_connections(run: _Run, on_progress: Callable[[Progress], None] | None) -> float:
    """The load over pipelined connections of its own; returns the window's length."""
    connections = await _connect(run)
    run.replies_by_node = lambda: _replies_by_endpoint(connections)
    try:
        for connection in connections:
            connection.start()
        window_s = await _clock(run, on_progress)
        await _drain(run)
    finally:
        for connection in connections:
            connection.close()
    return window_s


def _replies_by_endpoint(connections: list[_Connection]) -> dict[str, int]:
    replies: dict[str, int] = {}
    for connection in connections:
        replies[connection.endpoint] = replies.get(connection.endpoint, 0) + connection.replies
    return replies


# --- through senate.Client -------------------------------------------------------------------


async def _run_through_client(run: _Run, on_progress: Callable[[Progress], None] | None) -> float:
    """The load through one `senate.Client` shared by `clients` callers; returns the window's
    length. LoadError if the client cannot be made or finds no leader."""
    spec = run.spec
    balancer = spec.balancer or DEFAULT_BALANCER
    try:
        from redis.exceptions import ResponseError

        client = Client(
            spec.endpoints,
            balancer=balancer,
            max_connections_per_node=spec.clients,
            security=spec.security,
        )
    except (ImportError, ValueError) as error:
        raise LoadError(f"senate.Client: {error}") from error
    await client.start()
    try:
        try:
            await client.execute("PING", write=False)  # through the leader, once it is found
        except ClientError as error:
            raise LoadError(f"senate.Client: {error}") from error
        run.replies_by_node = lambda: {node.address: node.served for node in client.nodes()}
        run.open_connections = spec.clients
        loop = asyncio.get_running_loop()
        callers = [
            loop.create_task(_call_in_turn(run, client, index, ResponseError))
            for index in range(spec.clients)
        ]
        try:
            window_s = await _clock(run, on_progress)
            await _drain(run)
        finally:
            for caller in callers:
                caller.cancel()
            await asyncio.gather(*callers, return_exceptions=True)
    finally:
        await client.close()
    return window_s


async def _call_in_turn(
    run: _Run, client: Client, index: int, response_error: type[Exception]
) -> None:
    """Caller `index`: one call at a time while the run is sending, walking the pattern as
    connection `index` would. A call that raises anything but a command's error reply or a
    `ClientError` stops this caller (counted as a lost connection)."""
    spec = run.spec
    rng = random.Random(f"{spec.seed}:{index}")
    pattern, value, stale = run.pattern, run.value, spec.stale
    pattern_index = index % len(pattern)
    try:
        while run.sending:
            op = pattern[pattern_index]
            pattern_index = pattern_index + 1 if pattern_index + 1 < len(pattern) else 0
            key = b"%s%012d" % (_KEY_PREFIX, int(rng.random() * spec.keys))
            run.outstanding += 1
            sent_at = time.perf_counter()
            error: Exception | None = None
            try:
                if op == GET:
                    await client.get(key, stale=stale)
                else:
                    await client.set(key, value)
            except (ClientError, response_error) as e:
                error = e
            except Exception as e:
                run.connection_failed(f"caller {index}: {type(e).__name__}: {e}", 1)
                return
            run.call_done(op, time.perf_counter() - sent_at, error)
    finally:
        run.open_connections -= 1


def run_load(spec: LoadSpec, on_progress: Callable[[Progress], None] | None = None) -> LoadResult:
    """Runs `spec` on a new event loop (uvloop's when installed) in this thread."""
    from senate.runtime.loop import new_event_loop

    loop = new_event_loop()
    try:
        return loop.run_until_complete(run_load_async(spec, on_progress))
    finally:
        loop.close()
