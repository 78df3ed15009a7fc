"""The `senate` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import senate
from senate import __version__
from senate.bench import (
    DEFAULT_SECONDS_PER_ROW,
    BenchmarkFailed,
    BenchRow,
    cpu_model,
    run_sim_bench,
)
from senate.bench_report import per_node_table, problems, result_table, write_json, write_plot
from senate.client import DEFAULT_BALANCER, balancer_names
from senate.config import ClusterConfig
from senate.errors import ConfigError
from senate.launcher import MAX_NODES, LauncherError, LocalCluster, free_base_port
from senate.loadgen import (
    CLIENT_KINDS,
    LoadError,
    LoadResult,
    LoadSpec,
    parse_endpoint,
    parse_ratio,
    run_load_subprocess,
)
from senate.loadgen import Progress as LoadProgress
from senate.runtime.transport import parse_host_port
from senate.sim import SUPPORTED_SIZES, SimSummary, run_seeds, trace
from senate.status import NodeReport, leader_commit, probe, report_json

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
    "client",
    "stale",
    "balancer",
    "plot_path",
)
#: The options only `--client senate` takes.
SENATE_CLIENT_OPTIONS = ("stale", "balancer")
#: How long the local cluster plain `senate bench` starts may take to elect a leader.
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
    help="Requests each client keeps in flight (with --client resp).",
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
    "--client",
    default="resp",
    show_default=True,
    type=click.Choice(CLIENT_KINDS),
    help="resp: pipelined RESP connections; senate: one senate.Client given every endpoint, "
    "each of the --clients making one call at a time (--pipeline 1).",
)
@click.option(
    "--stale",
    is_flag=True,
    help="With --client senate: stale reads, spread over the followers by the balancer.",
)
@click.option(
    "--balancer",
    type=click.Choice(balancer_names()),
    help=f"With --client senate: the balancer of stale reads [default: {DEFAULT_BALANCER}].",
)
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
    client: str,
    stale: bool,
    balancer: str | None,
    batch: list[int],
    entries: int | None,
    seconds: float,
    payload_bytes: int,
    json_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Measure a cluster: GET/SET operations per second and their latency.

    Starts a local cluster of --nodes nodes and loads it from a separate process, or loads
    the cluster at --endpoints. With --client senate, the load goes through senate.Client
    (to the leader; with --stale, reads to the followers). With --sim, measures committed
    entries per second of a fault-free simulated cluster instead, every message going through
    the wire codec.
    """
    if sim:
        if misplaced := _given(ctx, LOAD_OPTIONS):
            raise click.UsageError(f"{', '.join(misplaced)} cannot be used with --sim")
        _check_sizes(nodes)
        _bench_sim(nodes, batch, entries, seconds, payload_bytes, json_path)
        return
    if misplaced := _given(ctx, SIM_OPTIONS):
        raise click.UsageError(f"{', '.join(misplaced)} can only be used with --sim")
    if client == "senate":
        if pipeline != 1 and _given(ctx, ("pipeline",)):
            raise click.UsageError(
                f"--pipeline {pipeline} cannot be used with --client senate: each client makes "
                "one call at a time"
            )
        pipeline = 1
    elif misplaced := _given(ctx, SENATE_CLIENT_OPTIONS):
        raise click.UsageError(f"{', '.join(misplaced)} can only be used with --client senate")

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
            client=client,
            stale=stale,
            balancer=balancer,
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
    """Starts a local cluster of `nodes` `senate serve` processes (fsync on) in a temporary
    directory; yields their client endpoints ("host:port")."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="senate-bench-") as data_dir:
        cluster = LocalCluster(
            nodes=nodes, data_dir=Path(data_dir), base_port=free_base_port(nodes), fsync=True
        )
        with cluster:
            leader = cluster.wait_ready(LOCAL_CLUSTER_READY_TIMEOUT_S)
            console.print(
                f"local cluster: {nodes} `senate serve` processes, fsync on, leader {leader}"
            )
            for node in cluster.nodes:
                console.print(
                    f"  node {node.id} pid={node.pid} peer={node.peer} client={node.client}",
                    highlight=False,
                )
            yield [str(node.client) for node in cluster.nodes]


def _bench_load(spec: LoadSpec, json_path: Path | None, plot_path: Path | None) -> None:
    """Runs the load generator in a subprocess, with a progress bar, and reports."""
    console = Console()
    cpu = cpu_model()
    console.print(f"[bold]senate bench[/bold]: {', '.join(spec.endpoints)}. CPU: {cpu}")
    result = _run_with_progress(console, spec)
    console.print(result_table(result))
    if (by_node := per_node_table(result)) is not None:
        console.print(by_node)
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

    Every node runs the production driver, persisting by the caller: its log writes complete
    later on a simulated disk (or stall, on a slow node) and a crash loses those in flight.
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


# --- senate serve ----------------------------------------------------------------------------

#: One line per event: time, level, logger, message (senate's messages name the node).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("debug", "info", "warning", "error")


def _load_cluster(path: Path) -> ClusterConfig:
    """The cluster file, or `error: ...` and exit status 2."""
    try:
        return ClusterConfig.load(path)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None


async def _run_until_signalled(coro: Coroutine[Any, Any, None]) -> None:
    """Runs `coro` until it returns or SIGTERM/SIGINT cancels it (a clean stop)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    signalled: list[int] = []

    def on_signal(signum: int) -> None:
        signalled.append(signum)
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await task
    except asyncio.CancelledError:
        if not signalled:
            raise
        logging.getLogger("senate.cli").info("stopped on %s", signal.Signals(signalled[0]).name)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


