"""The PEM files of one node, and the identity its certificate binds.

A peer is a member only if its certificate chains to the cluster's CA and names the node id
it claims: its subject alternative names hold the DNS name `node-<id>.<cluster_id>`
(`node_dns_name`). So a certificate made for node 3 of cluster `prod` cannot speak as node 1,
nor as node 3 of another cluster signed by the same CA.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: How often a node looks for new certificate files (a `stat` of three files per user of
#: them: the peers', the client port's, the metrics endpoint's).
CERT_POLL_INTERVAL_S = 1.0
#: What tells that a file changed: its inode (a file renamed over it), size and mtime in ns;
#: None for a file that cannot be read.
FileStamp = tuple[int, int, int] | None

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

    def stamps(self) -> tuple[FileStamp, FileStamp, FileStamp]:
        """The `FileStamp` of the CA, the certificate and the key: unequal once one changed."""
        return (_stamp(self.ca_file), _stamp(self.cert_file), _stamp(self.key_file))


def _stamp(path: str) -> FileStamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Reloadable(Protocol):
    """Something serving TLS files that can take new ones (`PeerTls`, `ServerTls`)."""

    def reload(self) -> bool: ...


#: Every live user of TLS files in this process, for `reload_all` (weakly: a stopped
#: node's or server's goes).
_LIVE: weakref.WeakSet[Reloadable] = weakref.WeakSet()


def register(user: Reloadable) -> None:
    """Makes `reload_all` reload `user`."""
    _LIVE.add(user)


def reload_all() -> int:
    """Re-reads the files of every registered user (SIGHUP in `senate serve`); returns how
    many took new files."""
    return sum(user.reload() for user in list(_LIVE))
