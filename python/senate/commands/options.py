"""What several `senate` subcommands share: option parsers and the cluster file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from senate.config import ClusterConfig
from senate.errors import ConfigError
from senate.security.certs import CLIENT_NAME
from senate.security.client_security import PASSWORD_ENV, ClientSecurity
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
    """The options among `names` given on the command line (not those from the environment:
    a `REDISCLI_AUTH` exported for redis-cli must not make a command refuse to run)."""
    source = click.core.ParameterSource.COMMANDLINE
    return [
        FLAGS.get(n, "--" + n.removesuffix("_path").replace("_", "-"))
        for n in names
        if ctx.get_parameter_source(n) == source
    ]


#: Options whose flag is not their parameter's name.
FLAGS = {"password": "--pass"}


def load_cluster(path: Path) -> ClusterConfig:
    """The cluster file, or `error: ...` and exit status 2."""
    try:
        return ClusterConfig.load(path)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None


# --- how clients connect: TLS and credentials, named as redis-cli names them -----------------

#: The options `client_security_options` adds, by parameter name.
CLIENT_SECURITY_OPTIONS = ("tls", "cacert", "cert", "key", "no_check_hostname", "user", "password")


def client_security_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds redis-cli's `--tls`, `--cacert`, `--cert`, `--key`, `--user` and `--pass` (or
    `REDISCLI_AUTH`) to a command; `client_security` makes them one `ClientSecurity`."""
    file = click.Path(exists=True, dir_okay=False)
    options = [
        click.option(
            "--tls/--no-tls",
            default=None,
            help="Speak TLS to the nodes [default: as the --config file's [tls] says].",
        ),
        click.option(
            "--cacert",
            type=file,
            help="The CA of the nodes' certificates (PEM); with --config, its [tls] CA.",
        ),
        click.option("--cert", type=file, help="A client certificate (PEM), with --key."),
        click.option("--key", type=file, help="The client certificate's key (PEM)."),
        click.option(
            "--no-check-hostname",
            "no_check_hostname",
            is_flag=True,
            help="Accept a node certificate that does not name the host connected to.",
        ),
        click.option("--user", help="AUTH as this ACL user (with --pass)."),
        click.option(
            "--pass",
            "password",
            envvar=PASSWORD_ENV,
            help=f"AUTH with this password (better: the {PASSWORD_ENV} environment variable).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def client_security(
    cluster: ClusterConfig | None,
    tls: bool | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    no_check_hostname: bool,
    user: str | None,
    password: str | None,
) -> ClientSecurity:
    """The options of `client_security_options` as one `ClientSecurity`. A cluster file
    whose `[tls]` table turns on client TLS means `--tls --cacert` its CA unless given, and
    the client certificate beside the CA (`client.crt`, `client.key`, as `senate certs`
    writes them) when its nodes ask for one."""
    settings = None if cluster is None else cluster.tls
    if cluster is not None and settings is not None and settings.clients and tls is not False:
        tls = True
        ca = cluster.resolve(settings.ca)
        cacert = cacert or str(ca)
        mine = ca.parent / f"{CLIENT_NAME}.crt", ca.parent / f"{CLIENT_NAME}.key"
        asked = settings.client_certs != "none"
        if asked and cert is None and key is None and all(p.is_file() for p in mine):
            cert, key = (str(p) for p in mine)
    if user is not None and password is None:
        raise click.UsageError(f"--user {user} needs --pass (or {PASSWORD_ENV})")
    try:
        return ClientSecurity(
            tls=bool(tls),
            ca_file=cacert,
            cert_file=cert,
            key_file=key,
            check_hostname=not no_check_hostname,
            username=user,
            password=password,
        )
    except ValueError as error:
        raise click.UsageError(
            f"{error} (--tls, --cacert, --cert, --key, --user, --pass)"
        ) from None
