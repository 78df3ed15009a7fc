"""The PEM files of one node, and the identity its certificate binds.

A peer is a member only if its certificate chains to the cluster's CA and names the node id
it claims: its subject alternative names hold the DNS name `node-<id>.<cluster_id>`
(`node_dns_name`). So a certificate made for node 3 of cluster `prod` cannot speak as node 1,
nor as node 3 of another cluster signed by the same CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: How a server asks clients for certificates: not at all, verified when shown, or required
#: (Redis's `tls-auth-clients no | optional | yes`).
CLIENT_CERT_MODES = ("none", "optional", "required")


def node_dns_name(cluster_id: str, node_id: int) -> str:
    """The DNS name a certificate of node `node_id` of `cluster_id` carries."""
    return f"node-{node_id}.{cluster_id}"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA that signs the cluster's certificates, and one certificate chain
    with its private key. Re-read when they change (certificates are replaced without a
    restart)."""

    ca_file: str
    cert_file: str
    key_file: str

    def missing(self) -> list[tuple[str, str]]:
        """`(attribute, path)` of every file that cannot be read."""
        return [
            (name, path)
            for name, path in (
                ("ca_file", self.ca_file),
                ("cert_file", self.cert_file),
                ("key_file", self.key_file),
            )
            if not Path(path).is_file()
        ]
