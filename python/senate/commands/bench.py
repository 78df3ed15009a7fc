"""`senate bench`: a local or given cluster under load, or a simulated one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from senate.bench import (
    DEFAULT_SECONDS_PER_ROW,
    BenchmarkFailed,
    BenchRow,
    cpu_model,
    run_sim_bench,
)
from senate.bench_report import (
    per_node_table,
    problems,
    result_table,
    write_json,
    write_plot,
)
from senate.client import DEFAULT_BALANCER, balancer_names
from senate.commands.bench_local import (
    Variant,
    bench_side_by_side,
    load_spec,
    run_with_progress,
    started_local_cluster,
    variants,
)
from senate.commands.options import (
    CLIENT_SECURITY_OPTIONS,
    check_sizes,
    client_security,
    client_security_options,
    given,
    int_list,
    load_cluster,
)
from senate.config import PROTOCOLS
from senate.loadspec import (
    CLIENT_KINDS,
    LoadSpec,
    parse_endpoint,
    parse_ratio,
)
from senate.security.client_security import ClientSecurity

#: The options of the simulated benchmark (`--sim`) and of the load generator (the others).
SIM_OPTIONS = ("batch", "entries", "seconds", "payload_bytes")
LOAD_OPTIONS = (
    "endpoints",
    "config_path",
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
    *CLIENT_SECURITY_OPTIONS,
)
#: The client options a local cluster makes for itself (its certificates; it has no users).
LOCAL_CLUSTER_MADE = ("cacert", "cert", "key", "no_check_hostname", "user", "password")
#: The options only `--client senate` takes.
SENATE_CLIENT_OPTIONS = ("stale", "balancer")
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
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load the running cluster of this cluster file (its client addresses; its [tls]).",
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
@client_security_options
@click.pass_context
def bench(
    ctx: click.Context,
    /,
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
    config_path: Path | None,
    **security_options: Any,
) -> None:
    """Measure a cluster: GET/SET operations per second and their latency.

    Starts a local cluster of --nodes nodes and loads it from a separate process, or loads
    the cluster at --endpoints (or of --config), over TLS and with credentials as --tls,
    --cacert, --cert, --key, --user and --pass say. With --client senate, the load goes
    through senate.Client (to the leader; with --stale, reads to the followers). With --sim,
    measures committed entries per second of a fault-free simulated cluster instead, every
    message going through the wire codec, of each --protocol in turn.

    With --tls and a local cluster, the same load runs on clusters with TLS between peers
    and for clients and on clusters without, alternating on fresh clusters for --rounds,
    and the TLS cost is reported as the ratio of their throughputs within each round.
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

    def spec_for(targets: list[str], security: ClientSecurity) -> LoadSpec:
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
            security=security,
        )

    if endpoints or config_path is not None:
        if misplaced := given(ctx, ("nodes", "protocol", "rounds")):
            raise click.UsageError(
                f"{', '.join(misplaced)} cannot be used with --endpoints or --config"
            )
        if endpoints and config_path is not None:
            raise click.UsageError("give --endpoints or --config, not both")
        cluster = None if config_path is None else load_cluster(config_path)
        targets = endpoints if cluster is None else [node.client for node in cluster.nodes]
        security = client_security(cluster, **security_options)
        _bench_load(spec_for(targets, security), json_path, plot_path)
        return
    if misplaced := given(ctx, LOCAL_CLUSTER_MADE):
        raise click.UsageError(
            f"{', '.join(misplaced)} cannot be used with a local cluster: with --tls it makes "
            "its certificates"
        )
    check_sizes(nodes)
    if len(nodes) != 1:
        raise click.BadParameter("one cluster size, without --sim", param_hint="--nodes")
    tls = bool(security_options["tls"])
    if len(protocol) == 1 and rounds == 1 and not tls:
        with started_local_cluster(nodes[0], Variant(protocol[0])) as local:
            _bench_load(load_spec(local, spec_for), json_path, plot_path)
        return
    if plot_path is not None:
        raise click.UsageError("--plot takes one run: one --protocol, one round, no --tls")
    bench_side_by_side(nodes[0], variants(protocol, tls), rounds, spec_for, json_path)


def _bench_load(spec: LoadSpec, json_path: Path | None, plot_path: Path | None) -> None:
    """Runs the load generator in a subprocess, with a progress bar, and reports."""
    console = Console()
    cpu = cpu_model()
    console.print(f"[bold]senate bench[/bold]: {', '.join(spec.endpoints)}. CPU: {cpu}")
    result = run_with_progress(console, spec)
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