@main.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The cluster file (TOML).",
)
@click.option("--id", "node_id", required=True, type=click.IntRange(min=1), help="This node's id.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
)
def serve(config_path: Path, node_id: int, log_level: str) -> None:
    """Run one node of the key-value service (RESP2/3 on its client port) until SIGTERM/SIGINT.

    A bad cluster file prints `error: <what and where>` and exits with status 2.
    """
    cluster = _load_cluster(config_path)
    try:
        server_config = cluster.server_config(node_id)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    from senate import kv  # the service, imported only by the command that runs it

    senate.run(_run_until_signalled(kv.serve(server_config)))


# --- senate cluster --------------------------------------------------------------------------

#: Where `senate cluster` keeps its cluster file, logs and node data unless --data-dir says.
DEFAULT_CLUSTER_DIR = Path("senate-data")


@main.command()
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, MAX_NODES))
@click.option(
    "--data-dir",
    default=DEFAULT_CLUSTER_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="cluster.toml, the nodes' logs (node-N/) and their output (node-N.log); kept.",
)
@click.option(
    "--base-port",
    default=7100,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Node N listens on P+N (peers), P+100+N (clients), P+200+N (metrics).",
)
@click.option("--protocol", default="raft", show_default=True, help="The consensus protocol.")
@click.option("--fsync/--no-fsync", default=True, show_default=True, help="fsync every write.")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="Seconds to wait.")
def cluster(
    nodes: int, data_dir: Path, base_port: int, protocol: str, fsync: bool, timeout_s: float
) -> None:
    """Run a local cluster of NODES `senate serve` processes until Ctrl-C or SIGTERM.

    Prints one line per node, then `cluster ready: leader <id>` once every node answers and a
    leader is elected. On Ctrl-C/SIGTERM it stops every node and exits with status 0.
    """
    if protocol != "raft":
        raise click.BadParameter(
            f"only raft exists today, not {protocol!r}", param_hint="--protocol"
        )
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    local = LocalCluster(nodes, data_dir=data_dir, base_port=base_port, fsync=fsync)
    try:
        local.start()
        for node in local.nodes:
            click.echo(f"node {node.id} pid={node.pid} peer={node.peer} client={node.client}")
        sys.stdout.flush()
        leader = _wait_or_stop(local, stop, timeout_s)
        if leader is not None:
            click.echo(f"cluster ready: leader {leader}")
            sys.stdout.flush()
            _watch(local, stop)
    except (LauncherError, TimeoutError) as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    finally:
        statuses = local.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo("stopped: " + ", ".join(f"node {i} exit {c}" for i, c in statuses.items()))


