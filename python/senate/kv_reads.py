"""`ReadBatcher`: the key-value server's linearizable reads, one read barrier per batch of
them."""

from __future__ import annotations

import asyncio

from senate.runtime.node import Node


class ReadBatcher:
    """Linearizable reads: a read runs after a read barrier that started after it arrived.

    One barrier (a ReadIndex round of the node) is in flight at a time; reads arriving while
    it is out wait for the next one, which starts as soon as it returns. So the cost is one
    round per batch of reads, whatever the number of clients.
    """

    def __init__(self, node: Node, timeout_s: float) -> None:
        self.node = node
        self.timeout_s = timeout_s
        self._waiting: list[asyncio.Future[None]] = []
        self._round: asyncio.Task[None] | None = None

    def wait(self) -> asyncio.Future[None]:
        assert self.node.loop is not None
        fut: asyncio.Future[None] = self.node.loop.create_future()
        self._waiting.append(fut)
        if self._round is None:
            self._start_round()
        return fut

    def _start_round(self) -> None:
        waiters, self._waiting = self._waiting, []
        self._round = asyncio.ensure_future(self._run_round(waiters))

    async def _run_round(self, waiters: list[asyncio.Future[None]]) -> None:
        try:
            await self.node.read_barrier(self.timeout_s)
        except Exception as e:  # every waiter of the round gets the error
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(e)
        else:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        finally:
            self._round = None
            if self._waiting and self.node.running:
                self._start_round()
