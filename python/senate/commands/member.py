"""`senate member list|add|promote|remove` and `senate transfer-leader`: the cluster's
membership and leadership, through the nodes' client ports (the admin commands of
`senate.kv_admin`; docs/membership.md).

A change must reach the leader: the command asks the nodes in turn and follows a
`NOTLEADER leader <id>` reply to that node (by its client address in the cluster file, or
the next endpoint without one: `senate.member_calls.call_leader`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from senate.commands.options import client_security, client_security_options, load_cluster
from senate.config import ClusterConfig
from senate.member_calls import MemberCallError, call_leader, change_member
from senate.runtime.transport import parse_host_port
from senate.security.client_security import ClientSecurity

#: Seconds a change may take to be in force (the node's own call timeout bounds it too).
DEFAULT_CHANGE_TIMEOUT_S = 30.0


class Targets:
    """The client addresses to ask, and each node's by id when a cluster file names them."""

    def __init__(self, cluster: ClusterConfig | None, endpoints: str | None) -> None:
        if (cluster is None) == (endpoints is None):
            raise click.UsageError("give either --config or --endpoints")
        self.by_id: dict[int, str] = {}
        if cluster is not None:
            self.by_id = {n.id: n.client for n in cluster.nodes}
            self.addresses = list(self.by_id.values())
        else:
            assert endpoints is not None
            self.addresses = [a.strip() for a in endpoints.split(",") if a.strip()]
        if not self.addresses:
            raise click.BadParameter("no address given", param_hint="--endpoints")
        for address in self.addresses:
            try:
                parse_host_port(address)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--endpoints") from None


def _call(
    targets: Targets, security: ClientSecurity, timeout_s: float, *args: str
) -> tuple[str, Any]:
    """Sends `args` to the leader (`senate.member_calls.call_leader`); returns the address
    that answered and its reply. Exits with status 1 naming the problem of an error reply,
    or the last problem when no node answered in time."""
    try:
        return call_leader(
            targets.addresses, *args, by_id=targets.by_id, timeout_s=timeout_s, security=security
        )
    except MemberCallError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None


def _change(
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    security_options: dict[str, Any],
    step: str,
    node_id: int,
    peer: str | None = None,
) -> str:
    """One change at the leader (`senate.member_calls.change_member`: asked again on
    TRYAGAIN, done if found in force then); the address that answered. Exits with status 1
    naming the problem otherwise."""
    cluster = None if config_path is None else load_cluster(config_path)
    targets = Targets(cluster, endpoints)
    security = client_security(cluster, **security_options)
    # --endpoints name no ids: keys below 1, which no NOTLEADER reply names.
    members = targets.by_id or dict(enumerate(targets.addresses, start=-len(targets.addresses)))
    try:
        return change_member(members, step, node_id, peer, timeout_s, security)
    except MemberCallError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None


def _connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The cluster file: asks its nodes.",
        ),
        click.option("--endpoints", help="Client addresses to ask, comma-separated."),
        click.option(
            "--timeout",
            "timeout_s",
            default=DEFAULT_CHANGE_TIMEOUT_S,
            show_default=True,
            type=click.FloatRange(min=0.01),
            help="Seconds to wait for an answer.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return client_security_options(command)


def _run(
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    security_options: dict[str, Any],
    *args: str,
) -> tuple[str, Any]:
    cluster = None if config_path is None else load_cluster(config_path)
    targets = Targets(cluster, endpoints)
    security = client_security(cluster, **security_options)
    return _call(targets, security, timeout_s, *args)


@click.group()
def member() -> None:
    """List and change the cluster's members (docs/membership.md)."""


@member.command("list")
@_connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def member_list(
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    as_json: bool,
    **security_options: Any,
) -> None:
    """The configuration in force at the first node that answers: each member's id, role
    (voter, outgoing-voter while joint, learner) and peer address."""
    _address, reply = _run(
        config_path, endpoints, timeout_s, security_options, "SENATE.MEMBER", "LIST"
    )
    rows = [(int(i), _text(role), _text(address)) for i, role, address in reply]
    if as_json:
        members = [{"id": i, "role": role, "address": a} for i, role, a in rows]
        click.echo(json.dumps(members, indent=2))
        return
    for node_id, role, address in rows:
        click.echo(f"{node_id:>4}  {role:<15} {address}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@member.command("add")
@click.argument("node_id", type=click.IntRange(min=1))
@click.argument("peer_address")
@_connection_options
def member_add(
    node_id: int,
    peer_address: str,
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    **security_options: Any,
) -> None:
    """Add node NODE_ID, listening for peers at PEER_ADDRESS (host:port), as a learner. Start
    it first with `senate serve --join`; promote it once it caught up."""
    try:
        parse_host_port(peer_address)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="PEER_ADDRESS") from None
    address = _change(
        config_path, endpoints, timeout_s, security_options, "add", node_id, peer_address
    )
    click.echo(f"node {node_id} added as a learner (by {address})")


@member.command("promote")
@click.argument("node_id", type=click.IntRange(min=1))
@_connection_options
def member_promote(
    node_id: int,
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    **security_options: Any,
) -> None:
    """Make learner NODE_ID a voter, once it holds every committed entry."""
    address = _change(config_path, endpoints, timeout_s, security_options, "promote", node_id)
    click.echo(f"node {node_id} is a voter (by {address})")


@member.command("remove")
@click.argument("node_id", type=click.IntRange(min=1))
@_connection_options
def member_remove(
    node_id: int,
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    **security_options: Any,
) -> None:
    """Remove member NODE_ID (a voter or a learner). Stop its process afterwards."""
    address = _change(config_path, endpoints, timeout_s, security_options, "remove", node_id)
    click.echo(f"node {node_id} removed (by {address})")


@click.command("transfer-leader")
@click.argument("node_id", type=click.IntRange(min=1))
@_connection_options
def transfer_leader(
    node_id: int,
    config_path: Path | None,
    endpoints: str | None,
    timeout_s: float,
    **security_options: Any,
) -> None:
    """Ask the leader to hand its leadership to voter NODE_ID; returns once it leads."""
    address = _change(config_path, endpoints, timeout_s, security_options, "transfer", node_id)
    click.echo(f"node {node_id} leads (asked {address})")
