"""Configuration, validated: a bad value raises `ConfigError` naming the field.

`NodeConfig` is one embedded node; `ServerConfig` one node of the key-value service with its
client server; `ClusterConfig` a cluster file (TOML) describing every node of a cluster:

    cluster_id = "senate"
    data_dir = "senate-data"   # node N keeps its log in <data_dir>/node-N (relative to the file)
    tick_ms = 10
    fsync = true
    max_value_bytes = 536870912

    [[nodes]]
    id = 1
    peer = "127.0.0.1:7101"    # the Raft peer address
    client = "127.0.0.1:6401"  # the RESP client address
    metrics = "127.0.0.1:9101" # optional: the Prometheus endpoint

The bounds on memory and time a node keeps for its clients and its store (`maxmemory_bytes`,
`clients_memory_bytes`, ...) are top-level settings too: `senate.server_limits`.

With a `[tls]` table, peers speak mutual TLS and clients and metrics TLS (each can be turned
off); node N's certificate and key are `node-N.crt` and `node-N.key` beside the CA unless its
`[[nodes]]` table names them (`cert`, `key`); `senate certs` makes them all:

    [tls]
    ca = "certs/ca.crt"        # the cluster's CA (relative to the file)
    peers = true               # mutual TLS between peers, identities bound to certificates
    clients = true             # TLS on the client ports
    metrics = true             # HTTPS on the metrics endpoints
    client_certs = "none"      # or "optional", "required": clients show a certificate

With an `[auth]` table, clients authenticate as ACL users (`senate.auth`, docs/security.md):

    [auth]
    users = ["user default off", "user app on #<sha256 hex> ~* +@read +@write -@dangerous"]

Errors name the field with its place, as `nodes[2].client` (tables counted from 0).

One module per concept, all re-exported here (import from `senate.config`):
`senate.node_config` (`NodeConfig`), `senate.server_config` (`ServerConfig` and its limits'
defaults), `senate.cluster_config` (`ClusterConfig`: reading, checking and writing the file).
"""

from __future__ import annotations

from senate.cluster_config import (
    DEFAULT_DATA_DIR,
    FILE_NODE_FIELDS,
    NODE_KEYS_OPTIONAL,
    NODE_KEYS_REQUIRED,
    TLS_KEYS,
    ClusterConfig,
    NodeAddresses,
    TlsSettings,
)
from senate.node_config import PROTOCOLS, NodeConfig, check_tls_files
from senate.server_config import (
    DEFAULT_MAX_BATCH_COMMANDS,
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_REPLY_BUFFER_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    SERVER_FIELDS,
    ServerConfig,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_MAX_BATCH_COMMANDS",
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MAX_REPLY_BUFFER_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "FILE_NODE_FIELDS",
    "NODE_KEYS_OPTIONAL",
    "NODE_KEYS_REQUIRED",
    "PROTOCOLS",
    "SERVER_FIELDS",
    "TLS_KEYS",
    "ClusterConfig",
    "NodeAddresses",
    "NodeConfig",
    "ServerConfig",
    "TlsSettings",
    "check_tls_files",
]
