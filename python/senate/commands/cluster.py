"""`senate cluster`: a local cluster of `senate serve` processes in the foreground, and
`senate cluster add-node` / `senate cluster remove-node ID`, which ask that running cluster
(found by its data directory) to start and add a node, or to remove one and stop it
(`senate.cluster_control`)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from senate.cluster_control import (
    ANSWER_TIMEOUT_S,
    ClusterControl,
    ClusterControlError,
    ClusterControlServer,
    request,
    socket_path,
)
from senate.config import PROTOCOLS
from senate.launcher import MAX_NODES, LauncherError, LocalCluster
from senate.runtime.transport import parse_host_port
from senate.security.tls_files import CLIENT_CERT_MODES

#: Where `senate cluster` keeps its cluster file, logs and node data unless --data-dir says.
DEFAULT_CLUSTER_DIR = Path("senate-data")

_DATA_DIR_HELP = "cluster.toml, the nodes' logs (node-N/) and their output (node-N.log); kept."


@click.group(invoke_without_command=True)
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, MAX_NODES))
@click.option(
    "--data-dir",
    default=DEFAULT_CLUSTER_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=_DATA_DIR_HELP,
)
@click.option(
    "--base-port",
    default=7100,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Node N listens on P+N (peers), P+100+N (clients), P+200+N (metrics).",
)
@click.option(
    "--protocol",
    default="raft",
    show_default=True,
    type=click.Choice(PROTOCOLS),
    help="The consensus protocol.",
)
@click.option("--fsync/--no-fsync", default=True, show_default=True, help="fsync every write.")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="Seconds to wait.")
@click.option(
    "--tls",
    is_flag=True,
    help="Make a throwaway CA and certificates in DATA_DIR/certs: mutual TLS between peers, "
    "TLS for clients and metrics.",
)
@click.option(
    "--client-certs",
    type=click.Choice(CLIENT_CERT_MODES),
    default="none",
    show_default=True,
    help="With --tls: whether clients show a certificate (DATA_DIR/certs/client.crt).",
)
@click.pass_context
def cluster(
    ctx: click.Context,
    nodes: int,
    data_dir: Path,
    base_port: int,
    protocol: str,
    fsync: bool,
    timeout_s: float,
    tls: bool,
    client_certs: str,
) -> None:
    """Run a local cluster of NODES `senate serve` processes until Ctrl-C or SIGTERM.

    Prints one line per node, then `cluster ready: leader <id>` once every node answers and a
    leader is elected. On Ctrl-C/SIGTERM it stops every node and exits with status 0. While
    it runs, `senate cluster add-node` and `senate cluster remove-node ID` (from another
    shell, with the same --data-dir) add and remove nodes.
    """
    if ctx.invoked_subcommand is not None:
        return
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    local = LocalCluster(
        nodes,
        data_dir=data_dir,
        base_port=base_port,
        fsync=fsync,
        overrides={"protocol": protocol},
        tls=tls,
        client_certs=client_certs,
    )
    control: ClusterControlServer | None = None
    try:
        local.start()
        for node in local.nodes:
            click.echo(f"node {node.id} pid={node.pid} peer={node.peer} client={node.client}")
        sys.stdout.flush()
        leader = _wait_or_stop(local, stop, timeout_s)
        if leader is not None:
            click.echo(f"cluster ready: leader {leader}")
            if (security := local.client_security) is not None:
                host, port = parse_host_port(local.nodes[0].client)
                flags = " ".join(security.to_args()[1:])  # redis-cli's --cacert, --cert, --key
                click.echo(f"connect with: redis-cli --tls {flags} -h {host} -p {port}")
            sys.stdout.flush()
            try:
                control = ClusterControlServer(ClusterControl(local), socket_path(data_dir))
                control.start()
            except OSError as e:  # a path too long for a Unix socket (108 bytes), say
                click.echo(f"warning: add-node and remove-node unavailable: {e}", err=True)
            _watch(local, stop)
    except (LauncherError, TimeoutError) as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    finally:
        if control is not None:
            control.stop()
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
    """Waits for the stop signal, reporting nodes that exit meanwhile (not those removed)."""
    reported: set[int] = set()
    while not stop.wait(0.5):
        for node in local.nodes:
            if node.pid is not None or node.id in reported:
                continue
            reported.add(node.id)
            if not local.stopped_on_purpose(node.id):
                click.echo(f"node {node.id} exited; see {node.log_path}", err=True)


def _data_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data-dir",
        default=DEFAULT_CLUSTER_DIR,
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The data directory of the running `senate cluster`.",
    )(command)


def _timeout_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout",
        "timeout_s",
        default=ANSWER_TIMEOUT_S,
        show_default=True,
        type=click.FloatRange(min=0.01),
        help="Seconds to wait for the cluster's answer.",
    )(command)


@cluster.command("add-node")
@_data_dir_option
@_timeout_option
def add_node(data_dir: Path, timeout_s: float) -> None:
    """Start the next node of the running local cluster (the id above the highest) with an
    empty data directory, add it as a learner and promote it to a voter once it holds the
    log. Prints `node <id> added: pid=... peer=... client=...`."""
    try:
        reply = request(data_dir, {"op": "add_node"}, timeout_s)
    except ClusterControlError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"node {reply['id']} added: pid={reply['pid']} peer={reply['peer']} "
        f"client={reply['client']}"
    )


@cluster.command("remove-node")
@click.argument("node_id", type=click.IntRange(min=1))
@_data_dir_option
@_timeout_option
def remove_node(node_id: int, data_dir: Path, timeout_s: float) -> None:
    """Remove node NODE_ID of the running local cluster from the configuration, then stop
    its process (its data directory is kept). Prints `node <id> removed, exit <status>`."""
    try:
        reply = request(data_dir, {"op": "remove_node", "id": node_id}, timeout_s)
    except ClusterControlError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    click.echo(f"node {reply['id']} removed, exit {reply['exit']}")
