"""Runs the deterministic cluster simulation over many seeds and cluster sizes.

Each run is one call into the Rust core, which releases the GIL: a thread pool keeps every
core busy. A run is fully determined by (nodes, seed, ticks), so a failure is replayed
exactly by `replay_command`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from senate._core import run_sim

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

    def replay_command(self) -> str:
        return replay_command(self.nodes, self.seed, self.ticks)


@dataclass
class SimSummary:
    """Totals over every run."""

    sizes: tuple[int, ...]
    seeds: int
    first_seed: int
    ticks: int
    runs: int = 0
    steps_checked: int = 0
    faults_injected: int = 0
    committed_entries: int = 0
    failures: list[SimFailure] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(len(f.violations) for f in self.failures)


def replay_command(nodes: int, seed: int, ticks: int) -> str:
    """The command that runs exactly this one simulation again."""
    return f"senate sim --nodes {nodes} --seeds 1 --first-seed {seed} --ticks {ticks}"


def check_sizes(sizes: Sequence[int]) -> None:
    """Raises ValueError unless every size is supported."""
    for size in sizes:
        if size not in SUPPORTED_SIZES:
            supported = ", ".join(map(str, SUPPORTED_SIZES))
            raise ValueError(f"cluster size {size} is not supported (use {supported})")


def _run_one(nodes: int, seed: int, ticks: int) -> tuple[int, int, int, SimFailure | None]:
    """(steps checked, faults injected, committed entries, failure or None) of one run."""
    try:
        report = run_sim(nodes, seed, ticks)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as panic:  # a Rust panic arrives as a BaseException
        return 0, 0, 0, SimFailure(nodes, seed, ticks, (f"core panicked: {panic!r}",))
    found = None
    if report.violations:
        found = SimFailure(nodes, seed, ticks, tuple(report.violations))
    return report.steps_checked, report.faults_injected, report.committed_entries, found


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
) -> SimSummary:
    """Runs seeds `[first_seed, first_seed + seeds)` on every cluster size in `sizes`.

    `jobs` threads run at once (default: one per CPU); `on_run` is called after each run.
    """
    check_sizes(sizes)
    if seeds < 0 or ticks < 0 or first_seed < 0:
        raise ValueError("seeds, ticks and first_seed must not be negative")
    jobs = jobs or os.cpu_count() or 1
    summary = SimSummary(tuple(sizes), seeds, first_seed, ticks)
    pending: set[Future[tuple[int, int, int, SimFailure | None]]] = set()

    def collect(done: set[Future[tuple[int, int, int, SimFailure | None]]]) -> None:
        for future in done:
            steps, faults, committed, failure = future.result()
            summary.runs += 1
            summary.steps_checked += steps
            summary.faults_injected += faults
            summary.committed_entries += committed
            if failure is not None:
                summary.failures.append(failure)
            if on_run is not None:
                on_run()

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="senate-sim") as pool:
        for nodes, seed in _schedule(sizes, seeds, first_seed):
            if len(pending) >= jobs * MAX_PENDING_RUNS_PER_JOB:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
            pending.add(pool.submit(_run_one, nodes, seed, ticks))
        done, _ = wait(pending)
        collect(done)
    summary.failures.sort(key=lambda f: (f.nodes, f.seed))
    return summary
