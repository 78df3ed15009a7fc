"""The `senate` command."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
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
from senate.bench_report import problems, result_table, write_json, write_plot
from senate.loadgen import (
    LoadError,
    LoadResult,
    LoadSpec,
    parse_endpoint,
    parse_ratio,
    run_load_subprocess,
)
from senate.loadgen import Progress as LoadProgress
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


def _endpoints(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str]:
    """Parses "host:port,host:port" into its endpoints."""
    if value is None:
        return []
    endpoints = [part.strip() for part in value.split(",") if part.strip()]
    try:
        for endpoint in endpoints:
            parse_endpoint(endpoint)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if not endpoints:
        raise click.BadParameter("expected host:port,host:port,...")
    return endpoints


def _ratio(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        parse_ratio(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


def _check_sizes(nodes: list[int]) -> None:
    if any(n not in SUPPORTED_SIZES for n in nodes):
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise click.BadParameter(f"cluster sizes must be among {sizes}", param_hint="--nodes")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="senate")
def main() -> None:
    """senate: an embeddable consensus toolkit with a Rust core."""


# --- senate bench ----------------------------------------------------------------------------

#: The options of the simulated benchmark (`--sim`) and of the load generator (the others).
SIM_OPTIONS = ("batch", "entries", "seconds", "payload_bytes")
LOAD_OPTIONS = (
    "endpoints",
    "clients",
    "pipeline",
    "duration",
    "warmup",
    "value_size",
    "ratio",
    "keys",
    "seed",
    "plot_path",
)
#: The local cluster plain `senate bench` starts: its first port, and how long it may take.
LOCAL_CLUSTER_BASE_PORT = 17400
LOCAL_CLUSTER_READY_TIMEOUT_S = 60.0
#: Bytes per value unless --value-size says otherwise: YCSB's field size, a small record;
#: the benchmark measures the cost of an operation, not the bandwidth of the log.
DEFAULT_VALUE_SIZE = 100


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among `names` given on the command line (or in the environment)."""
    sources = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return [
        "--" + n.removesuffix("_path").replace("_", "-")
        for n in names
        if ctx.get_parameter_source(n) in sources
    ]


@main.command()
@click.option(
    "--sim",
    is_flag=True,
    help="Benchmark the simulated cluster, in one thread, instead of a real one.",
)
@click.option(
    "--nodes",
    default="3",
    show_default=True,
    callback=_int_list,
    help="Cluster sizes, comma-separated with --sim; the local cluster's size otherwise.",
)
@click.option(
    "--endpoints",
    callback=_endpoints,
    help="Load a running cluster (or any RESP server) at host:port,... instead of a local one.",
)
@click.option("--clients", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--pipeline",
    default=16,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Requests each client keeps in flight.",
)
@click.option(
    "--duration",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=3600),
    help="Seconds measured.",
)
@click.option(
    "--warmup",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, max=3600),
    help="Seconds of load before the measurement.",
)
@click.option(
    "--value-size",
    default=DEFAULT_VALUE_SIZE,
    show_default=True,
    type=click.IntRange(0, 16 << 20),
    help="Bytes per SET value.",
)
@click.option(
    "--ratio",
    default="1:1",
    show_default=True,
    callback=_ratio,
    help="READS:WRITES (GET:SET); 0:1 writes only, 1:0 reads only.",
)
@click.option(
    "--keys",
    default=100_000,
    show_default=True,
    type=click.IntRange(1, 10**12),
    help="Keys drawn uniformly at random.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the key choice.")
