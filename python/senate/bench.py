"""The benchmark behind `senate bench`.

For now it measures the simulated cluster: a fault-free cluster of `nodes` nodes of one
protocol (Raft or Multi-Paxos) running in one thread, every message going through the wire
codec, until a given number of entries is applied on every node. The Rust core never reads a
clock: Python times each run.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from senate._core import run_throughput

#: Seconds a calibration run must last before its rate is trusted.
CALIBRATION_MIN_SECONDS = 0.1
#: Upper bound on entries in any one run (calibration stops doubling here).
MAX_ENTRIES_PER_RUN = 1 << 32
#: Default time one measured row aims at when `entries` is chosen automatically.
DEFAULT_SECONDS_PER_ROW = 3.0


class BenchmarkFailed(RuntimeError):
    """A throughput run stopped short of the entries asked for."""


@dataclass(frozen=True)
class BenchRow:
    """One measured run."""

    protocol: str
    nodes: int
    batch: int
    payload_bytes: int
    entries: int
    seconds: float
    messages: int
    wire_bytes: int

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Megabytes per second of frames through the codec."""
        return self.wire_bytes / self.seconds / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "sim",
            "protocol": self.protocol,
            "nodes": self.nodes,
            "batch": self.batch,
            "payload_bytes": self.payload_bytes,
            "entries": self.entries,
            "seconds": self.seconds,
            "entries_per_s": self.entries_per_s,
            "messages_per_s": self.messages_per_s,
            "mb_per_s": self.mb_per_s,
        }


def cpu_model() -> str:
    """The machine's CPU model line, e.g. "AMD EPYC 7B13 (2 CPUs)"."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model"):
                model = value.strip()
                break
    if not model:
        model = platform.processor() or platform.machine() or "unknown CPU"
    return f"{model} ({os.cpu_count() or 1} CPUs)"


def measure(
    nodes: int, batch: int, payload_bytes: int, entries: int, protocol: str = "raft"
) -> BenchRow:
    """Runs the simulated cluster of `protocol` once and times it; raises `BenchmarkFailed`
    if it stalls."""
    start = time.perf_counter()
    report = run_throughput(nodes, batch, payload_bytes, entries, protocol=protocol)
    seconds = max(time.perf_counter() - start, 1e-9)
    if report.error is not None:
        raise BenchmarkFailed(f"{protocol} nodes={nodes} batch={batch}: {report.error}")
    return BenchRow(
        protocol=protocol,
        nodes=nodes,
        batch=batch,
        payload_bytes=payload_bytes,
        entries=report.committed_entries,
        seconds=seconds,
        messages=report.messages,
        wire_bytes=report.bytes,
    )


def calibrate_entries(
    nodes: int, batch: int, payload_bytes: int, seconds: float, protocol: str = "raft"
) -> int:
    """Entries that make one run of `protocol` last about `seconds` (doubles a trial run until
    it is long enough to time, then scales)."""
    entries = max(batch * 8, 1024)
    while True:
        row = measure(nodes, batch, payload_bytes, entries, protocol)
        if row.seconds >= CALIBRATION_MIN_SECONDS or entries >= MAX_ENTRIES_PER_RUN:
            break
        entries = min(entries * 2, MAX_ENTRIES_PER_RUN)
    scaled = math.ceil(row.entries_per_s * seconds)
    return max(batch, min(scaled, MAX_ENTRIES_PER_RUN))


def run_sim_bench(
    nodes: Sequence[int],
    batches: Sequence[int],
    payload_bytes: int,
    entries: int | None,
    *,
    protocols: Sequence[str] = ("raft",),
    seconds_per_row: float = DEFAULT_SECONDS_PER_ROW,
    on_row: Callable[[BenchRow], None] | None = None,
) -> list[BenchRow]:
    """Measures every (nodes, batch, protocol), the protocols in turn for each (nodes, batch)
    so that their rows sit together and run at nearly the same time. `entries=None` sizes each
    row to last about `seconds_per_row`."""
    rows = []
    for node_count in nodes:
        for batch in batches:
            for protocol in protocols:
                row_entries = entries
                if row_entries is None:
                    row_entries = calibrate_entries(
                        node_count, batch, payload_bytes, seconds_per_row, protocol
                    )
                row = measure(node_count, batch, payload_bytes, row_entries, protocol)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows
