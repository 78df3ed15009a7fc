"""`Client`: an asyncio client of a senate key-value cluster (the RESP service of `senate
serve`), built on redis-py's asyncio client (`pip install 'senate[client]'`).

    async with Client(["10.0.0.1:7101", "10.0.0.2:7102", "10.0.0.3:7103"]) as c:
        await c.set("k", "v")
        await c.get("k")               # linearizable, through the leader
        await c.get("k", stale=True)   # from a healthy follower's local state

Routing:

1. Writes and linearizable reads go to the leader. The client learns it from `INFO senate` of
   the nodes (on start, every `LEADER_REFRESH_S`, and whenever the leader it knew fails it),
   trusting the highest term seen: a claim from an older term never replaces a newer one.
2. Stale reads (`stale=True`) go to a follower the balancer picks among the followers the
   detector considers up (the balancer's backends are the followers' node ids as strings; a
   key-hashing balancer hashes the read's first key). With no follower up they go to the leader.
3. A background task PINGs every node each `heartbeat_interval_s` (one PING in flight per node
   at most); each PONG feeds that node's failure detector. A node is down from the moment its
   connection fails or its detector gives up on it, and up again at its next PONG (with a fresh
   detector, so the outage is not learned as a heartbeat interval). Down nodes are skipped.

Retries. An attempt that fails with a connection error, a timeout, or a `TRYAGAIN`,
`CLUSTERDOWN`, `MASTERDOWN` or `BUSY` reply makes the node suspect (a connection error marks it
down; a suspect leader is forgotten and rediscovered); the call is retried with exponential
backoff (`BACKOFF_INITIAL_S` doubling to `BACKOFF_MAX_S`) until its deadline, `timeout_s`
after it started; then it raises `NoLeader` (no leader could be found) or `ClientError`. One
attempt gets at most half of `timeout_s`, so a leader that stopped committing leaves time for
a retry elsewhere. Any other error reply is the command's own (`WRONGTYPE ...`, `ERR value is
not an integer ...`) and is raised at once as `redis.ResponseError`, never retried.

**Writes are exactly once** (`exactly_once=True`, the default). The client opens a session
through the log on its first write, numbers its writes, and sends each inside `SENATE.EXEC`
with its session and number; a retry after a lost connection, a timeout or a leader change
carries the same numbers, and the store answers it with the reply it kept instead of
applying it again (`senate.client_session`, docs/exactly-once.md). So a retried INCR counts
once. A write that raises `ClientError` at its deadline may or may not have been applied
(as with any system); a late copy of it is refused once a later write of the client has
reached the store. If the store expired the session (idle for an hour of log time, or pushed
out by the bounds on sessions and kept replies), a write whose first attempt learns it is
sent again in a new session; one that learns it on a retry raises `SessionExpired` (its
outcome is unknown). With `exactly_once=False` writes are at least once: a retry may apply
a write twice, as with a plain Redis client.

Connections: per node, one connection for PING and INFO (`single_connection_client`, so
heartbeats never wait behind commands), a pool for writes and linearizable reads, and a pool
for stale reads whose every connection sends `READONLY` right after connecting (redis-py's
`redis_connect_func` hook, the one its own cluster client uses for this: a pooled connection
that reconnects is READONLY again, whichever pool size). Both pools are
`redis.asyncio.BlockingConnectionPool`s of `max_connections_per_node` connections: a call
waits for a free connection within its deadline rather than opening more. redis-py's own
retries are off; this client retries. Every connection speaks TLS and authenticates
first (`AUTH [user] password`) as the client's `security` (a `ClientSecurity`) says.

Limits, all named: at most `MAX_ENDPOINTS` endpoints, `max_connections_per_node` connections
per pool, `max_calls_in_flight` calls at once (one more raises `ClientOverloaded`), one PING
per node and one leader discovery in flight at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol, TypeAlias

from senate._core import NoBackendAvailable, SenateError
from senate.balance import Balancer, Key, Request
from senate.client_session import (
    MAX_WRITES_IN_FLIGHT_PER_SESSION,
    WRITE_COMMANDS,
    WriteSession,
    error_code,
)
from senate.routing import (
    DEFAULT_BALANCER,
    ClusterView,
    NodeState,
    NodeView,
    balancer_class,
    balancer_names,
    choose_leader,
    detector_factory,
)
from senate.runtime.transport import parse_host_port
from senate.security.client_security import ClientSecurity
from senate.status import SenateInfo

__all__ = [
    "BACKOFF_INITIAL_S",
    "BACKOFF_MAX_S",
    "DEFAULT_BALANCER",
    "DEFAULT_MAX_CALLS_IN_FLIGHT",
    "DEFAULT_MAX_CONNECTIONS_PER_NODE",
    "LEADER_REFRESH_S",
    "MAX_ENDPOINTS",
    "RETRYABLE_CODES",
    "Client",
    "ClientError",
    "ClientOverloaded",
    "ClientSecurity",
    "ClusterView",
    "NoLeader",
    "NodeView",
    "SessionExpired",
    "balancer_class",
    "balancer_names",
    "choose_leader",
    "detector_factory",
    "is_retryable_reply",
]

log = logging.getLogger("senate.client")

#: Endpoints one client knows, at most.
MAX_ENDPOINTS = 99
#: Connections in each of a node's two pools (commands; stale reads), by default.
DEFAULT_MAX_CONNECTIONS_PER_NODE = 16
#: Calls in progress at once, by default; one more raises `ClientOverloaded`.
DEFAULT_MAX_CALLS_IN_FLIGHT = 10_000
#: Pause before the first retry of a call; doubles per retry up to `BACKOFF_MAX_S`.
BACKOFF_INITIAL_S = 0.01
BACKOFF_MAX_S = 0.2
#: The leader and roles are asked again this often even when nothing failed.
LEADER_REFRESH_S = 1.0
#: Connect timeout of one connection (capped by the call timeout).
CONNECT_TIMEOUT_S = 1.0
#: Timeout of one INFO during leader discovery (capped by the call timeout).
INFO_TIMEOUT_S = 1.0
#: How long `close` tries to close the write session before leaving it to expire.
SESSION_CLOSE_TIMEOUT_S = 1.0
#: Error codes (the first word of an error reply) that mean "not now, try again".
RETRYABLE_CODES = frozenset({"TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "BUSY", "LOADING"})

Value: TypeAlias = bytes | str | int | float


# --- errors ----------------------------------------------------------------------------------


class ClientError(SenateError):
    """A call could not be completed before its deadline. `command` is its name, `attempts`
    the attempts sent, `last_error` what the last one met (None when no node was tried)."""

    def __init__(
        self, message: str, command: str, attempts: int, last_error: BaseException | None
    ) -> None:
        super().__init__(message)
        self.command = command
        self.attempts = attempts
        self.last_error = last_error


class NoLeader(ClientError):
    """No leader could be found before the call's deadline (an election that does not end,
    a minority of the nodes reachable)."""


class ClientOverloaded(ClientError):
    """`max_calls_in_flight` calls are already in progress."""


class SessionExpired(ClientError):
    """The store expired the client's session while a write was being retried: whether that
    write was applied is unknown. The client's next write opens a new session."""


