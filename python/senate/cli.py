"""The `senate` command: its subcommands live in `senate.commands`, one module each."""

from __future__ import annotations

import click

from senate import __version__
from senate.commands.bench import bench
from senate.commands.certs import certs
from senate.commands.chaos import chaos
from senate.commands.check import check_command
from senate.commands.cluster import cluster
from senate.commands.member import member, transfer_leader
from senate.commands.passwd import passwd
from senate.commands.serve import serve
from senate.commands.sim import sim
from senate.commands.status import status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="senate")
def main() -> None:
    """senate: an embeddable consensus toolkit with a Rust core."""


for command in (
    bench,
    certs,
    chaos,
    check_command,
    sim,
    serve,
    cluster,
    status,
    passwd,
    member,
    transfer_leader,
):
    main.add_command(command)
