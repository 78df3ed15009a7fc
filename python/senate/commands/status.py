"""`senate status`: every node's state, as a table or JSON."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from senate.commands.options import client_security, client_security_options, load_cluster
from senate.config import ClusterConfig
from senate.runtime.transport import parse_host_port
from senate.status import NodeReport, leader_commit, probe, report_json


def _status_targets(
    cluster: ClusterConfig | None, endpoints: str | None
) -> list[tuple[str, int | None]]:
    if (cluster is None) == (endpoints is None):
        raise click.UsageError("give either --config or --endpoints")
    if cluster is not None:
        return [(n.client, n.id) for n in cluster.nodes]
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
    protocols = sorted({r.info.protocol for r in reports if r.info is not None})
    title = "senate status" + (f" ({', '.join(protocols)})" if protocols else "")
    table = Table(title=title, box=box.SIMPLE_HEAVY)
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


@click.command()
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
@client_security_options
def status(
    config_path: Path | None,
    endpoints: str | None,
    as_json: bool,
    timeout_s: float,
    **security_options: Any,
) -> None:
    """Ask every node for its state (`INFO senate` on its client port).

    Nodes that do not answer are shown as down. Lag is the leader's commit index minus the
    node's applied index. Exits with status 1 when no node answers. Over TLS and with
    credentials as redis-cli's options say; a cluster file with a `[tls]` table means TLS
    with its CA.
    """
    cluster = None if config_path is None else load_cluster(config_path)
    targets = _status_targets(cluster, endpoints)
    security = client_security(cluster, **security_options)
    with ThreadPoolExecutor(max_workers=min(len(targets), 32)) as pool:
        reports = list(pool.map(lambda t: probe(t[0], timeout_s, t[1], security), targets))
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
