"""`senate bench` on local clusters: one run, or variants side by side over alternated rounds.

A variant is a kind of local cluster: a protocol, with or without TLS (`--tls`: mutual TLS
between peers and TLS for clients, certificates made for the run). Side by side, each round
runs every variant in turn on a fresh cluster, and every figure is reported as a median over
rounds, ratios taken within each round (that cancels the drift of a shared machine).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from senate.bench import cpu_model
from senate.bench_report import (
    TLS_LABEL_SUFFIX,
    ProtocolRun,
    cpu_line,
    failover_line,
    problems,
    protocols_cost_table,
    protocols_table,
    result_table,
    summarize_protocols,
    tls_cost_lines,
    write_side_by_side_json,
)
from senate.failover import FailoverError, current_leader, measure_failover
from senate.launcher import LocalCluster, free_base_port
from senate.loadgen import LoadError
from senate.loadgen_process import run_load_subprocess
from senate.loadspec import LoadResult, LoadSpec
from senate.loadspec import Progress as LoadProgress
from senate.proc_cpu import CpuWindow
from senate.security.client_security import ClientSecurity

#: What the progress bar says in each phase of the load.
PHASE_DESCRIPTIONS = {"warmup": "warming up", "measure": "measuring", "drain": "draining"}
#: How long a local cluster may take to elect a leader.
LOCAL_CLUSTER_READY_TIMEOUT_S = 60.0

#: The load for a cluster's client endpoints, connecting as the security says.
SpecFor = Callable[[list[str], ClientSecurity], LoadSpec]


@dataclass(frozen=True)
class Variant:
    """A kind of local cluster: its protocol, and whether peers and clients speak TLS."""

    protocol: str
    tls: bool = False

    @property
    def label(self) -> str:
        """ "raft", "raft+tls": the name of its rows."""
        return self.protocol + (TLS_LABEL_SUFFIX if self.tls else "")


def variants(protocols: list[str], tls: bool) -> list[Variant]:
    """Each protocol, then (with `tls`) each followed by itself over TLS."""
    return [
        Variant(p, with_tls) for p in protocols for with_tls in ((False, True) if tls else (False,))
    ]


@contextlib.contextmanager
def started_local_cluster(nodes: int, variant: Variant) -> Iterator[LocalCluster]:
    """A local cluster of `nodes` `senate serve` processes (fsync on) of `variant` in a
    temporary directory (its certificates too), yielded once it has a leader."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="senate-bench-") as data_dir:
        cluster = LocalCluster(
            nodes=nodes,
            data_dir=Path(data_dir),
            base_port=free_base_port(nodes),
            fsync=True,
            overrides={"protocol": variant.protocol},
            tls=variant.tls,
        )
        with cluster:
            leader = cluster.wait_ready(LOCAL_CLUSTER_READY_TIMEOUT_S)
            over = ", TLS for peers and clients" if variant.tls else ""
            console.print(
                f"local cluster: {nodes} `senate serve` processes ({variant.protocol}{over}),"
                f" fsync on, leader {leader}"
            )
            for node in cluster.nodes:
                console.print(
                    f"  node {node.id} pid={node.pid} peer={node.peer} client={node.client}",
                    highlight=False,
                )
            yield cluster


def load_spec(cluster: LocalCluster, spec_for: SpecFor) -> LoadSpec:
    """The load for `cluster`'s client endpoints, over TLS if it speaks it."""
    security = cluster.client_security or ClientSecurity()
    return spec_for([node.client for node in cluster.nodes], security)


def bench_side_by_side(
    nodes: int,
    cluster_variants: list[Variant],
    rounds: int,
    spec_for: SpecFor,
    json_path: Path | None,
) -> None:
    """Runs the load on a fresh local cluster of each variant in turn, `rounds` times, and
    prints each run and then the variants side by side (and writes them to `json_path`).
    Each run also measures the CPU time of every node in the load's window and, after the
    load, the failover time (the leader SIGKILLed under one writer's SETs)."""
    console = Console()
    labels = ", ".join(variant.label for variant in cluster_variants)
    console.print(f"[bold]senate bench[/bold]: {labels}. CPU: {cpu_model()}")
    runs: list[dict[str, ProtocolRun]] = []
    for round_number in range(1, rounds + 1):
        this: dict[str, ProtocolRun] = {}
        for variant in cluster_variants:
            with started_local_cluster(nodes, variant) as cluster:
                title = f"{variant.label}, round {round_number} of {rounds}"
                this[variant.label] = _measure_variant(console, cluster, spec_for, title)
        runs.append(this)
    summaries = summarize_protocols(runs)
    console.print(protocols_table(summaries))
    console.print(protocols_cost_table(runs, summaries))
    for line in tls_cost_lines(runs):
        console.print(line, highlight=False)
    if json_path is not None:
        write_side_by_side_json(runs, summaries, json_path)
        console.print(f"wrote the rounds and their summary to {json_path}")


def _measure_variant(
    console: Console, cluster: LocalCluster, spec_for: SpecFor, title: str
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

    result = run_with_progress(console, load_spec(cluster, spec_for), at_window_edges)
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


def run_with_progress(
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
