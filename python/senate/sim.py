"""Runs the deterministic cluster simulation over many seeds and cluster sizes.

Each run is one call into the Rust core, which releases the GIL: a thread pool keeps every
core busy. A run is fully determined by (protocol, nodes, seed, ticks), so a failure is
replayed exactly by `replay_command`. The protocol is Raft or Multi-Paxos (`PROTOCOLS`), each
checked by its own safety checker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from senate._core import SIM_PROTOCOLS, SimReport, run_sim

#: The protocols the simulator runs, in their order: "raft", "paxos".
PROTOCOLS: tuple[str, ...] = SIM_PROTOCOLS
#: The protocol run unless asked otherwise.
DEFAULT_PROTOCOL = "raft"
#: Cluster sizes the simulator supports.
SUPPORTED_SIZES: tuple[int, ...] = (3, 5, 7)
#: Runs submitted to the pool but not finished, per worker thread.
MAX_PENDING_RUNS_PER_JOB = 4


@dataclass(frozen=True)
class SimFailure:
    """One run that found violations (or made the core panic)."""

    nodes: int
    seed: int
    ticks: int
    violations: tuple[str, ...]
    protocol: str = DEFAULT_PROTOCOL

    def replay_command(self) -> str:
        return replay_command(self.nodes, self.seed, self.ticks, self.protocol)


@dataclass
class SimSummary:
    """Totals over every run of one protocol."""

    sizes: tuple[int, ...]
    seeds: int
    first_seed: int
    ticks: int
    protocol: str = DEFAULT_PROTOCOL
    runs: int = 0
    steps_checked: int = 0
    faults_injected: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    committed_entries: int = 0
    leader_terms: int = 0
    snapshots_restored: int = 0
    reads_confirmed: int = 0
    failures: list[SimFailure] = field(default_factory=list)

    def add(self, report: SimReport) -> None:
        self.runs += 1
        self.steps_checked += report.steps_checked
        self.faults_injected += report.faults_injected
        for kind, count in report.faults.items():
            self.faults[kind] = self.faults.get(kind, 0) + count
        self.committed_entries += report.committed_entries
        self.leader_terms += report.leader_terms
        self.snapshots_restored += report.snapshots_restored
        self.reads_confirmed += report.reads_confirmed
        if report.violations:
            failure = SimFailure(
                report.nodes, report.seed, report.ticks, tuple(report.violations), report.protocol
            )
            self.failures.append(failure)

    @property
    def violations(self) -> int:
        return sum(len(f.violations) for f in self.failures)


def replay_command(nodes: int, seed: int, ticks: int, protocol: str = DEFAULT_PROTOCOL) -> str:
    """The command that runs exactly this one simulation again."""
    return (
        f"senate sim --protocol {protocol} --nodes {nodes} --seeds 1 --first-seed {seed} "
        f"--ticks {ticks}"
    )


def parse_protocols(value: str) -> list[str]:
    """Parses "raft", "paxos" or "raft,paxos" into protocol names, in the order given, each
    once. Raises ValueError naming an unknown one."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown or not names:
        known = ", ".join(PROTOCOLS)
        raise ValueError(f"unknown protocol {', '.join(unknown) or value!r} (use {known})")
    return list(dict.fromkeys(names))


def check_protocol(protocol: str) -> None:
    """Raises ValueError unless the simulator runs `protocol`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (use {', '.join(PROTOCOLS)})")


def check_sizes(sizes: Sequence[int]) -> None:
    """Raises ValueError unless every size is supported."""
    for size in sizes:
        if size not in SUPPORTED_SIZES:
            supported = ", ".join(map(str, SUPPORTED_SIZES))
            raise ValueError(f"cluster size {size} is not supported (use {supported})")


def _run_one(protocol: str, nodes: int, seed: int, ticks: int) -> SimReport | SimFailure:
    """The report of one run, or a failure when the core panicked outside the simulator."""
    try:
        return run_sim(nodes, seed, ticks, protocol=protocol)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as panic:  # a Rust panic arrives as a BaseException
        return SimFailure(nodes, seed, ticks, (f"core panicked: {panic!r}",), protocol)


def trace(
    nodes: int, seed: int, ticks: int, lines: int, protocol: str = DEFAULT_PROTOCOL
) -> list[str]:
    """The last `lines` events of one run, replayed, in words."""
    return run_sim(nodes, seed, ticks, protocol=protocol, trace_lines=lines).trace


def _schedule(sizes: Sequence[int], seeds: int, first_seed: int) -> Iterator[tuple[int, int]]:
    for seed in range(first_seed, first_seed + seeds):
        for nodes in sizes:
            yield nodes, seed


def run_seeds(
    sizes: Sequence[int],
    seeds: int,
    ticks: int,
    *,
    first_seed: int = 0,
    jobs: int | None = None,
    on_run: Callable[[], None] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> SimSummary:
    """Runs seeds `[first_seed, first_seed + seeds)` of `protocol` on every cluster size in
    `sizes`.

    `jobs` threads run at once (default: one per CPU); `on_run` is called after each run.
    """
    check_sizes(sizes)
    check_protocol(protocol)
    if seeds < 0 or ticks < 0 or first_seed < 0:
        raise ValueError("seeds, ticks and first_seed must not be negative")
    jobs = jobs or os.cpu_count() or 1
    summary = SimSummary(tuple(sizes), seeds, first_seed, ticks, protocol)
    pending: set[Future[SimReport | SimFailure]] = set()

    def collect(done: set[Future[SimReport | SimFailure]]) -> None:
        for future in done:
            result = future.result()
            if isinstance(result, SimFailure):
                summary.runs += 1
                summary.failures.append(result)
            else:
                summary.add(result)
            if on_run is not None:
                on_run()

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="senate-sim") as pool:
        for nodes, seed in _schedule(sizes, seeds, first_seed):
            if len(pending) >= jobs * MAX_PENDING_RUNS_PER_JOB:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
            pending.add(pool.submit(_run_one, protocol, nodes, seed, ticks))
        done, _ = wait(pending)
        collect(done)
    summary.failures.sort(key=lambda f: (f.nodes, f.seed))
    return summary