@dataclass
class _Tally:
    """Attempts of one call that reached a node."""

    sent: int = 0


class _AttemptFailed(Exception):
    """One attempt failed in a way worth retrying; `error` is None when no node was tried."""

    def __init__(self, error: BaseException | None) -> None:
        super().__init__(error)
        self.error = error


def is_retryable_reply(error: Exception) -> bool:
    """Whether an error reply means "not now" (no leader, overloaded) rather than "this
    command is wrong"."""
    redis = _import_redis()
    if isinstance(error, redis.exceptions.TryAgainError | redis.exceptions.ClusterDownError):
        return True  # redis-py strips the code off the message of the errors it knows
    code = str(error).split(" ", 1)[0]
    return code in RETRYABLE_CODES


# --- the asyncio shell -----------------------------------------------------------------------


def _import_redis() -> ModuleType:
    try:
        import redis.asyncio
        import redis.exceptions
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "senate.Client needs redis-py: pip install 'senate[client]' (or redis>=5.0.1)"
        ) from e
    return redis


async def _readonly_on_connect(connection: Any) -> None:
    """redis-py's connect hook for the stale-read pools: every new connection is READONLY."""
    await connection.on_connect()
    await connection.send_command("READONLY")
    reply = await connection.read_response()
    if reply not in (b"OK", "OK"):
        raise _import_redis().exceptions.ConnectionError(f"READONLY answered {reply!r}")


