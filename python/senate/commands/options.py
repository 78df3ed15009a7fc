"""What several `senate` subcommands share: option parsers and the cluster file."""

from __future__ import annotations

from pathlib import Path

import click

from senate.config import ClusterConfig
from senate.errors import ConfigError
from senate.sim import SUPPORTED_SIZES


def int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    """Parses "1,16,256" into [1, 16, 256]."""
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or any(n <= 0 for n in numbers):
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return numbers


def check_sizes(nodes: list[int]) -> None:
    if any(n not in SUPPORTED_SIZES for n in nodes):
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise click.BadParameter(f"cluster sizes must be among {sizes}", param_hint="--nodes")


def given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among `names` given on the command line (or in the environment)."""
    sources = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return [
        "--" + n.removesuffix("_path").replace("_", "-")
        for n in names
        if ctx.get_parameter_source(n) in sources
    ]


def load_cluster(path: Path) -> ClusterConfig:
    """The cluster file, or `error: ...` and exit status 2."""
    try:
        return ClusterConfig.load(path)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
