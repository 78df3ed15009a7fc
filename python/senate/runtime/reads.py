"""Read barriers: linearizable reads, batched by the core's driver.

A barrier joins the driver's open read batch (`NodeDriver.request_read`), which the driver
issues as one ReadIndex round, re-issues when the round is lost with a leader change, and
hands back (`ACTION_SERVE_READS`) once the node has applied the index the round was
confirmed at. This part only keeps who waits for which batch.
"""

from __future__ import annotations

import asyncio
import os

from senate._core import NodeDriver
from senate.errors import CallTimeout


def first_read_id() -> int:
    """A start's first read batch id, drawn at random in [1, 2**48].

    A leader's answer to a round issued before a restart must not confirm a new batch of the
    same id (at an index older than its reads): ids that restarted at 1 would repeat. 2**48
    leaves more ids to count up through than a node issues rounds in its life.
    """
    return int.from_bytes(os.urandom(6), "little") + 1


class Reads:
    """The read barriers of one node waiting for their batch."""

    def __init__(self, node_id: int, wake: asyncio.Event) -> None:
        self.node_id = node_id
        self._wake = wake
        self.core: NodeDriver | None = None
        #: Batch id -> the barriers waiting for it.
        self._batches: dict[int, list[asyncio.Future[None]]] = {}

    async def barrier(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        """Returns once a round issued after the call is confirmed and applied here."""
        core = self.core
        assert core is not None
        batch = core.request_read()
        fut: asyncio.Future[None] = loop.create_future()
        self._batches.setdefault(batch, []).append(fut)
        self._wake.set()
        try:
            await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            self._forget(batch, fut)
            raise CallTimeout(f"node {self.node_id}: read not confirmed in time") from None

    def _forget(self, batch: int, fut: asyncio.Future[None]) -> None:
        waiters = self._batches.get(batch)
        if waiters is None:
            return
        waiters[:] = [w for w in waiters if w is not fut]
        if not waiters:
            del self._batches[batch]
            if self.core is not None:
                self.core.cancel_read(batch)

    def serve(self, batches: list[int]) -> None:
        """Answers the barriers of `batches` (the driver says they may be served)."""
        for batch in batches:
            for fut in self._batches.pop(batch, ()):
                if not fut.done():
                    fut.set_result(None)

    def fail_all(self, error: BaseException) -> None:
        """Fails every barrier not yet answered (the node stops)."""
        for waiters in self._batches.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
        self._batches.clear()
