"""`senate chaos`: a real local cluster under a seeded nemesis, its clients' history checked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console

from senate.chaos.nemesis import FAULT_KINDS
from senate.config import PROTOCOLS


def _kinds(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    kinds = FAULT_KINDS if value == "all" else tuple(k.strip() for k in value.split(","))
    if unknown := [k for k in kinds if k not in FAULT_KINDS]:
        raise click.BadParameter(
            f"unknown fault kind(s) {', '.join(unknown)}; choose among {', '.join(FAULT_KINDS)}"
        )
    return kinds


@click.command()
@click.option("--nodes", default=3, show_default=True, type=click.Choice(["3", "5"]))
@click.option("--protocol", default="raft", show_default=True, type=click.Choice(PROTOCOLS))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--duration",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=5, max=24 * 3600),
    help="Seconds of the fault phase.",
)
@click.option(
    "--faults",
    "kinds",
    default="all",
    show_default=True,
    callback=_kinds,
    help=f"Fault kinds, comma-separated, or all: {', '.join(FAULT_KINDS)}.",
)
@click.option("--clients", default=10, show_default=True, type=click.IntRange(2, 1000))
@click.option(
    "--network",
    default="transport",
    show_default=True,
    type=click.Choice(["transport", "nftables"]),
    help="How partitions are made: links cut in the nodes' peer transport, or nftables rules "
    "dropping packets between per-node loopback addresses (needs nft and root).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The report directory [default: chaos-<time>].",
)
def chaos(
    nodes: str,
    protocol: str,
    seed: int,
    duration: float,
    kinds: tuple[str, ...],
    clients: int,
    network: str,
    out_dir: Path | None,
) -> None:
    """Run a local cluster under faults, check what its clients saw, and report.

    Starts NODES `senate serve` processes (fsync on), runs CLIENTS concurrent clients (half
    through redis-py, half through senate.Client) doing GET, SET, APPEND and INCR on a few
    keys, and a nemesis whose schedule comes from SEED: kills and restarts, pauses,
    partitions (the leader isolated, a minority split off, a bridge, one way), stalled disks,
    snapshots and leadership transfers under faults. Then it heals everything, reads every
    key, checks the history and writes the report directory. Exits with status 1 if any
    anomaly was found.
    """
    from senate.chaos.checks import check_run
    from senate.chaos.netfilter import unavailable_reason
    from senate.chaos.report import faults_table, summary, summary_table, write_plot
    from senate.chaos.runner import ChaosSpec, run_chaos

    out = out_dir or Path(time.strftime("chaos-%Y%m%d-%H%M%S"))
    console = Console()
    spec = ChaosSpec(
        out_dir=out,
        nodes=int(nodes),
        protocol=protocol,
        seed=seed,
        duration_s=duration,
        kinds=kinds,
        clients=clients,
        network=network,
    )
    if network == "nftables" and (reason := unavailable_reason()) is not None:
        raise click.UsageError(f"--network nftables: {reason}")
    console.print(
        f"[bold]senate chaos[/bold]: {nodes} nodes, {protocol}, seed {seed}, {duration:g} s "
        f"of faults ({', '.join(kinds)}), partitions by {network}, {clients} clients; "
        f"report in {out}"
    )
    run = run_chaos(spec)
    result = check_run(run, out)
    figures = summary(run)
    (out / "summary.json").write_text(json.dumps(figures, indent=2) + "\n")
    write_plot(run, out / "plot.png")
    console.print(faults_table(run))
    console.print(summary_table(figures))
    console.print(
        f"linearizability: {result.status} ({len(run.operations):,} operations, "
        f"{result.parts} keys, {result.steps:,} search steps)",
        highlight=False,
    )
    for anomaly in run.anomalies:
        console.print(f"[bold red]anomaly:[/bold red] {anomaly}", highlight=False)
    console.print(f"history, report.html, plot.png and the nodes' logs in {out}")
    if run.anomalies:
        raise SystemExit(1)