def _wait_or_stop(local: LocalCluster, stop: threading.Event, timeout_s: float) -> int | None:
    """The leader once the cluster is ready; None when stopped first."""
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        try:
            return local.wait_ready(timeout_s=min(1.0, max(0.0, deadline - time.monotonic())))
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
    return None


def _watch(local: LocalCluster, stop: threading.Event) -> None:
    """Waits for the stop signal, reporting nodes that exit meanwhile."""
    reported: set[int] = set()
    while not stop.wait(0.5):
        for node in local.nodes:
            if node.pid is None and node.id not in reported:
                reported.add(node.id)
                click.echo(f"node {node.id} exited; see {node.log_path}", err=True)


# --- senate status ---------------------------------------------------------------------------


def _status_targets(
    config_path: Path | None, endpoints: str | None
) -> list[tuple[str, int | None]]:
    if (config_path is None) == (endpoints is None):
        raise click.UsageError("give either --config or --endpoints")
    if config_path is not None:
        return [(n.client, n.id) for n in _load_cluster(config_path).nodes]
    assert endpoints is not None
    addresses = [a.strip() for a in endpoints.split(",") if a.strip()]
    for address in addresses:
        try:
            parse_host_port(address)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--endpoints") from None
    if not addresses:
        raise click.BadParameter("no address given", param_hint="--endpoints")
    return [(a, None) for a in addresses]


#: Columns of the status table when the output is not a terminal (a file or a pipe).
STATUS_PIPED_WIDTH = 120


def _status_table(reports: list[NodeReport], leader_commit_index: int | None) -> Table:
    table = Table(title="senate status", box=box.SIMPLE_HEAVY)
    for column in ("id", "address", "pid", "role", "term", "leader", "commit", "applied", "lag"):
        table.add_column(
            column, justify="left" if column in ("address", "role") else "right", no_wrap=True
        )
    table.add_column("peers up", no_wrap=True)
    for report in reports:
        info = report.info
        if info is None:
            expected = "?" if report.expected_id is None else str(report.expected_id)
            down = [expected, report.address, "", "[bold red]down[/bold red]"]
            # The error's kind only (`--json` has the whole message): it must not squeeze the
            # other columns.
            error = (report.error or "").split(":", 1)[0]
            table.add_row(*down, "", "", "", "", "", error)
            continue
        lag = "?" if leader_commit_index is None else str(leader_commit_index - info.applied_index)
        role = f"[bold green]{info.role}[/bold green]" if info.role == "leader" else info.role
        table.add_row(
            str(info.node_id),
            report.address,
            str(info.pid),
            role,
            str(info.term),
            "-" if info.leader is None else str(info.leader),
            str(info.commit_index),
            str(info.applied_index),
            lag,
            f"{info.peers_connected}/{len(info.peers)}",
        )
    return table


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The cluster file: asks every node in it.",
)
@click.option("--endpoints", help="Client addresses to ask, comma-separated (host:port,...).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option(
    "--timeout",
    "timeout_s",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds to wait for each node.",
)
def status(
    config_path: Path | None, endpoints: str | None, as_json: bool, timeout_s: float
) -> None:
    """Ask every node for its state (`INFO senate` on its client port).

    Nodes that do not answer are shown as down. Lag is the leader's commit index minus the
    node's applied index. Exits with status 1 when no node answers.
    """
    targets = _status_targets(config_path, endpoints)
    with ThreadPoolExecutor(max_workers=min(len(targets), 32)) as pool:
        reports = list(pool.map(lambda t: probe(t[0], timeout_s, t[1]), targets))
    commit = leader_commit(reports)
    if as_json:
        click.echo(json.dumps([report_json(r, commit) for r in reports], indent=2))
    else:
        console = Console()
        if not console.is_terminal:  # piped: rich would assume 80 columns and abridge cells
            console = Console(width=STATUS_PIPED_WIDTH)
        console.print(_status_table(reports, commit))
    if not any(r.up for r in reports):
        raise SystemExit(1)
