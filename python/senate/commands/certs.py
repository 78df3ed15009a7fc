"""`senate certs`: a CA and node certificates for a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from senate.config import ClusterConfig
from senate.errors import ConfigError
from senate.runtime.transport import parse_host_port
from senate.security.certs import DEFAULT_VALID_DAYS, write_cluster_certs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _hosts_from_file(path: Path) -> tuple[str, dict[int, list[str]]]:
    """The cluster id and each node's hosts (of its peer, client and metrics addresses) from
    a cluster file; its `[tls]` table is ignored (its files may not exist yet)."""
    try:
        data = tomllib.loads(path.read_text())
        data.pop("tls", None)
        for node in data.get("nodes", []):
            if isinstance(node, dict):
                node.pop("cert", None)
                node.pop("key", None)
        cluster = ClusterConfig.from_dict(data, base_dir=path.resolve().parent)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError) as e:
        raise click.BadParameter(str(e), param_hint="--config") from None
    hosts: dict[int, list[str]] = {}
    for node in cluster.nodes:
        addresses = [node.peer, node.client, *([node.metrics] if node.metrics else [])]
        hosts[node.id] = sorted({parse_host_port(a)[0] for a in addresses})
    return str(cluster.node_options["cluster_id"]), hosts


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the cluster id, node ids and hosts from this cluster file.",
)
@click.option("--cluster-id", help="The cluster id (with --nodes).")
@click.option("--nodes", "node_ids", help="Node ids, comma-separated: 1,2,3 (with --cluster-id).")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="A host name or address clients reach every node by (repeatable); "
    "localhost and 127.0.0.1 are always in.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the files go: ca.crt, ca.key, node-N.crt, node-N.key, client.crt, client.key.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_VALID_DAYS,
    show_default=True,
    help="How long the certificates are valid.",
)
@click.option(
    "--new-ca",
    is_flag=True,
    help="Make a new CA even if --out has one (by default its CA signs the new certificates: "
    "renewing them needs no change on the other nodes).",
)
def certs(
    config_path: Path | None,
    cluster_id: str | None,
    node_ids: str | None,
    hosts: tuple[str, ...],
    out_dir: Path,
    days: float,
    new_ca: bool,
) -> None:
    """Make a CA and a certificate per node for mutual TLS between peers and TLS for clients.

    Node N's certificate names `node-N.<cluster id>`: peers accept a connection only from
    the node its certificate names. Point the cluster file's `[tls]` table at ca.crt.
    """
    if config_path is not None:
        if cluster_id is not None or node_ids is not None:
            raise click.UsageError("give either --config or --cluster-id with --nodes")
        cluster_id, node_hosts = _hosts_from_file(config_path)
        for names in node_hosts.values():
            names.extend(hosts)
    else:
        if cluster_id is None or node_ids is None:
            raise click.UsageError("give either --config or --cluster-id with --nodes")
        try:
            ids = sorted({int(part) for part in node_ids.split(",") if part.strip()})
        except ValueError:
            raise click.BadParameter(f"expected ids like 1,2,3, got {node_ids!r}") from None
        if not ids or min(ids) < 1:
            raise click.BadParameter("node ids are at least 1", param_hint="--nodes")
        node_hosts = {node_id: list(hosts) for node_id in ids}
    files = write_cluster_certs(
        out_dir, cluster_id, node_hosts, valid_days=days, reuse_ca=not new_ca
    )
    for node_id, node_files in files.items():
        click.echo(f"node {node_id}: {node_files.cert_file}, {node_files.key_file}")
    ca = next(iter(files.values())).ca_file
    click.echo(f"\nIn the cluster file:\n\n[tls]\nca = {str(Path(ca).resolve())!r}")
