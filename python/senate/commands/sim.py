"""`senate sim`: the deterministic cluster simulation over many seeds."""

from __future__ import annotations

import os
import time

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from senate.commands.options import check_sizes, int_list
from senate.sim import SimSummary, run_seeds, trace

#: Ticks of the fault phase of each `senate sim` run unless --ticks says otherwise.
DEFAULT_SIM_TICKS = 2000


def _print_sim_summary(console: Console, summary: SimSummary, seconds: float) -> None:
    table = Table(title="deterministic simulation", box=box.SIMPLE_HEAVY, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    last_seed = summary.first_seed + summary.seeds - 1
    table.add_row("cluster sizes", ", ".join(map(str, summary.sizes)))
    table.add_row("seeds run", f"{summary.seeds} ({summary.first_seed}..{last_seed} per size)")
    table.add_row("runs", f"{summary.runs}")
    table.add_row("ticks per run", f"{summary.ticks} + heal")
    table.add_row("steps checked", f"{summary.steps_checked}")
    table.add_row("faults injected", f"{summary.faults_injected}")
    for kind, count in summary.faults.items():
        table.add_row(f"  {kind.replace('_', ' ')}", f"{count}")
    table.add_row("leader terms", f"{summary.leader_terms}")
    table.add_row("entries committed", f"{summary.committed_entries}")
    table.add_row("snapshots restored", f"{summary.snapshots_restored}")
    table.add_row("reads confirmed", f"{summary.reads_confirmed}")
    style = "bold red" if summary.failures else "bold green"
    table.add_row("violations found", f"[{style}]{summary.violations}[/{style}]")
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)


def _print_failures(console: Console, summary: SimSummary, trace_lines: int) -> None:
    for failure in summary.failures:
        console.print(f"[bold red]violation[/bold red] nodes={failure.nodes} seed={failure.seed}:")
        for violation in failure.violations:
            console.print(f"  {violation}", markup=False, highlight=False)
        console.print(f"  replay: {failure.replay_command()}", markup=False, highlight=False)
        if trace_lines > 0:
            console.print(f"  its last {trace_lines} events:")
            for line in trace(failure.nodes, failure.seed, failure.ticks, trace_lines):
                console.print(f"    {line}", markup=False, highlight=False)
    if summary.failures and trace_lines == 0:
        console.print("(add --trace 100 to a replay command to see the last events of its run)")


@click.command()
@click.option(
    "--nodes",
    default="3,5,7",
    show_default=True,
    callback=int_list,
    help="Cluster sizes, comma-separated (3, 5 or 7).",
)
@click.option(
    "--seeds",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seeds to run on every cluster size.",
)
@click.option(
    "--ticks",
    default=DEFAULT_SIM_TICKS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Ticks of the fault phase of each run (a heal phase follows).",
)
@click.option(
    "--first-seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="The first seed; seeds run are [first, first + seeds).",
)
@click.option(
    "--jobs",
    default=None,
    type=click.IntRange(min=1),
    help="Threads running seeds at once  [default: one per CPU]",
)
@click.option(
    "--trace",
    "trace_lines",
    default=0,
    type=click.IntRange(min=0),
    help="Print the last N events of every run that found a violation.",
)
def sim(
    nodes: list[int], seeds: int, ticks: int, first_seed: int, jobs: int | None, trace_lines: int
) -> None:
    """Run the deterministic cluster simulation over many seeds.

    Every node runs the production driver, persisting by the caller: its log writes complete
    later on a simulated disk (or stall, on a slow node) and a crash loses those in flight.
    Every run injects faults (drops, delays, duplicates, corruption, partitions, crashes,
    slow nodes), checks the Raft safety properties after every step, then heals and checks
    liveness. The same nodes, seed and ticks replay a run exactly. Exits with status 1 if any
    violation is found.
    """
    check_sizes(nodes)
    console = Console()
    jobs = jobs or os.cpu_count() or 1
    start = time.perf_counter()
    progress = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("runs", total=seeds * len(nodes))
        summary = run_seeds(
            nodes,
            seeds,
            ticks,
            first_seed=first_seed,
            jobs=jobs,
            on_run=lambda: progress.advance(task),
        )
    _print_sim_summary(console, summary, time.perf_counter() - start)
    _print_failures(console, summary, trace_lines)
    if summary.failures:
        raise SystemExit(1)
