"""The embedding API: a `StateMachine` base class, `@replicated` and `@linearizable` methods,
and a thread facade for programs that are not asyncio.

    class Counter(StateMachine):
        def __init__(self) -> None:
            self.value = 0

        @replicated
        def add(self, n: int) -> int:
            self.value += n
            return self.value

        @linearizable
        def get(self) -> int:
            return self.value

    counter = Counter()
    node = Node(counter, id=1, peers={1: "127.0.0.1:7001", ...}, data_dir="data/1")
    await node.start()
    await counter.add(5)          # replicated: returns once committed and applied here
    await counter.get()           # after a ReadIndex round: linearizable
    counter.get.stale()           # this node's state now (may lag the leader)

From a thread while the node runs in a `NodeThread`: `counter.add.sync(5)`.

Calls are encoded with msgpack (never pickle): arguments and results must be msgpack types
(None, bool, int, float, str, bytes, list, tuple (arrives as a list), dict). Every node runs
`apply` on every command, so methods must be deterministic: no clocks, no randomness, no I/O
(pass such values in as arguments). The keywords `timeout` and `request_id` are reserved on
replicated methods: `await counter.add(5, request_id="order-17")` runs at most once among all
calls naming "order-17", so a call that raised `CallTimeout` can be retried safely with the
same id (docs/exactly-once.md).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgpack

from senate._core import SenateError, SnapshotData
from senate.runtime.loop import new_event_loop

if TYPE_CHECKING:
    from senate.runtime.node import Node

R = TypeVar("R")
SM = TypeVar("SM", bound="StateMachine")


class NotAttached(SenateError):
    """The state machine is not attached to a running node."""


class UnknownCommand(SenateError):
    """A command named a method that is not `@replicated` on this state machine."""


def encode_call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb((name, args, kwargs) if kwargs else (name, args))
    return data


class StateMachine:
    """Base class of replicated state machines.

    `apply(command)` runs on every node, in log order, for every committed command;
    `snapshot()` and `restore(data)` turn the whole state into bytes and back (used to compact
    the log and to catch up a lagging node). The defaults dispatch `@replicated` methods and
    snapshot the instance's attributes with msgpack (attributes whose names start with `_`
    are left out); override them for other state. A large state restores off the loop by
    overriding `prepare_restore` and `finish_restore` instead of `restore`.
    """

    _senate_node: Node | None = None
    _senate_slot: int = 0
    _senate_commands: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        commands: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                if isinstance(attr, replicated):
                    commands[name] = attr.func
        cls._senate_commands = commands

    def _senate_attach(self, node: Node, slot: int) -> None:
        if self._senate_node is not None and self._senate_node is not node:
            raise SenateError("this state machine is attached to another node")
        self._senate_node = node
        self._senate_slot = slot

    @property
    def node(self) -> Node:
        if self._senate_node is None:
            raise NotAttached("the state machine is not attached to a node")
        return self._senate_node

    def apply(self, command: bytes) -> Any:
        call = msgpack.unpackb(command)
        name = call[0]
        func = self._senate_commands.get(name)
        if func is None:
            raise UnknownCommand(f"{type(self).__name__} has no replicated method {name!r}")
        if len(call) == 3:
            return func(self, *call[1], **call[2])
        return func(self, *call[1])

    def snapshot(self) -> bytes:
        state = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        data: bytes = msgpack.packb(state)
        return data

    def capture(self) -> Callable[[], bytes] | None:
        """The state as it is now, for a snapshot taken while this machine goes on applying:
        a function, called later in a worker thread, that returns what `snapshot()` returns
        now. `None` (the default) when the state cannot be copied cheaply: the node then
        calls `snapshot()` in a worker thread and applies nothing until it returns."""
        return None

    def restore(self, data: bytes) -> None:
        for k in [k for k in vars(self) if not k.startswith("_")]:
            delattr(self, k)
        vars(self).update(msgpack.unpackb(data, strict_map_key=False))

    def prepare_restore(self, part: SnapshotData) -> Any:
        """The first half of replacing the state with a snapshot from the leader, run in a
        worker thread while the node goes on (and this machine may be read on the loop):
        build the new state from `part` (this machine's `snapshot()` bytes, shared with the
        node without a copy; `bytes(part)` copies them) into a new object and return it,
        changing nothing the loop sees. `finish_restore` then puts it in place on the loop.
        The default returns `bytes(part)` for `finish_restore` to hand to `restore`, so a
        machine that overrides only `restore` is restored on the loop, as before."""
        return bytes(part)

    def finish_restore(self, prepared: Any) -> None:
        """The second half, on the loop: put in place what `prepare_restore` returned. Keep
        it cheap (swap a reference): the node answers nothing meanwhile. The default calls
        `restore(prepared)`."""
        self.restore(prepared)


def _run_sync(node: Node, make: Callable[[], Awaitable[R]], timeout: float | None) -> R:
    """Runs `make()` on the node's loop from another thread and waits for its result."""
    loop = node.loop
    if loop is None or not loop.is_running():
        raise NotAttached(f"node {node.id} has no running loop")
    if threading.get_ident() == getattr(loop, "_thread_id", None):
        raise RuntimeError("a blocking call from the node's own loop would deadlock: await it")

    async def run() -> R:
        return await make()

    wait_s = None if timeout is None else timeout + 1.0  # the call's own timeout fires first
    return asyncio.run_coroutine_threadsafe(run(), loop).result(wait_s)


