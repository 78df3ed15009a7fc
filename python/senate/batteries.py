"""Ready-made replicated state machines: a counter, a dict and a lock with a lease.

Attach one (or several: `Node([counter, table, locks], ...)`) to a node and call their
methods as for any `StateMachine`: `await counter.add(1)`, `counter.add.sync(1)` from a
thread, `await table.get("k")` (linearizable), `table.get.stale("k")` (local).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import msgpack

from senate.statemachine import StateMachine, linearizable, replicated


class ReplCounter(StateMachine):
    """A replicated integer."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    @replicated
    def add(self, n: int = 1) -> int:
        """Adds `n` (may be negative); returns the new value."""
        self.value += n
        return self.value

    @replicated
    def set(self, value: int) -> int:
        old, self.value = self.value, value
        return old

    @linearizable
    def get(self) -> int:
        return self.value


class ReplDict(StateMachine):
    """A replicated dict of msgpack values (keys: str, bytes or int)."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    @replicated
    def set(self, key: Any, value: Any) -> None:
        self.data[key] = value

    @replicated
    def setdefault(self, key: Any, value: Any) -> Any:
        return self.data.setdefault(key, value)

    @replicated
    def pop(self, key: Any, default: Any = None) -> Any:
        return self.data.pop(key, default)

    @replicated
    def update(self, items: dict[Any, Any]) -> None:
        self.data.update(items)

    @replicated
    def clear(self) -> None:
        self.data.clear()

    @linearizable
    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    @linearizable
    def items(self) -> list[tuple[Any, Any]]:
        return list(self.data.items())

    @linearizable
    def size(self) -> int:
        return len(self.data)

    def snapshot(self) -> bytes:
        data: bytes = msgpack.packb(self.data)
        return data

    def restore(self, data: bytes) -> None:
        self.data = msgpack.unpackb(data, strict_map_key=False)


class ReplLock(StateMachine):
    """Named locks with leases: a holder keeps a lock by renewing its lease, and loses it
    `lease_s` after it stops (its process died or was cut off).

    Each `ReplLock` instance is one holder (a random owner id per instance). While it holds
    locks, a background task renews them every `lease_s / 3`. Lease times are the proposer's
    wall clock (`time.time()`), carried in the command so that every node decides alike;
    clocks of the nodes must agree to well within `lease_s`.
    """

    def __init__(self, lease_s: float = 10.0) -> None:
        #: name -> [owner, expires_at_s]
        self.locks: dict[str, list[Any]] = {}
        self._owner = os.urandom(8).hex()
        self._lease_s = lease_s
        self._held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    @replicated
    def _acquire(self, name: str, owner: str, now_s: float, lease_s: float) -> bool:
        held = self.locks.get(name)
        if held is None or held[0] == owner or held[1] <= now_s:
            self.locks[name] = [owner, now_s + lease_s]
            return True
        return False

    @replicated
    def _release(self, name: str, owner: str) -> bool:
        held = self.locks.get(name)
        if held is not None and held[0] == owner:
            del self.locks[name]
            return True
        return False

    @replicated
    def _renew(self, owner: str, now_s: float, lease_s: float) -> list[str]:
        """Extends every lock `owner` holds; returns the names it still holds."""
        names = []
        for name, held in self.locks.items():
            if held[0] == owner and held[1] > now_s:
                held[1] = now_s + lease_s
                names.append(name)
        return names

    async def try_acquire(self, name: str, timeout: float | None = None) -> bool:
        """Takes lock `name` if it is free or its lease ran out; True if this holder has it."""
        got: bool = await self._acquire(
            name, self._owner, time.time(), self._lease_s, timeout=timeout
        )
        if got:
            self._held.add(name)
            self._start_renewing()
        return got

    async def release(self, name: str, timeout: float | None = None) -> bool:
        self._held.discard(name)
        released: bool = await self._release(name, self._owner, timeout=timeout)
        return released

    def is_owned(self, name: str) -> bool:
        """Whether this holder holds `name` per this node's state (not linearizable)."""
        held = self.locks.get(name)
        return held is not None and held[0] == self._owner and held[1] > time.time()

    @linearizable
    def holder(self, name: str) -> str | None:
        held = self.locks.get(name)
        return None if held is None or held[1] <= time.time() else str(held[0])

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_s / 3)
            with contextlib.suppress(Exception):  # a missed renewal is retried next period
                still: list[str] = await self._renew(self._owner, time.time(), self._lease_s)
                self._held &= set(still)

    def snapshot(self) -> bytes:
        data: bytes = msgpack.packb(self.locks)
        return data

    def restore(self, data: bytes) -> None:
        self.locks = msgpack.unpackb(data)