@click.option(
    "--batch",
    default="1,16,256,1024",
    show_default=True,
    callback=_int_list,
    help="With --sim: entries per proposal batch, comma-separated.",
)
@click.option(
    "--entries",
    default="auto",
    show_default=True,
    callback=_entries,
    help="With --sim: entries committed per row; 'auto' sizes each row to last --seconds.",
)
@click.option(
    "--seconds",
    default=DEFAULT_SECONDS_PER_ROW,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="With --sim: target seconds per row with --entries auto.",
)
@click.option(
    "--payload-bytes",
    default=64,
    show_default=True,
    type=click.IntRange(min=0),
    help="With --sim: bytes per entry.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JSON to this file.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write throughput and latency over time as a PNG (needs the `plot` extra).",
)
@click.pass_context
def bench(
    ctx: click.Context,
    sim: bool,
    nodes: list[int],
    endpoints: list[str],
    clients: int,
    pipeline: int,
    duration: float,
    warmup: float,
    value_size: int,
    ratio: str,
    keys: int,
    seed: int,
    batch: list[int],
    entries: int | None,
    seconds: float,
    payload_bytes: int,
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Measure a cluster: GET/SET operations per second and their latency.

    Starts a local cluster of --nodes nodes and loads it from a separate process, or loads
    the cluster at --endpoints. With --sim, measures committed entries per second of a
    fault-free simulated cluster instead, every message going through the wire codec.
    """
    if sim:
        if misplaced := _given(ctx, LOAD_OPTIONS):
            raise click.UsageError(f"{', '.join(misplaced)} cannot be used with --sim")
        _check_sizes(nodes)
        _bench_sim(nodes, batch, entries, seconds, payload_bytes, json_path)
        return
    if misplaced := _given(ctx, SIM_OPTIONS):
        raise click.UsageError(f"{', '.join(misplaced)} can only be used with --sim")

    def load(targets: list[str]) -> None:
        spec = LoadSpec(
            endpoints=tuple(targets),
            clients=clients,
            pipeline=pipeline,
            duration_s=duration,
            warmup_s=warmup,
            value_size=value_size,
            ratio=ratio,
            keys=keys,
            seed=seed,
        )
        _bench_load(spec, json_path, plot_path)

    if endpoints:
        if _given(ctx, ("nodes",)):
            raise click.UsageError("--nodes cannot be used with --endpoints")
        load(endpoints)
        return
    _check_sizes(nodes)
    if len(nodes) != 1:
        raise click.BadParameter("one cluster size, without --sim", param_hint="--nodes")
    with _local_cluster(nodes[0]) as client_endpoints:
        load(client_endpoints)


@contextlib.contextmanager
def _local_cluster(nodes: int) -> Iterator[list[str]]:
    """Starts a local cluster of `nodes` nodes; yields their client endpoints ("host:port").

    The one place `senate bench` depends on `senate.launcher` (imported here, when needed).
    """
    try:
        launcher = importlib.import_module("senate.launcher")
    except ImportError:
        raise click.ClickException(
            "this build has no local cluster launcher (senate.launcher): "
            "pass --endpoints host:port,... or --sim"
        ) from None
    with tempfile.TemporaryDirectory(prefix="senate-bench-") as data_dir:
        cluster = launcher.LocalCluster(
            nodes=nodes, data_dir=Path(data_dir), base_port=LOCAL_CLUSTER_BASE_PORT, fsync=True
        )
        with cluster:
            cluster.wait_ready(LOCAL_CLUSTER_READY_TIMEOUT_S)
            yield [str(node.client) for node in cluster.nodes]


def _bench_load(spec: LoadSpec, json_path: Path | None, plot_path: Path | None) -> None:
    """Runs the load generator in a subprocess, with a progress bar, and reports."""
    console = Console()
    cpu = cpu_model()
    console.print(f"[bold]senate bench[/bold]: {', '.join(spec.endpoints)}. CPU: {cpu}")
    result = _run_with_progress(console, spec)
    console.print(result_table(result))
    if json_path is not None:
        write_json(result, json_path)
        console.print(f"wrote the result to {json_path}")
    if plot_path is not None:
        write_plot(result, plot_path)
        console.print(f"wrote the plot to {plot_path}")
    if issues := problems(result):
        for line in issues:
            console.print(f"[bold red]{line}[/bold red]", highlight=False)
        raise SystemExit(1)


def _run_with_progress(console: Console, spec: LoadSpec) -> LoadResult:
    """`run_load_subprocess(spec)` under a progress bar (shown on terminals only)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("warming up", total=spec.warmup_s + spec.duration_s, rate="")

        def on_progress(update: LoadProgress) -> None:
            measured_s = update.elapsed_s - spec.warmup_s
            rate = f"{update.ops / measured_s:,.0f} ops/s" if measured_s > 0 else ""
            description = "measuring" if update.phase == "measure" else "warming up"
            progress.update(task, completed=update.elapsed_s, description=description, rate=rate)

        try:
            return run_load_subprocess(spec, on_progress)
        except LoadError as error:
            raise click.ClickException(str(error)) from None


def _bench_sim(
    nodes: list[int],
    batch: list[int],
    entries: int | None,
    seconds: float,
    payload_bytes: int,
    json_path: Path | None,
) -> None:
    """The simulated cluster in one thread, every message going through the wire codec."""
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
