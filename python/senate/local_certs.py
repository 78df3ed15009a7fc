"""The certificates of a local cluster made with `tls` (`senate.launcher.LocalCluster`): a
throwaway CA in the data directory's `certs/`, a certificate per node (one more for each node
added later, from the same CA, whose key is kept beside it) and one for clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from senate.config import ClusterConfig, NodeConfig
from senate.runtime.transport import parse_host_port
from senate.security.certs import (
    CA_CERT,
    CA_KEY,
    CLIENT_NAME,
    issue_node,
    load_ca,
    write_cluster_certs,
    write_issued,
)
from senate.security.client_security import ClientSecurity

#: Where a cluster made with `tls` keeps its certificates, in its data directory.
CERTS_DIR = "certs"


def make_cluster_certs(data_dir: Path, table: dict[str, Any], client_certs: str) -> dict[str, Any]:
    """Writes the CA and certificates of the cluster `table` describes; its `[tls]`."""
    hosts = {
        node["id"]: sorted({parse_host_port(node[kind])[0] for kind in ("peer", "client")})
        for node in table["nodes"]
    }
    cluster_id = str(table.get("cluster_id", NodeConfig.cluster_id))
    write_cluster_certs(data_dir / CERTS_DIR, cluster_id, hosts)
    return {"ca": f"{CERTS_DIR}/{CA_CERT}", "client_certs": client_certs}


def issue_added_node_cert(config: ClusterConfig, node_id: int, node_host: str) -> None:
    """A certificate for a node added to `config`'s cluster, from the CA `make_cluster_certs`
    made, where the cluster file's `[tls]` looks for it (`node-<id>.crt` beside the CA).
    FileNotFoundError when the CA's key is not there."""
    assert config.tls is not None
    directory = config.resolve(config.tls.ca).parent
    if not (directory / CA_KEY).is_file():
        raise FileNotFoundError(f"no CA key in {directory} to issue node {node_id}'s certificate")
    cluster_id = str(config.node_options["cluster_id"])
    issued = issue_node(load_ca(directory), cluster_id, node_id, [node_host])
    write_issued(directory, f"node-{node_id}", issued)


def client_security_of(
    config: ClusterConfig, credentials: tuple[str | None, str] | None
) -> ClientSecurity | None:
    """How clients connect: with TLS, verifying the nodes against the cluster's CA (and
    showing the client certificate if the nodes ask for one), with `credentials`; None over
    plain TCP without credentials."""
    username, password = credentials or (None, None)
    tls = config.tls
    if tls is None or not tls.clients:
        return None if password is None else ClientSecurity(username=username, password=password)
    ca = config.resolve(tls.ca)
    cert = key = None
    if tls.client_certs != "none":
        cert, key = (str(ca.parent / f"{CLIENT_NAME}.{kind}") for kind in ("crt", "key"))
    return ClientSecurity(True, str(ca), cert, key, username=username, password=password)
