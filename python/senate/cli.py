"""The `senate` command."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from senate import __version__
from senate.bench import (
    DEFAULT_SECONDS_PER_ROW,
    BenchmarkFailed,
    BenchRow,
    cpu_model,
    run_sim_bench,
)
from senate.sim import SUPPORTED_SIZES, SimSummary, run_seeds, trace

#: Ticks of the fault phase of each `senate sim` run unless --ticks says otherwise.
DEFAULT_SIM_TICKS = 2000


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    """Parses "1,16,256" into [1, 16, 256]."""
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or any(n <= 0 for n in numbers):
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return numbers


def _entries(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    if value == "auto":
        return None
    try:
        entries = int(value)
    except ValueError:
        raise click.BadParameter(f"expected an integer or 'auto', got {value!r}") from None
    if entries <= 0:
        raise click.BadParameter("must be positive")
    return entries


def _check_sizes(nodes: list[int]) -> None:
    if any(n not in SUPPORTED_SIZES for n in nodes):
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise click.BadParameter(f"cluster sizes must be among {sizes}", param_hint="--nodes")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="senate")
def main() -> None:
    """senate: an embeddable consensus toolkit with a Rust core."""


# --- senate bench ----------------------------------------------------------------------------


@main.command()
@click.option(
    "--sim",
    is_flag=True,
    help="Benchmark the simulated cluster (for now also what plain `senate bench` does).",
)
@click.option(
    "--nodes",
    default="3",
    show_default=True,
    callback=_int_list,
    help="Cluster sizes, comma-separated.",
)
@click.option(
    "--batch",
    default="1,16,256,1024",
    show_default=True,
    callback=_int_list,
    help="Entries per proposal batch, comma-separated.",
)
@click.option(
    "--entries",
    default="auto",
    show_default=True,
    callback=_entries,
    help="Entries committed per row; 'auto' sizes each row to last --seconds.",
)
@click.option(
    "--seconds",
    default=DEFAULT_SECONDS_PER_ROW,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Target seconds per row with --entries auto.",
)
@click.option(
    "--payload-bytes",
    default=64,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bytes per entry.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rows as a JSON list to this file.",
)
def bench(
    sim: bool,
    nodes: list[int],
    batch: list[int],
    entries: int | None,
    seconds: float,
    payload_bytes: int,
    json_path: Path | None,
) -> None:
    """Measure committed entries per second.

    Runs a fault-free simulated cluster in one thread, every message going through the wire
    codec, and times each run.
    """
    del sim  # the simulated cluster is the only mode until the node runtime exists
    _check_sizes(nodes)
    console = Console()
    cpu = cpu_model()
    console.print(f"[bold]senate bench[/bold]: simulated cluster, one thread. CPU: {cpu}")
    table = Table(title="committed entries per second", box=box.SIMPLE_HEAVY)
    for column in ("nodes", "batch", "entries", "seconds", "entries/s", "messages/s", "wire MB/s"):
        table.add_column(column, justify="right")

    def add_row(row: BenchRow) -> None:
        table.add_row(
            str(row.nodes),
            str(row.batch),
            f"{row.entries:,}",
            f"{row.seconds:.2f}",
            f"{row.entries_per_s:,.0f}",
            f"{row.messages_per_s:,.0f}",
            f"{row.mb_per_s:,.1f}",
        )

    try:
        with console.status("measuring...", spinner="dots"):
            rows = run_sim_bench(
                nodes, batch, payload_bytes, entries, seconds_per_row=seconds, on_row=add_row
            )
    except BenchmarkFailed as failed:
        console.print(table)
        raise click.ClickException(str(failed)) from None
    console.print(table)
    if json_path is not None:
        records = [dict(row.to_json(), cpu=cpu) for row in rows]
        json_path.write_text(json.dumps(records, indent=2) + "\n")
        console.print(f"wrote {len(records)} rows to {json_path}")


# --- senate sim ------------------------------------------------------------------------------


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


@main.command()
@click.option(
    "--nodes",
    default="3,5,7",
    show_default=True,
    callback=_int_list,
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

    Every run injects faults (drops, delays, duplicates, corruption, partitions, crashes,
    slow nodes), checks the Raft safety properties after every step, then heals and checks
    liveness. The same nodes, seed and ticks replay a run exactly. Exits with status 1 if any
    violation is found.
    """
    _check_sizes(nodes)
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
