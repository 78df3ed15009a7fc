"""`senate serve` (one node of the key-value service) and `senate cluster` (a local
cluster of them)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

import senate
from senate.commands.options import load_cluster
from senate.config import PROTOCOLS
from senate.errors import ConfigError, WalCorrupt, WalError
from senate.launcher import MAX_NODES, LauncherError, LocalCluster
from senate.runtime.transport import parse_host_port
from senate.security.tls_files import CLIENT_CERT_MODES

#: One line per event: time, level, logger, message (senate's messages name the node).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("debug", "info", "warning", "error")
#: The exit status of `senate serve` when its log cannot be opened.
WAL_ERROR_STATUS = 3


def _reload_tls() -> None:
    """SIGHUP: the node's TLS files are read again (they are also polled for changes): the
    peers', and the client port's and metrics endpoint's."""
    from senate.security import tls_files

    taken = tls_files.reload_all()
    logging.getLogger("senate.cli").info("SIGHUP: TLS files reloaded by %d part(s)", taken)


async def _run_until_signalled(coro: Coroutine[Any, Any, None]) -> None:
    """Runs `coro` until it returns or SIGTERM/SIGINT cancels it (a clean stop); SIGHUP
    reloads the TLS files (new certificates without a restart)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    signalled: list[int] = []

    def on_signal(signum: int) -> None:
        signalled.append(signum)
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGHUP, _reload_tls)
    try:
        await task
    except asyncio.CancelledError:
        if not signalled:
            raise
        logging.getLogger("senate.cli").info("stopped on %s", signal.Signals(signalled[0]).name)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


@click.command()
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
@click.option(
    "--fault-control",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,  # for `senate chaos` and tests: whoever can reach it can partition the node
    help="Serve the node's fault switches on this Unix socket (senate.chaos.control).",
)
@click.option(
    "--join",
    is_flag=True,
    help="Join a running cluster: this node is no voter of the first configuration; it waits "
    "to be added (`senate member add`) and receives the log from the leader. Same as `join = "
    "true` in its [[nodes]] table (docs/membership.md).",
)
def serve(
    config_path: Path, node_id: int, log_level: str, fault_control: Path | None, join: bool
) -> None:
    """Run one node of the key-value service (RESP2/3 on its client port) until SIGTERM/SIGINT.

    A bad cluster file prints `error: <what and where>` and exits with status 2, and so do
    TLS files that do not fit the node (a certificate of another node, a key that does not
    match). A log that cannot be opened (damaged: `WalCorrupt`, naming the file and byte
    offset; or unreadable) prints `error: <the log's error>` and exits with status 3: the
    node serves nothing from a damaged log, and the rest of the cluster goes on without it.
    """
    cluster = load_cluster(config_path)
    try:
        server_config = cluster.server_config(node_id)
        if join:
            node = server_config.node
            server_config.node = dataclasses.replace(node, joining=node.joining | {node_id})
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    from senate import kv  # the service, imported only by the command that runs it

    try:
        senate.run(_run_until_signalled(kv.serve(server_config, fault_control=fault_control)))
    except ConfigError as e:  # found at start: TLS files that do not fit the node
        click.echo(f"error: node {node_id} refuses to start: {e}", err=True)
        raise SystemExit(2) from None
    except WalError as e:
        what = "damaged" if isinstance(e, WalCorrupt) else "unusable"
        click.echo(f"error: node {node_id} refuses to start, its log is {what}: {e}", err=True)
        raise SystemExit(WAL_ERROR_STATUS) from None


# --- senate cluster --------------------------------------------------------------------------

#: Where `senate cluster` keeps its cluster file, logs and node data unless --data-dir says.
DEFAULT_CLUSTER_DIR = Path("senate-data")


@click.command()
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
def cluster(
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
    leader is elected. On Ctrl-C/SIGTERM it stops every node and exits with status 0.
    """
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