class replicated(Generic[R]):
    """Marks a method of a `StateMachine` as a replicated command.

    Calling it on an attached instance proposes the call and returns an awaitable of its
    result on this node once committed and applied; `.sync(...)` blocks instead (from a
    thread other than the node's loop). Both take a keyword `timeout` in seconds (the node's
    `call_timeout_s` by default) and raise `CallTimeout` when it passes, and a keyword
    `request_id` (str or bytes): the call then runs at most once among all calls naming that
    id, so the one that timed out can be retried with it (`Node.propose`).
    """

    def __init__(self, func: Callable[..., R]) -> None:
        for reserved in ("timeout", "request_id"):
            if reserved in inspect.signature(func).parameters:
                raise TypeError(
                    f"{func.__name__}: the keyword {reserved!r} is reserved by @replicated"
                )
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, obj: StateMachine | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return BoundReplicated(self, obj)


class BoundReplicated(Generic[R]):
    __slots__ = ("_method", "_sm")

    def __init__(self, method: replicated[R], sm: StateMachine) -> None:
        self._method = method
        self._sm = sm

    def __call__(
        self,
        *args: Any,
        timeout: float | None = None,
        request_id: str | bytes | None = None,
        **kwargs: Any,
    ) -> Awaitable[R]:
        sm = self._sm
        node = sm.node
        command = encode_call(self._method.name, args, kwargs)
        fut: Awaitable[R] = node.propose(command, sm._senate_slot, timeout, request_id)
        return fut

    def sync(
        self,
        *args: Any,
        timeout: float | None = None,
        request_id: str | bytes | None = None,
        **kwargs: Any,
    ) -> R:
        node = self._sm.node
        wait_s = node.config.call_timeout_s if timeout is None else timeout
        return _run_sync(
            node, lambda: self(*args, timeout=timeout, request_id=request_id, **kwargs), wait_s
        )


class linearizable(Generic[R]):
    """Marks a read-only method of a `StateMachine`.

    Calling it returns an awaitable that runs the method after a ReadIndex round (so it sees
    every write committed before the call); `.sync(...)` blocks instead; `.stale(...)` runs
    it at once on this node's state (fast, possibly behind the leader). The method must not
    change the state: it runs on one node only.
    """

    def __init__(self, func: Callable[..., R]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: StateMachine | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return BoundRead(self.func, obj)


class BoundRead(Generic[R]):
    __slots__ = ("_func", "_sm")

    def __init__(self, func: Callable[..., R], sm: StateMachine) -> None:
        self._func = func
        self._sm = sm

    def __call__(
        self, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, R]:
        return self._read(args, kwargs, timeout)

    async def _read(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> R:
        await self._sm.node.read_barrier(timeout)
        return self._func(self._sm, *args, **kwargs)

    def sync(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> R:
        node = self._sm.node
        wait_s = node.config.call_timeout_s if timeout is None else timeout
        return _run_sync(node, lambda: self._read(args, kwargs, timeout), wait_s)

    def stale(self, *args: Any, **kwargs: Any) -> R:
        return self._func(self._sm, *args, **kwargs)


class NodeThread:
    """Runs a `Node` on its own event loop in a background thread, for threaded programs.

    thread = NodeThread(node)
    thread.start()            # returns once the node is serving
    counter.add.sync(1)
    thread.stop()
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.loop = new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name=f"senate-node-{node.id}", daemon=True
        )
        self._started = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.node.start())
        except BaseException as e:
            self._error = e
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise TimeoutError("the node did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self, timeout_s: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(timeout_s)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)

    def __enter__(self) -> NodeThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
