"""Reading processes' CPU time from /proc: this process's own, which grows with work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from senate.proc_cpu import (
    RESOLUTION_S,
    CpuWindow,
    ProcessGone,
    cpu_seconds,
    cpu_seconds_of,
    cpu_used,
    parse_stat_cpu_ticks,
)

#: How long a test may spin waiting for CPU time to show, at most.
DEADLINE_S = 10.0


def burn_cpu_until(condition_met: Callable[[], bool], deadline_s: float = DEADLINE_S) -> bool:
    """Spins (work that is all CPU) until `condition_met()` or the deadline; returns which."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        sum(i * i for i in range(10_000))
        if condition_met():
            return True
    return False


def test_the_user_and_system_ticks_are_fields_14_and_15() -> None:
    # The command name may hold spaces and parentheses: fields count from its last ")".
    fields = " ".join(str(n) for n in range(3, 53))  # field k holds k, from field 3 on
    assert parse_stat_cpu_ticks(f"1234 (a (b) c) {fields}") == 14 + 15
    assert parse_stat_cpu_ticks(f"1 (x) {fields}") == 29


@pytest.mark.parametrize("text", ["", "1234 no parenthesis 1 2 3", "1 (x) R 1 2 3"])
def test_what_is_not_a_stat_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="stat"):
        parse_stat_cpu_ticks(text)


def test_its_own_cpu_time_agrees_with_os_times() -> None:
    times = os.times()
    seconds = cpu_seconds(os.getpid())
    after = os.times()
    assert times.user + times.system - RESOLUTION_S <= seconds
    assert seconds <= after.user + after.system + RESOLUTION_S


def test_its_own_cpu_time_grows_with_work() -> None:
    pid = os.getpid()
    before = cpu_seconds(pid)
    target = before + 10 * RESOLUTION_S
    assert burn_cpu_until(lambda: cpu_seconds(pid) >= target), "no CPU time counted"
    assert cpu_used({pid: before}, cpu_seconds_of([pid]))[pid] >= 10 * RESOLUTION_S


def test_a_window_counts_what_another_process_used_in_it() -> None:
    # The child spins for 0.2 s of CPU once told to, then waits for its end.
    spin = "input()\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass"
    child = subprocess.Popen(
        [sys.executable, "-c", f"import time\n{spin}\ninput()"], stdin=subprocess.PIPE
    )
    assert child.stdin is not None
    try:
        window = CpuWindow([os.getpid(), child.pid])
        window.start()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        target = cpu_seconds(child.pid) + 0.2 - RESOLUTION_S
        deadline = time.monotonic() + DEADLINE_S
        while cpu_seconds(child.pid) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        window.stop()
        assert window.used[child.pid] >= 0.2 - 2 * RESOLUTION_S
        assert window.used[os.getpid()] >= 0
    finally:
        child.communicate(b"end\n", timeout=DEADLINE_S)


def test_a_process_that_is_gone_has_no_cpu_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its /proc entry is gone
    with pytest.raises(ProcessGone):
        cpu_seconds(child.pid)


def test_a_window_is_read_in_order() -> None:
    window = CpuWindow([os.getpid()])
    with pytest.raises(AssertionError, match="not over"):
        _ = window.used
    with pytest.raises(AssertionError, match="before it started"):
        window.stop()
    window.start()
    window.stop()
    assert window.used[os.getpid()] >= 0
