"""`senate bench`: a local or given cluster under load, or a simulated one."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from senate.bench import (
    DEFAULT_SECONDS_PER_ROW,
    BenchmarkFailed,
    BenchRow,
    cpu_model,
    run_sim_bench,
)
from senate.bench_report import (
    ProtocolRun,
    cpu_line,
    failover_line,
    per_node_table,
    problems,
    protocols_cost_table,
    protocols_table,
    result_table,
    summarize_protocols,
    write_json,
    write_plot,
    write_side_by_side_json,
)
from senate.client import DEFAULT_BALANCER, balancer_names
from senate.commands.options import check_sizes, given, int_list
from senate.config import PROTOCOLS
from senate.failover import FailoverError, current_leader, measure_failover
from senate.launcher import LocalCluster, free_base_port
from senate.loadgen import LoadError, run_load_subprocess
from senate.loadspec import (
    CLIENT_KINDS,
    LoadResult,
    LoadSpec,
    parse_endpoint,
    parse_ratio,
)
from senate.loadspec import Progress as LoadProgress
from senate.proc_cpu import CpuWindow

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
    "rounds",
)
#: What the progress bar says in each phase of the load.
PHASE_DESCRIPTIONS = {"warmup": "warming up", "measure": "measuring", "drain": "draining"}
#: The options only `--client senate` takes.
SENATE_CLIENT_OPTIONS = ("stale", "balancer")
#: How long the local cluster plain `senate bench` starts may take to elect a leader.
LOCAL_CLUSTER_READY_TIMEOUT_S = 60.0
#: Bytes per value unless --value-size says otherwise: YCSB's field size, a small record;
#: the benchmark measures the cost of an operation, not the bandwidth of the log.
DEFAULT_VALUE_SIZE = 100


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


def _protocols(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    """Parses "raft,paxos": each a protocol, none twice."""
    names = [name.strip() for name in value.split(",")]
    for name in names:
        if name not in PROTOCOLS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(PROTOCOLS)}")
    if len(set(names)) != len(names):
        raise click.BadParameter("a protocol named twice")
    return names


def _ratio(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        parse_ratio(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.command()
@click.option(
    "--sim",
    is_flag=True,
    help="Benchmark the simulated cluster, in one thread, instead of a real one.",
)
@click.option(
    "--nodes",
    default="3",
    show_default=True,
    callback=int_list,
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
    "--protocol",
    "protocol",
    default="raft",
    show_default=True,
    callback=_protocols,
    help="The consensus protocol of the local cluster; several (raft,paxos) run side by side, "
    "alternating per round on fresh clusters. With --sim: the protocols measured, in turn "
    "for each batch.",
)
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Rounds of every --protocol in turn; the side-by-side table gives medians over them.",
)
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
    callback=int_list,
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
    protocol: list[str],
    rounds: int,
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
    the wire codec, of each --protocol in turn.
    """
    if sim:
        if misplaced := given(ctx, LOAD_OPTIONS):
            raise click.UsageError(f"{', '.join(misplaced)} cannot be used with --sim")
        check_sizes(nodes)
        _bench_sim(protocol, nodes, batch, entries, seconds, payload_bytes, json_path)
        return
    if misplaced := given(ctx, SIM_OPTIONS):
        raise click.UsageError(f"{', '.join(misplaced)} can only be used with --sim")
    if client == "senate":
        if pipeline != 1 and given(ctx, ("pipeline",)):
            raise click.UsageError(
                f"--pipeline {pipeline} cannot be used with --client senate: each client makes "
                "one call at a time"
            )
        pipeline = 1
    elif misplaced := given(ctx, SENATE_CLIENT_OPTIONS):
        raise click.UsageError(f"{', '.join(misplaced)} can only be used with --client senate")

    def spec_for(targets: list[str]) -> LoadSpec:
        return LoadSpec(
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

    def load(targets: list[str]) -> None:
        _bench_load(spec_for(targets), json_path, plot_path)

    if endpoints:
        if misplaced := given(ctx, ("nodes", "protocol", "rounds")):
            raise click.UsageError(f"{', '.join(misplaced)} cannot be used with --endpoints")
        load(endpoints)
        return
    check_sizes(nodes)
    if len(nodes) != 1:
        raise click.BadParameter("one cluster size, without --sim", param_hint="--nodes")
    if len(protocol) == 1 and rounds == 1:
        with _local_cluster(nodes[0], protocol[0]) as client_endpoints:
            load(client_endpoints)
        return
    if plot_path is not None:
        raise click.UsageError("--plot takes one run: one --protocol, one round")
    _bench_side_by_side(nodes[0], protocol, rounds, spec_for, json_path)


@contextlib.contextmanager
def _local_cluster(nodes: int, protocol: str) -> Iterator[list[str]]:
    """Starts a local cluster of `nodes` `senate serve` processes (fsync on) speaking
    `protocol` in a temporary directory; yields their client endpoints ("host:port")."""
    with _started_local_cluster(nodes, protocol) as cluster:
        yield [str(node.client) for node in cluster.nodes]


@contextlib.contextmanager
def _started_local_cluster(nodes: int, protocol: str) -> Iterator[LocalCluster]:
    """`_local_cluster`, yielding the cluster once it has a leader."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="senate-bench-") as data_dir:
        cluster = LocalCluster(
            nodes=nodes,
            data_dir=Path(data_dir),
            base_port=free_base_port(nodes),
            fsync=True,
            overrides={"protocol": protocol},
        )
        with cluster:
            leader = cluster.wait_ready(LOCAL_CLUSTER_READY_TIMEOUT_S)
            console.print(
                f"local cluster: {nodes} `senate serve` processes ({protocol}), fsync on,"
                f" leader {leader}"
            )
            for node in cluster.nodes:
                console.print(
                    f"  node {node.id} pid={node.pid} peer={node.peer} client={node.client}",
                    highlight=False,
                )
            yield cluster


def _bench_side_by_side(
    nodes: int,
    protocols: list[str],
    rounds: int,
    spec_for: Callable[[list[str]], LoadSpec],
    json_path: Path | None,
) -> None:
    """Runs the load on a fresh local cluster of each protocol in turn, `rounds` times, and
    prints each run and then the protocols side by side (and writes them to `json_path`).
    Each run also measures the CPU time of every node in the load's window and, after the
    load, the failover time (the leader SIGKILLed under one writer's SETs)."""
    console = Console()
    console.print(f"[bold]senate bench[/bold]: {', '.join(protocols)}. CPU: {cpu_model()}")
    runs: list[dict[str, ProtocolRun]] = []
    for round_number in range(1, rounds + 1):
        this: dict[str, ProtocolRun] = {}
        for protocol in protocols:
            with _started_local_cluster(nodes, protocol) as cluster:
                title = f"{protocol}, round {round_number} of {rounds}"
                this[protocol] = _measure_protocol(console, cluster, spec_for, title)
        runs.append(this)
    summaries = summarize_protocols(runs)
    console.print(protocols_table(summaries))
    console.print(protocols_cost_table(runs, summaries))
    if json_path is not None:
        write_side_by_side_json(runs, summaries, json_path)
        console.print(f"wrote the rounds and their summary to {json_path}")


def _measure_protocol(
    console: Console,
    cluster: LocalCluster,
    spec_for: Callable[[list[str]], LoadSpec],
    title: str,
) -> ProtocolRun:
    """One run of the side-by-side bench on `cluster`: the load, with the nodes' CPU time
    and the leader read at the edges of its measured window (the load generator's progress
    reports mark them: the CPU is read first), then the failover."""
    pids = {node.id: node.pid for node in cluster.nodes if node.pid is not None}
    assert len(pids) == len(cluster.nodes), "a node is not running"
    window = CpuWindow(pids.values())
    leaders: list[int | None] = []  # at the window's start and end

    def at_window_edges(update: LoadProgress) -> None:
        if update.phase == "measure" and not window.started:
            window.start()
            leaders.append(current_leader(cluster))
        elif update.phase == "drain":
            window.stop()
            leaders.append(current_leader(cluster))

    spec = spec_for([node.client for node in cluster.nodes])
    result = _run_with_progress(console, spec, at_window_edges)
    console.print(result_table(result, title=title))
    if issues := problems(result):
        for line in issues:
            console.print(f"[bold red]{line}[/bold red]", highlight=False)
        raise SystemExit(1)
    try:
        failover = measure_failover(cluster)
    except FailoverError as error:
        raise click.ClickException(f"failover: {error}") from None
    assert len(leaders) == 2, leaders
    known = [leader for leader in leaders if leader is not None]
    run = ProtocolRun(
        result=result,
        leader=known[0] if known else failover.killed,
        leader_moved=len(set(leaders)) != 1 or None in leaders,
        cpu_s={node: window.used[pid] for node, pid in pids.items()},
        failover=failover,
    )
    console.print(cpu_line(run), highlight=False)
    if run.leader_moved:
        start, end = ("none" if leader is None else f"node {leader}" for leader in leaders)
        console.print(
            f"[yellow]leader at the window's start: {start}, at its end: {end}; "
            "the CPU per role mixes them[/yellow]"
        )
    console.print(failover_line(failover), highlight=False)
    return run


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


def _run_with_progress(
    console: Console,
    spec: LoadSpec,
    on_update: Callable[[LoadProgress], None] | None = None,
) -> LoadResult:
    """`run_load_subprocess(spec)` under a progress bar (shown on terminals only); each
    progress report goes to `on_update` first, as soon as it is read."""
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
            if on_update is not None:
                on_update(update)
            measured_s = update.elapsed_s - spec.warmup_s
            rate = f"{update.ops / measured_s:,.0f} ops/s" if measured_s > 0 else ""
            description = PHASE_DESCRIPTIONS.get(update.phase, update.phase)
            progress.update(task, completed=update.elapsed_s, description=description, rate=rate)

        try:
            return run_load_subprocess(spec, on_progress)
        except LoadError as error:
            raise click.ClickException(str(error)) from None


def _bench_sim(
    protocols: list[str],
    nodes: list[int],
    batch: list[int],
    entries: int | None,
    seconds: float,
    payload_bytes: int,
    json_path: Path | None,
) -> None:
    """The simulated cluster in one thread, every message going through the wire codec: one
    table, a row per (nodes, batch, protocol), the protocols of one batch together."""
    console = Console()
    cpu = cpu_model()
    console.print(f"[bold]senate bench[/bold]: simulated cluster, one thread. CPU: {cpu}")
    # Two spaces between columns and none at the edges: eight columns of eight-digit rates
    # and ten-digit entry counts fit in 80.
    table = Table(
        title="committed entries per second",
        box=box.SIMPLE_HEAVY,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("protocol")
    for column in ("nodes", "batch", "entries", "seconds", "entries/s", "messages/s", "wire MB/s"):
        table.add_column(column, justify="right")

    def add_row(row: BenchRow) -> None:
        if len(protocols) > 1 and row.protocol == protocols[0] and table.row_count > 0:
            table.add_section()
        table.add_row(
            row.protocol,
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
                nodes,
                batch,
                payload_bytes,
                entries,
                protocols=protocols,
                seconds_per_row=seconds,
                on_row=add_row,
            )
    except BenchmarkFailed as failed:
        console.print(table)
        raise click.ClickException(str(failed)) from None
    console.print(table)
    if json_path is not None:
        records = [dict(row.to_json(), cpu=cpu) for row in rows]
        json_path.write_text(json.dumps(records, indent=2) + "\n")
        console.print(f"wrote {len(records)} rows to {json_path}")
