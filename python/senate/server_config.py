"""`ServerConfig`: one node of the replicated key-value service, its `NodeConfig` and its
client server's addresses and limits, validated: a bad value raises `ConfigError` naming the
field.

The public path is `senate.config`, which re-exports this module's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from senate._core import DEFAULT_MAX_BATCH_COMMANDS as CORE_MAX_BATCH_COMMANDS
from senate._core import DEFAULT_MAX_VALUE_BYTES as CORE_MAX_VALUE_BYTES
from senate.auth import AuthConfig
from senate.errors import config_error
from senate.node_config import NodeConfig, check_tls_files
from senate.runtime.transport import parse_host_port
from senate.security.tls_files import CLIENT_CERT_MODES, TlsFiles
from senate.server_limits import ServerLimits

#: Defaults of the client server's limits (`ServerConfig`).
#: The core's limits (512 MiB, Redis's proto-max-bulk-len; 1024 commands).
DEFAULT_MAX_VALUE_BYTES = CORE_MAX_VALUE_BYTES
DEFAULT_MAX_CLIENTS = 10_000
DEFAULT_MAX_REPLY_BUFFER_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_BATCH_COMMANDS = CORE_MAX_BATCH_COMMANDS
#: `ServerConfig` limits a cluster file may set (for every node); all are integers.
SERVER_FIELDS: dict[str, int] = {
    "max_value_bytes": DEFAULT_MAX_VALUE_BYTES,
    "max_clients": DEFAULT_MAX_CLIENTS,
    "max_reply_buffer_bytes": DEFAULT_MAX_REPLY_BUFFER_BYTES,
    "max_batch_commands": DEFAULT_MAX_BATCH_COMMANDS,
}


@dataclass
class ServerConfig:
    """One node of the replicated key-value service: the node, and its client server."""

    node: NodeConfig
    #: Where the RESP client server listens, "host:port".
    client_address: str
    #: Where the Prometheus endpoint listens, "host:port"; None: no endpoint.
    metrics_address: str | None = None
    #: The largest value a client may SET.
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    #: Client connections at once, at most; more are refused.
    max_clients: int = DEFAULT_MAX_CLIENTS
    #: The server stops reading a client whose unsent replies exceed this many bytes.
    max_reply_buffer_bytes: int = DEFAULT_MAX_REPLY_BUFFER_BYTES
    #: Commands of one client taken in one batch, at most.
    max_batch_commands: int = DEFAULT_MAX_BATCH_COMMANDS
    #: TLS on the client port (the node's certificate; clients verify it against the CA).
    #: None: plain TCP.
    client_tls: TlsFiles | None = None
    #: Whether clients show a certificate the CA signed: one of `CLIENT_CERT_MODES`.
    client_certs: str = "none"
    #: HTTPS on the metrics endpoint. None: plain HTTP.
    metrics_tls: TlsFiles | None = None
    #: The client users (ACLs); none: every client may run everything.
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: The bounds on the store's and the clients' memory, and the clients' deadlines.
    limits: ServerLimits = field(default_factory=ServerLimits)

    def __post_init__(self) -> None:
        addresses = {"client_address": self.client_address, "metrics_address": self.metrics_address}
        for name, address in addresses.items():
            if address is None:
                continue
            try:
                parse_host_port(address)
            except ValueError:
                raise config_error(name, f"expected host:port, got {address!r}") from None
        for name in SERVER_FIELDS:
            value = getattr(self, name)
            if not value > 0:
                raise config_error(name, f"must be positive, got {value}")
        if self.client_certs not in CLIENT_CERT_MODES:
            raise config_error(
                "client_certs",
                f"must be one of {', '.join(CLIENT_CERT_MODES)}, got {self.client_certs!r}",
            )
        check_tls_files("client_tls", self.client_tls)
        check_tls_files("metrics_tls", self.metrics_tls)
