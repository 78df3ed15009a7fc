"""`senate passwd`: the `#<sha256 hex>` of a password, for the cluster file's `[auth]` table."""

from __future__ import annotations

import sys

import click

from senate.auth import password_hash


@click.command()
def passwd() -> None:
    """Print a password's SHA-256 as `#<hex>`, as the [auth] table (and a Redis ACL file)
    stores it. The password is asked for at a terminal, or read as one line from standard
    input (`printf %s "$PW" | senate passwd`)."""
    if sys.stdin.isatty():
        text = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        password = text.encode()
    else:
        password = sys.stdin.buffer.readline().rstrip(b"\r\n")
    if not password:
        raise click.UsageError("the password is empty")
    click.echo(password_hash(password))