class _Redis(Protocol):
    """The part of `redis.asyncio.Redis` used here (its `execute_command` is untyped)."""

    #: redis-py's reply parsers by command name.
    response_callbacks: Mapping[str, Callable[..., Any]]

    async def execute_command(self, *args: Any, **options: Any) -> Any: ...
    async def aclose(self) -> None: ...


def _log_crash(task: asyncio.Task[None]) -> None:
    """A heartbeat loop that ended other than by cancellation is a bug: say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the heartbeat task crashed: no failure detection", exc_info=task.exception())


@dataclass
class _Connections:
    #: PING and INFO, on one connection of its own.
    control: _Redis
    #: Writes and linearizable reads.
    commands: _Redis
    #: Stale reads: every connection is READONLY.
    stale: _Redis

    async def aclose(self) -> None:
        for r in (self.control, self.commands, self.stale):
            with contextlib.suppress(Exception):
                await r.aclose()


class Client:
    """A client of a senate cluster that knows its nodes; see the module documentation.

    `endpoints` are the nodes' client addresses ("host:port"). `balancer` spreads stale
    reads: a snake_case name of a `senate.balance` class or the class. `detector` is "phi"
    (phi accrual) or "timeout" (a fixed timeout), tuned to `heartbeat_interval_s`.
    `timeout_s` is the deadline of each call, retries included. `exactly_once` (default
    True) runs writes in a session so that retries never apply one twice (see the module
    documentation). `security` says how to connect: TLS (the CA, a client certificate) and
    credentials (AUTH on every connection), as redis-py's `ssl_*`, `username` and
    `password`. Use it as an async context manager (or `start()` and `close()`), from
    one event loop.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        balancer: str | type[Balancer] = DEFAULT_BALANCER,
        detector: Literal["phi", "timeout"] = "phi",
        heartbeat_interval_s: float = 0.2,
        timeout_s: float = 5.0,
        max_connections_per_node: int = DEFAULT_MAX_CONNECTIONS_PER_NODE,
        max_calls_in_flight: int = DEFAULT_MAX_CALLS_IN_FLIGHT,
        exactly_once: bool = True,
        security: ClientSecurity | None = None,
    ) -> None:
        self._redis = _import_redis()
        if not 1 <= len(endpoints) <= MAX_ENDPOINTS:
            raise ValueError(f"a client knows 1 to {MAX_ENDPOINTS} endpoints, not {len(endpoints)}")
        if len(set(endpoints)) != len(endpoints):
            raise ValueError(f"endpoints repeat: {list(endpoints)}")
        for address in endpoints:
            parse_host_port(address)  # raises ValueError naming a bad one
        if not heartbeat_interval_s > 0 or not timeout_s > 0:
            raise ValueError("heartbeat_interval_s and timeout_s must be positive")
        if max_connections_per_node < 1 or max_calls_in_flight < 1:
            raise ValueError("max_connections_per_node and max_calls_in_flight must be >= 1")
        self.endpoints = list(endpoints)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.timeout_s = timeout_s
        self.max_connections_per_node = max_connections_per_node
        self.max_calls_in_flight = max_calls_in_flight
        self.security = security or ClientSecurity()
        # panic_threshold=0: a follower marked down is never picked, whatever the others do.
        lb = balancer_class(balancer)([], panic_threshold=0.0)
        self._view = ClusterView(
            self.endpoints, detector_factory(detector, heartbeat_interval_s), lb
        )
        self._conns: list[_Connections] = []
        self._pings: list[asyncio.Task[None] | None] = [None] * len(self.endpoints)
        self._heartbeat: asyncio.Task[None] | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._last_discovery_s = float("-inf")
        #: The last connection error a discovery met (None: none yet), reported by NoLeader.
        self._discovery_error: BaseException | None = None
        self._calls_in_flight = 0
        self._closed = False
        self.exactly_once = exactly_once
        #: The session of the writes (None until the first write, or after it expired).
        self._session: WriteSession | None = None
        self._session_opening: asyncio.Lock | None = None

    # --- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Connects lazily, asks the nodes who leads (within `INFO_TIMEOUT_S`), starts the
        heartbeats. Returns even when no node answered: calls wait for one."""
        if self._conns or self._closed:
            raise RuntimeError("a client starts once")
        self._conns = [self._connect(address) for address in self.endpoints]
        loop = asyncio.get_running_loop()
        self._discovery = loop.create_task(self._discover_once())
        await asyncio.shield(self._discovery)
        self._heartbeat = loop.create_task(self._heartbeat_loop())
        self._heartbeat.add_done_callback(_log_crash)

    async def close(self) -> None:
        """Closes the write session (best effort, within `SESSION_CLOSE_TIMEOUT_S`: the
        store would expire it anyway), stops the heartbeats and closes the connections."""
        if self._session is not None and self._conns and not self._closed:
            session, self._session = self._session, None
            deadline = asyncio.get_running_loop().time() + SESSION_CLOSE_TIMEOUT_S
            close = ["SENATE.SESSION", "CLOSE", session.id]
            with contextlib.suppress(Exception):
                await self._call_until_deadline("SENATE.SESSION", close, False, None, deadline)
        self._closed = True
        tasks = [t for t in (self._heartbeat, self._discovery, *self._pings) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conns in self._conns:
            await conns.aclose()

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _connect(self, address: str) -> _Connections:
        aio = self._redis.asyncio
        host, port = parse_host_port(address)
        no_retry = self._redis.asyncio.retry.Retry(self._redis.backoff.NoBackoff(), 0)
        common: dict[str, Any] = {
            "host": host,
            "port": port,
            "socket_connect_timeout": min(CONNECT_TIMEOUT_S, self.timeout_s),
            "socket_timeout": self.timeout_s,
            "retry": no_retry,
            **self.security.redis_kwargs(),
        }
        tls = {"ssl": True} if self.security.tls else {}
        control = aio.Redis(single_connection_client=True, **common, **tls)
        control.set_response_callback("INFO", lambda response, **options: response)

        def pool(**extra: Any) -> _Redis:
            # timeout=None: waiting for a free connection is bounded by the call's deadline;
            # the pool's own timeout would raise a ConnectionError, taken for a dead node.
            if self.security.tls:
                extra["connection_class"] = aio.SSLConnection
            blocking = aio.BlockingConnectionPool(
                max_connections=self.max_connections_per_node, timeout=None, **common, **extra
            )
            client: _Redis = aio.Redis.from_pool(blocking)
            return client

        return _Connections(control, pool(), pool(redis_connect_func=_readonly_on_connect))

    # --- what the client knows ------------------------------------------------------------
    @property
    def leader(self) -> int | None:
        """The leader's node id as last discovered; None while unknown."""
        return self._view.leader

    def nodes(self) -> list[NodeView]:
        """Every endpoint, in the order given."""
        view = self._view
        return [
            NodeView(n.id, n.address, view.role(n), n.status, n.requests, n.served)
            for n in view.nodes
        ]

    # --- commands -------------------------------------------------------------------------
    async def set(
        self,
        key: Key,
        value: Value,
        *,
        ex: float | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """SET; False when NX or XX kept it from being set. `ex` is in seconds, `px` in ms."""
        if nx and xx:
            raise ValueError("nx and xx exclude each other")
        args: list[Any] = ["SET", key, value]
        if ex is not None:
            args += ["EX", ex]
        if px is not None:
            args += ["PX", px]
        if nx or xx:
            args.append("NX" if nx else "XX")
        return bool(await self._call(args, write=True))

    async def get(self, key: Key, *, stale: bool = False) -> bytes | None:
        reply: bytes | None = await self._call(["GET", key], write=False, stale=stale, key=key)
        return reply

    async def delete(self, *keys: Key) -> int:
        """DEL; the number of keys that existed."""
        return int(await self._call(["DEL", *keys], write=True))

    async def incr(self, key: Key) -> int:
        """INCR; applied once however often it is retried (unless `exactly_once=False`)."""
        return int(await self._call(["INCR", key], write=True))

    async def incrby(self, key: Key, amount: int) -> int:
        """INCRBY; applied once however often it is retried (unless `exactly_once=False`)."""
        return int(await self._call(["INCRBY", key, amount], write=True))

    async def mget(self, keys: Sequence[Key], *, stale: bool = False) -> list[bytes | None]:
        if not keys:
            return []
        reply: list[bytes | None] = await self._call(
            ["MGET", *keys], write=False, stale=stale, key=keys[0]
        )
        return reply

    async def mset(self, mapping: Mapping[Key, Value]) -> bool:
        if not mapping:
            raise ValueError("MSET needs at least one key")
        args: list[Any] = ["MSET"]
        for key, value in mapping.items():
            args += [key, value]
        return bool(await self._call(args, write=True))

    async def execute(self, *args: Any, write: bool, stale: bool = False) -> Any:
        """Any command. `write` sends it to the leader; a read is linearizable unless `stale`.
        The reply is what redis-py makes of it (its response callbacks apply)."""
        if not args:
            raise ValueError("no command")
        if write and stale:
            raise ValueError("a write cannot be stale")
        key = args[1] if len(args) > 1 and isinstance(args[1], str | bytes | int) else None
        return await self._call(list(args), write=write, stale=stale, key=key)

    # --- calls and retries ----------------------------------------------------------------
    async def _call(
        self, args: list[Any], *, write: bool, stale: bool = False, key: Key | None = None
    ) -> Any:
        if not self._conns or self._closed:
            raise RuntimeError("the client is not started, or closed")
        command = str(args[0]).upper()
        if self._calls_in_flight >= self.max_calls_in_flight:
            raise ClientOverloaded(
                f"{command}: {self.max_calls_in_flight} calls in flight already", command, 0, None
            )
        self._calls_in_flight += 1
        try:
            if write and self.exactly_once and command in WRITE_COMMANDS:
                return await self._write_once(command, args)
            return await self._call_until_deadline(command, args, stale and not write, key)
        finally:
            self._calls_in_flight -= 1

    async def _write_once(self, command: str, args: list[Any]) -> Any:
        """A write in the client's session: numbered once, retried with the same number."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        for renewal in range(2):
            session = await self._open_session(command, deadline)
            if session.in_flight >= MAX_WRITES_IN_FLIGHT_PER_SESSION:
                raise ClientOverloaded(
                    f"{command}: {session.in_flight} writes in flight in the session already",
                    command,
                    0,
                    None,
                )
            seq = session.number()
            tally = _Tally()
            try:
                reply = await self._call_until_deadline(
                    command, session.wrap(seq, args), False, None, deadline, tally
                )
            except self._redis.exceptions.ResponseError as e:
                if error_code(e) != "NOSESSION":
                    raise
                if self._session is session:
                    self._session = None  # the next write opens a new one
                if tally.sent == 1 and renewal == 0:
                    continue  # refused at once, never applied: number it anew
                raise SessionExpired(
                    f"{command}: the session expired while the write was retried "
                    f"({tally.sent} attempts); it may or may not have been applied",
                    command,
                    tally.sent,
                    e,
                ) from e
            finally:
                session.done(seq)
            # redis-py's response callbacks key on the command's name: apply the
            # wrapped command's (SET's reply b"OK" becomes True, as without a session).
            callback = self._conns[0].commands.response_callbacks.get(command)
            return reply if callback is None else callback(reply)
        raise AssertionError("unreachable: the second renewal raises or returns")

    async def _open_session(self, command: str, deadline: float) -> WriteSession:
        """The client's session, opened through the log if it has none (one at a time);
        a failure to open it is the failure of write `command`, by its deadline."""
        if self._session_opening is None:
            self._session_opening = asyncio.Lock()
        async with self._session_opening:
            if self._session is None:
                # A retried OPEN may open a second session: the first expires unused.
                reply = await self._call_until_deadline(
                    command, ["SENATE.SESSION", "OPEN"], False, None, deadline
                )
                self._session = WriteSession(int(reply))
                log.info("opened session %d", self._session.id)
            return self._session

    async def _call_until_deadline(
        self,
        command: str,
        args: list[Any],
        stale: bool,
        key: Key | None,
        deadline: float | None = None,
        tally: _Tally | None = None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.timeout_s
        backoff_s = BACKOFF_INITIAL_S
        attempts, last_error = 0, None
        while (remaining_s := deadline - loop.time()) > 0:
            try:
                if tally is not None:
                    tally.sent += 1
                return await self._attempt(args, stale, key, remaining_s)
            except _AttemptFailed as failed:
                attempts += failed.error is not None
                if tally is not None and failed.error is None:
                    tally.sent -= 1  # no node was tried
                last_error = failed.error or last_error
            await asyncio.sleep(max(0.0, min(backoff_s, deadline - loop.time())))
            backoff_s = min(2 * backoff_s, BACKOFF_MAX_S)
        # No node tried: what the discovery met (a refused password, a failed handshake).
        last_error = last_error or self._discovery_error
        why = f"{type(last_error).__name__}: {last_error}" if last_error else "no node to try"
        message = f"{command} not done within {self.timeout_s:g} s, {attempts} attempts ({why})"
        if self._view.leader is None:
            raise NoLeader(f"no leader found: {message}", command, attempts, last_error)
        raise ClientError(message, command, attempts, last_error)

    async def _attempt(
        self, args: list[Any], stale: bool, key: Key | None, remaining_s: float
    ) -> Any:
        """One attempt: a stale read to a follower the balancer picks, else to the leader
        (discovered first if unknown). Raises `_AttemptFailed` to be retried, or the
        command's own error."""
        attempt_s = min(remaining_s, self.timeout_s / 2)
        if stale:
            # The balancer raises NoBackendAvailable when no follower is up: the leader serves.
            with contextlib.suppress(NoBackendAvailable), Request(self._view.balancer, key) as name:
                follower = self._view.by_id(int(name))
                assert follower is not None, f"the balancer picked unknown node {name}"
                return await self._send(follower, args, stale, attempt_s)
        node = self._view.write_target()
        if node is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await self._discover(remaining_s)
            node = self._view.write_target()
            if node is None:
                raise _AttemptFailed(None)
        return await self._send(node, args, stale, attempt_s)

    async def _send(self, node: NodeState, args: list[Any], stale: bool, timeout_s: float) -> Any:
        """Sends one attempt to `node`; a failure makes it suspect (a connection error, down)
        and raises `_AttemptFailed`."""
        errors = self._redis.exceptions
        conns = self._conns[node.index]
        node.requests += 1
        try:
            reply = await asyncio.wait_for(
                (conns.stale if stale else conns.commands).execute_command(*args), timeout_s
            )
        except errors.ResponseError as e:
            if not is_retryable_reply(e):
                node.served += 1
                raise
            self._suspect(node)
            raise _AttemptFailed(e) from e
        except (errors.ConnectionError, OSError) as e:
            self._log(self._view.failed(node.index, f"{type(e).__name__}: {e}"))
            raise _AttemptFailed(e) from e
        except (errors.TimeoutError, asyncio.TimeoutError) as e:
            self._suspect(node)
            raise _AttemptFailed(e) from e
        node.served += 1
        return reply

    def _suspect(self, node: NodeState) -> None:
        """`node` answered "not now" or not in time: if it was the leader, find it again."""
        if node.id is not None:
            self._view.forget_leader(node.id)

    # --- discovery and heartbeats ---------------------------------------------------------
    async def _discover(self, timeout_s: float) -> None:
        """Waits for a leader discovery (starting one unless one is under way)."""
        self._start_discovery()
        assert self._discovery is not None
        await asyncio.wait_for(asyncio.shield(self._discovery), timeout_s)

    def _start_discovery(self) -> None:
        if self._discovery is None or self._discovery.done():
            self._discovery = asyncio.get_running_loop().create_task(self._discover_once())

    async def _discover_once(self) -> None:
        """Asks `INFO senate` of the nodes not down; takes the leader they name."""
        redis = self._redis
        loop = asyncio.get_running_loop()
        self._last_discovery_s = loop.time()
        targets = self._view.discovery_targets()
        timeout_s = min(INFO_TIMEOUT_S, self.timeout_s)
        replies = await asyncio.gather(
            *(
                asyncio.wait_for(
                    self._conns[n.index].control.execute_command("INFO", "senate"), timeout_s
                )
                for n in targets
            ),
            return_exceptions=True,
        )
        infos = []
        for node, reply in zip(targets, replies, strict=True):
            if isinstance(reply, redis.exceptions.ConnectionError | OSError):
                self._log(self._view.failed(node.index, f"{type(reply).__name__}: {reply}"))
                self._discovery_error = reply  # AuthenticationError is a ConnectionError
                continue
            if isinstance(reply, BaseException):
                if isinstance(reply, asyncio.CancelledError):
                    raise reply
                continue  # timed out or answered nonsense: the detector will tell
            try:
                info = SenateInfo.parse(reply.decode(errors="replace"))
            except (AttributeError, ValueError) as e:
                log.warning("node at %s answered INFO senate with no senate: %s", node.address, e)
                continue
            self._view.learn(node.index, info)
            infos.append(info)
        self._log(self._view.observe(infos))

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        while True:
            for node in self._view.nodes:
                task = self._pings[node.index]
                if task is None or task.done():
                    self._pings[node.index] = loop.create_task(self._ping(node))
            now_s = loop.time()
            for change in self._view.check(now_s * 1000.0):
                self._log(change)
            if self._view.needs_discovery() or now_s - self._last_discovery_s >= LEADER_REFRESH_S:
                self._start_discovery()
            # A late loop does not send a burst to catch up: it skips the missed beats.
            next_s = max(next_s + self.heartbeat_interval_s, loop.time())
            await asyncio.sleep(next_s - loop.time())

    async def _ping(self, node: NodeState) -> None:
        redis = self._redis
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                self._conns[node.index].control.execute_command("PING"), self.timeout_s
            )
        except (redis.exceptions.ConnectionError, OSError) as e:
            self._log(self._view.failed(node.index, f"{type(e).__name__}: {e}"))
        except (redis.exceptions.RedisError, asyncio.TimeoutError):
            pass  # no PONG: the detector counts the silence
        else:
            self._log(self._view.pong(node.index, loop.time() * 1000.0))

    @staticmethod
    def _log(change: str | None) -> None:
        if change is not None:
            log.info("%s", change, stacklevel=2)
