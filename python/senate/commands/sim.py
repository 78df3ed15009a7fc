"""`senate sim`: the deterministic cluster simulation over many seeds."""

from __future__ import annotations

import json
import os
import time

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from senate.commands.options import check_sizes, int_list
from senate.scenarios import (
    DEFAULT_DEADLINE_ELECTION_TIMEOUTS,
    SCENARIOS,
    ScenarioSummary,
    Spread,
    parse_scenarios,
    run_scenarios,
)
from senate.sim import DEFAULT_PROTOCOL, PROTOCOLS, SimSummary, parse_protocols, run_seeds, trace

#: Ticks of the fault phase of each `senate sim` run unless --ticks says otherwise.
DEFAULT_SIM_TICKS = 2000


def _print_sim_summary(console: Console, summary: SimSummary, seconds: float) -> None:
    title = f"deterministic simulation: {summary.protocol}"
    table = Table(title=title, box=box.SIMPLE_HEAVY, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    last_seed = summary.first_seed + summary.seeds - 1
    table.add_row("protocol", summary.protocol)
    table.add_row("cluster sizes", ", ".join(map(str, summary.sizes)))
    table.add_row("seeds run", f"{summary.seeds} ({summary.first_seed}..{last_seed} per size)")
    table.add_row("runs", f"{summary.runs}")
    table.add_row("ticks per run", f"{summary.ticks} + heal")
    table.add_row("steps checked", f"{summary.steps_checked}")
    table.add_row("faults injected", f"{summary.faults_injected}")
    for kind, count in summary.faults.items():
        table.add_row(f"  {kind.replace('_', ' ')}", f"{count}")
    leaderships = "leader terms" if summary.protocol == "raft" else "leader ballots"
    table.add_row(leaderships, f"{summary.leader_terms}")
    table.add_row("entries committed", f"{summary.committed_entries}")
    table.add_row("snapshots restored", f"{summary.snapshots_restored}")
    table.add_row("reads confirmed", f"{summary.reads_confirmed}")
    style = "bold red" if summary.failures else "bold green"
    table.add_row("violations found", f"[{style}]{summary.violations}[/{style}]")
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)


def _print_failures(console: Console, summary: SimSummary, trace_lines: int) -> None:
    for failure in summary.failures:
        where = f"protocol={failure.protocol} nodes={failure.nodes} seed={failure.seed}"
        console.print(f"[bold red]violation[/bold red] {where}:")
        for violation in failure.violations:
            console.print(f"  {violation}", markup=False, highlight=False)
        replay = f"  replay: {failure.replay_command()}"
        console.print(replay, markup=False, highlight=False, soft_wrap=True)
        if trace_lines > 0:
            console.print(f"  its last {trace_lines} events:")
            lines = trace(failure.nodes, failure.seed, failure.ticks, trace_lines, failure.protocol)
            for line in lines:
                console.print(f"    {line}", markup=False, highlight=False)
    if summary.failures and trace_lines == 0:
        console.print("(add --trace 100 to a replay command to see the last events of its run)")


def _given(ctx: click.Context, options: dict[str, str]) -> list[str]:
    """The flags of `options` (parameter name -> flag) given on the command line."""
    sources = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return [flag for name, flag in options.items() if ctx.get_parameter_source(name) in sources]


def _spread(spread: Spread, election_timeout_ticks: int, *, ticks: bool = False) -> str:
    if spread.median is None or spread.max is None:
        return "-"
    if not ticks:
        return f"median {spread.median:g}, max {spread.max}"
    et = election_timeout_ticks or 1
    median, largest = spread.median, spread.max
    return f"median {median:g} ({median / et:.1f} ET), max {largest} ({largest / et:.1f} ET)"


