"""`senate serve`: one node of the key-value service (`senate cluster` runs a local cluster
of them: `senate.commands.cluster`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

import senate
from senate.commands.options import load_cluster
from senate.errors import ConfigError, WalCorrupt, WalError

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
