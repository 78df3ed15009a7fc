"""CPU time of processes on this machine, read from Linux's `/proc/<pid>/stat`.

A process's CPU time is its user and system time over all its threads (fields 14 and 15 of
`/proc/<pid>/stat`, in clock ticks: `SC_CLK_TCK`, 100 per second on Linux, so a reading is
exact to 10 ms). Time of children it waited for is not included. No dependency beyond the
standard library: psutil reads the same file.

    before = cpu_seconds_of(pids)
    ...                                   # the window
    used = cpu_used(before, cpu_seconds_of(pids))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

#: Clock ticks per second: the unit of `/proc/<pid>/stat`'s times.
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
#: The resolution of a reading, in seconds.
RESOLUTION_S = 1 / CLOCK_TICKS_PER_S
#: Indexes of utime and stime among the fields after the command name's closing parenthesis
#: (that list starts at field 3, the state; utime is field 14, stime field 15).
_UTIME_INDEX = 14 - 3
_STIME_INDEX = 15 - 3


class ProcessGone(Exception):
    """The process has exited (or never was): it has no `/proc/<pid>/stat`."""


def parse_stat_cpu_ticks(stat: str) -> int:
    """User plus system clock ticks from the text of a `/proc/<pid>/stat` file. The command
    name (field 2) is in parentheses and may hold spaces and parentheses itself, so the
    fields are counted from its last closing parenthesis."""
    _, sep, rest = stat.rpartition(")")
    if not sep:
        raise ValueError(f"not a /proc/<pid>/stat line: {stat[:80]!r}")
    fields = rest.split()
    if len(fields) <= _STIME_INDEX:
        raise ValueError(f"a /proc/<pid>/stat line of {len(fields) + 2} fields: {stat[:80]!r}")
    ticks = int(fields[_UTIME_INDEX]) + int(fields[_STIME_INDEX])
    assert ticks >= 0, ticks
    return ticks


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, every thread) process `pid` has used since it started;
    ProcessGone if it has no `/proc` entry."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"process {pid} is gone") from None
    return parse_stat_cpu_ticks(text) / CLOCK_TICKS_PER_S


def cpu_seconds_of(pids: Iterable[int]) -> dict[int, float]:
    """`cpu_seconds` of each process, read one after the other (a few µs each)."""
    return {pid: cpu_seconds(pid) for pid in pids}


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two readings of the same processes."""
    assert before.keys() == after.keys(), (sorted(before), sorted(after))
    used = {pid: after[pid] - before[pid] for pid in before}
    assert all(seconds >= 0 for seconds in used.values()), used
    return used


class CpuWindow:
    """The CPU time processes use between `start()` and `stop()`: a reading at each edge."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = tuple(pids)
        assert self.pids
        self._start: dict[int, float] | None = None
        self._used: dict[int, float] | None = None

    @property
    def started(self) -> bool:
        return self._start is not None

    def start(self) -> None:
        assert self._start is None, "the window started twice"
        self._start = cpu_seconds_of(self.pids)

    def stop(self) -> None:
        assert self._start is not None, "the window stopped before it started"
        assert self._used is None, "the window stopped twice"
        self._used = cpu_used(self._start, cpu_seconds_of(self.pids))

    @property
    def used(self) -> dict[int, float]:
        """CPU seconds by pid, once stopped."""
        assert self._used is not None, "the window is not over"
        return self._used
