"""Waiting on a condition with a deadline, for the tests (never a sleep that hopes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: How often a condition is polled, in seconds.
POLL_S = 0.01


async def until(what: str, cond: Callable[[], Any], deadline_s: float = 20.0) -> Any:
    """Polls `cond` on the running loop until it is truthy; returns its value. Fails naming
    `what` after `deadline_s`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not (value := cond()):
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_S)
    return value


def wait_until(what: str, cond: Callable[[], Any], deadline_s: float = 30.0) -> Any:
    """`until` for blocking code (real processes driven from the test's thread)."""
    end = time.monotonic() + deadline_s
    while not (value := cond()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what} within {deadline_s:g} s")
        time.sleep(POLL_S)
    return value