def _print_scenario(console: Console, summary: ScenarioSummary) -> None:
    et = summary.election_timeout_ticks
    deadline = summary.deadline_election_timeouts
    title = f"{summary.scenario} ({summary.nodes} nodes)"
    table = Table(title=title, box=box.SIMPLE_HEAVY, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    last_seed = summary.first_seed + summary.seeds - 1
    table.add_row("protocol", summary.protocol)
    table.add_row("seeds run", f"{summary.seeds} ({summary.first_seed}..{last_seed})")
    table.add_row("deadline", f"{deadline} ET ({deadline * et} ticks) after the cut")
    recovered = "yes" if summary.recovered == summary.seeds else "no"
    if 0 < summary.recovered < summary.seeds:
        recovered = "partly"
    table.add_row("recovered", f"{recovered}: {summary.recovered} of {summary.seeds}")
    table.add_row("ticks to recover", _spread(summary.ticks_to_recover, et, ticks=True))
    table.add_row("leader changes", _spread(summary.leader_changes, et))
    table.add_row("epoch (term) changes", _spread(summary.epoch_changes, et))
    probes = f"{summary.probes_committed} of {summary.probes_proposed}"
    table.add_row("probes committed", probes)
    style = "bold red" if summary.failures else "bold green"
    table.add_row("violations found", f"[{style}]{len(summary.failures)}[/{style}]")
    console.print(table)
    for failure in summary.failures:
        for violation in failure.violations:
            console.print(f"  {violation}", markup=False, highlight=False)
    for command in summary.replay_commands():
        console.print(f"  replay: {command}", markup=False, highlight=False, soft_wrap=True)


def _run_scenarios(
    names: list[str],
    protocols: list[str],
    seeds: int,
    first_seed: int,
    deadline: int,
    jobs: int | None,
    as_json: bool,
) -> None:
    summaries = run_scenarios(
        names,
        seeds,
        first_seed=first_seed,
        deadline_election_timeouts=deadline,
        jobs=jobs,
        protocols=protocols,
    )
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], indent=2))
    else:
        console = Console()
        for summary in summaries:
            _print_scenario(console, summary)
    if any(s.failures for s in summaries):
        raise SystemExit(1)


def _protocols(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    try:
        return parse_protocols(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@click.option(
    "--protocol",
    "protocols",
    default=DEFAULT_PROTOCOL,
    show_default=True,
    callback=_protocols,
    metavar="|".join(PROTOCOLS) + "[,...]",
    help="Protocols to run, comma-separated; each gets its own table.",
)
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
@click.option(
    "--scenario",
    "scenario",
    default=None,
    metavar="NAME[,NAME...]",
    help=(
        "Run partial-connectivity scenarios instead: "
        + ", ".join(SCENARIOS)
        + " or all. Each has its own cluster size."
    ),
)
@click.option(
    "--deadline",
    default=DEFAULT_DEADLINE_ELECTION_TIMEOUTS,
    show_default=True,
    type=click.IntRange(min=1, max=1000),
    help="With --scenario: election timeouts after the cut a proposal may take to commit.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="With --scenario: print JSON instead of tables."
)
@click.pass_context
def sim(
    ctx: click.Context,
    protocols: list[str],
    nodes: list[int],
    seeds: int,
    ticks: int,
    first_seed: int,
    jobs: int | None,
    trace_lines: int,
    scenario: str | None,
    deadline: int,
    as_json: bool,
) -> None:
    """Run the deterministic cluster simulation over many seeds.

    Every node (Raft, or Multi-Paxos with --protocol paxos) runs the production driver,
    persisting by the caller: its log writes complete later on a simulated disk (or stall, on
    a slow node) and a crash loses those in flight. Every run injects faults (drops, delays,
    duplicates, corruption, partitions, crashes, slow nodes), checks the protocol's safety
    properties after every step, then heals and checks liveness. The same protocol, nodes,
    seed and ticks replay a run exactly. Exits with status 1 if any violation is found.

    With --scenario, runs the partial-connectivity scenarios of the Omni-Paxos paper instead
    (quorum-loss, constrained-election, chained): once a leader has committed entries, some
    links are cut, and each seed reports whether a proposal made after the cut commits within
    --deadline election timeouts, how many ticks that took, and how many leader and epoch
    (term, ballot round) changes happened meanwhile, per protocol. Safety is checked
    throughout.
    """
    if scenario is None:
        misplaced = _given(ctx, {"deadline": "--deadline", "as_json": "--json"})
        if misplaced:
            raise click.UsageError(f"{', '.join(misplaced)} only apply with --scenario")
    else:
        misplaced = _given(ctx, {"nodes": "--nodes", "ticks": "--ticks", "trace_lines": "--trace"})
        if misplaced:
            raise click.UsageError(f"{', '.join(misplaced)} do not apply with --scenario")
        try:
            names = parse_scenarios(scenario)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--scenario") from None
        _run_scenarios(names, protocols, seeds, first_seed, deadline, jobs, as_json)
        return
    check_sizes(nodes)
    console = Console()
    jobs = jobs or os.cpu_count() or 1
    failed = False
    for protocol in protocols:
        summary = _simulate(console, protocol, nodes, seeds, ticks, first_seed, jobs)
        _print_failures(console, summary, trace_lines)
        failed = failed or bool(summary.failures)
    if failed:
        raise SystemExit(1)


def _simulate(
    console: Console,
    protocol: str,
    nodes: list[int],
    seeds: int,
    ticks: int,
    first_seed: int,
    jobs: int,
) -> SimSummary:
    """Runs every seed of `protocol` with a progress bar and prints its table."""
    start = time.perf_counter()
    progress = Progress(
        TextColumn(f"simulating {protocol}"),
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
            protocol=protocol,
        )
    _print_sim_summary(console, summary, time.perf_counter() - start)
    return summary
