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
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from senate._core import (
    DEFAULT_ELECTION_TIMEOUT_TICKS,
    DEFAULT_HEARTBEAT_INTERVAL_TICKS,
    DEFAULT_MAX_BATCH_PROPOSALS,
    DEFAULT_MAX_WRITES_IN_FLIGHT,
    DEFAULT_SNAPSHOT_BYTES,
    DEFAULT_SNAPSHOT_ENTRIES,
    MAX_READIES_IN_FLIGHT,
)
from senate._core import DEFAULT_MAX_BATCH_COMMANDS as CORE_MAX_BATCH_COMMANDS
from senate._core import DEFAULT_MAX_VALUE_BYTES as CORE_MAX_VALUE_BYTES
from senate.auth import AuthConfig
from senate.errors import config_error
from senate.runtime.snapshot_codec import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_CHUNKS_IN_FLIGHT,
    MAX_CHUNK_BYTES,
)
from senate.runtime.transport import MAX_CLUSTER_ID_BYTES, parse_host_port
from senate.security.tls_files import CLIENT_CERT_MODES, TlsFiles
from senate.server_limits import LIMIT_FIELDS, ServerLimits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


#: The consensus protocols a node speaks.
PROTOCOLS = ("raft", "paxos")


@dataclass
class NodeConfig:
    """One node of a cluster. Times are in milliseconds or ticks, as their names say."""

    #: This node's id (>= 1), a key of `peers`.
    id: int
    #: Every member's id to its peer address "host:port" (this node's included: it listens there).
    peers: Mapping[int, str]
    #: Where the durable log and snapshots live; None keeps the log in memory (no durability:
    #: for tests and benchmarks of the runtime only).
    data_dir: str | None = None
    #: Peers refuse connections from another cluster id.
    cluster_id: str = "senate"
    #: The consensus protocol, one of `PROTOCOLS`: "raft", or "paxos" (Multi-Paxos; its
    #: elections need a quorum-connected node and keep a leader that hears from a quorum, so
    #: `pre_vote` and `check_quorum` are Raft's only). Every node of a cluster speaks the same
    #: one; a data directory keeps the protocol it was written with.
    protocol: str = "raft"
    #: The period of a tick, the unit of the election and heartbeat settings.
    tick_ms: float = 10.0
    #: A follower campaigns after a randomized timeout in [t, 2t) ticks without a leader.
    #: The defaults are the core's (`senate._core.DEFAULT_ELECTION_TIMEOUT_TICKS`, ...), which
    #: `RaftNode` takes too: 15 and 2 ticks.
    election_timeout_ticks: int = DEFAULT_ELECTION_TIMEOUT_TICKS
    heartbeat_interval_ticks: int = DEFAULT_HEARTBEAT_INTERVAL_TICKS
    pre_vote: bool = True
    check_quorum: bool = True
    #: Linearizable reads answered from a leader lease instead of a quorum round, with either
    #: protocol (Raft's needs `check_quorum`); assumes the nodes' clocks tick at nearly the same
    #: rate. Every node of a cluster must set it alike.
    lease_reads: bool = False
    #: fsync every Ready (group commit). Off only for benchmarks: acknowledged writes may be
    #: lost on a machine crash.
    fsync: bool = True
    max_segment_bytes: int = 64 * 1024 * 1024
    #: The largest record the log writes or reads back (None: the log's default, 64 MiB);
    #: an entry must fit in one. The key-value service raises it to fit `max_value_bytes`.
    max_record_bytes: int | None = None
    #: Take a snapshot and compact the log once this many entries or bytes were applied since
    #: the last one, and at least as many bytes as the last snapshot held (or ten times
    #: `snapshot_entries` entries): snapshotting a large state costs at most what its log does.
    #: Each node scales both by a factor in [1, 1.25) drawn from its id (`SNAPSHOT_STAGGER`).
    snapshot_entries: int = DEFAULT_SNAPSHOT_ENTRIES
    snapshot_bytes: int = DEFAULT_SNAPSHOT_BYTES
    #: Default timeout of a replicated call or a linearizable read.
    call_timeout_s: float = 5.0
    #: Calls waiting for commit, at most; more are refused with `Overloaded`.
    max_pending_calls: int = 100_000
    #: Proposals in one Ready's batch, at most (the rest go in the next one).
    max_batch_proposals: int = DEFAULT_MAX_BATCH_PROPOSALS
    #: Readies whose log writes may be in flight at once, in [1, 64] (the core's
    #: `DEFAULT_MAX_WRITES_IN_FLIGHT` says what more than one does).
    max_writes_in_flight: int = DEFAULT_MAX_WRITES_IN_FLIGHT
    max_send_buffer_bytes: int = 64 * 1024 * 1024
    max_inbound_buffer_bytes: int = 8 * 1024 * 1024
    #: A leader streams its snapshot to a follower that needs one in chunks of this many
    #: bytes (at most `MAX_CHUNK_BYTES`, 4 MiB), at most `snapshot_chunks_in_flight` of them
    #: unacknowledged: what a stream holds in memory (`senate.runtime.snapshot_stream`).
    snapshot_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    snapshot_chunks_in_flight: int = DEFAULT_CHUNKS_IN_FLIGHT
    #: Raft: a node that starts with an empty data directory in a cluster that has a log
    #: neither votes nor campaigns until the leader has sent it the log (a machine that lost
    #: its disk must not elect a leader lacking entries it acknowledged). See
    #: docs/operations.md, "A machine that lost its disk".
    empty_disk_guard: bool = True
    seed: int | None = None
    #: Mutual TLS between peers: the cluster's CA, this node's certificate and key. A peer
    #: is accepted only if its certificate chains to the CA and names the id it claims
    #: (`senate.security.tls_files.node_dns_name`). None: plain TCP, where any process that
    #: reaches the peer port and knows the cluster id is taken as a member.
    tls: TlsFiles | None = None
    #: Ids of `peers` that were not voters of the cluster's first configuration: they join a
    #: running cluster through membership changes (`Node.add_learner`, `senate member add`).
    #: With this node's id among them the node joins: it neither campaigns nor counts until a
    #: change makes it a voter, and `peers` names the current members (where to find them).
    joining: frozenset[int] = frozenset()
    #: Extra keyword arguments for `RaftNode` (its flow-control limits).
    core_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.peers = {int(k): v for k, v in self.peers.items()}
        self.joining = frozenset(int(i) for i in self.joining)
        self.validate()

    def validate(self) -> None:
        if self.id < 1:
            raise config_error("id", f"must be at least 1, got {self.id}")
        if self.id not in self.peers:
            raise config_error("peers", f"must include this node's id {self.id}")
        for peer_id, address in self.peers.items():
            if peer_id < 1:
                raise config_error("peers", f"node ids must be at least 1, got {peer_id}")
            try:
                parse_host_port(address)
            except ValueError as e:
                raise config_error("peers", f"node {peer_id}: {e}") from None
        if not self.joining <= set(self.peers):
            raise config_error("joining", "every joining id must be in peers")
        if not set(self.peers) - self.joining:
            raise config_error("joining", "the first configuration needs at least one voter")
        if self.protocol not in PROTOCOLS:
            raise config_error(
                "protocol", f"must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"
            )
        if len(self.cluster_id.encode()) > MAX_CLUSTER_ID_BYTES:
            raise config_error("cluster_id", f"longer than {MAX_CLUSTER_ID_BYTES} bytes")
        positive = {
            "tick_ms": self.tick_ms,
            "election_timeout_ticks": self.election_timeout_ticks,
            "heartbeat_interval_ticks": self.heartbeat_interval_ticks,
            "max_segment_bytes": self.max_segment_bytes,
            "snapshot_entries": self.snapshot_entries,
            "snapshot_bytes": self.snapshot_bytes,
            "call_timeout_s": self.call_timeout_s,
            "max_pending_calls": self.max_pending_calls,
            "max_batch_proposals": self.max_batch_proposals,
            "max_writes_in_flight": self.max_writes_in_flight,
            "max_send_buffer_bytes": self.max_send_buffer_bytes,
            "max_inbound_buffer_bytes": self.max_inbound_buffer_bytes,
            "snapshot_chunk_bytes": self.snapshot_chunk_bytes,
            "snapshot_chunks_in_flight": self.snapshot_chunks_in_flight,
        }
        for name, value in positive.items():
            if not value > 0:
                raise config_error(name, f"must be positive, got {value}")
        if self.max_writes_in_flight > MAX_READIES_IN_FLIGHT:
            raise config_error(
                "max_writes_in_flight",
                f"must be at most {MAX_READIES_IN_FLIGHT}, got {self.max_writes_in_flight}",
            )
        if self.snapshot_chunk_bytes > MAX_CHUNK_BYTES:
            raise config_error(
                "snapshot_chunk_bytes",
                f"must be at most {MAX_CHUNK_BYTES}, got {self.snapshot_chunk_bytes}",
            )
        if self.heartbeat_interval_ticks >= self.election_timeout_ticks:
            raise config_error(
                "heartbeat_interval_ticks",
                f"must be below election_timeout_ticks ({self.election_timeout_ticks})",
            )
        check_tls_files("tls", self.tls)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}


# --- the server of one node --------------------------------------------------------------------

#: Defaults of the client server's limits (`ServerConfig`).
#: The core's limits (512 MiB, Redis's proto-max-bulk-len; 1024 commands).
DEFAULT_MAX_VALUE_BYTES = CORE_MAX_VALUE_BYTES
DEFAULT_MAX_CLIENTS = 10_000
DEFAULT_MAX_REPLY_BUFFER_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_BATCH_COMMANDS = CORE_MAX_BATCH_COMMANDS


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


def check_tls_files(name: str, files: TlsFiles | None) -> None:
    """Raises a `ConfigError` naming the first of `files` that cannot be read."""
    if files is None:
        return
    for attribute, path in files.missing():
        raise config_error(f"{name}.{attribute}", f"no such file: {path}")


# --- the cluster file --------------------------------------------------------------------------

#: `NodeConfig` fields a cluster file may set (for every node), with their TOML type. Not
#: settable: `id` and `peers` (from `[[nodes]]`), `data_dir` (from the file's `data_dir`),
#: `seed` and `core_options` (for tests and experiments).
FILE_NODE_FIELDS: dict[str, type] = {
    "cluster_id": str,
    "protocol": str,
    "tick_ms": float,
    "election_timeout_ticks": int,
    "heartbeat_interval_ticks": int,
    "pre_vote": bool,
    "check_quorum": bool,
    "lease_reads": bool,
    "fsync": bool,
    "max_segment_bytes": int,
    "snapshot_entries": int,
    "snapshot_bytes": int,
    "call_timeout_s": float,
    "max_pending_calls": int,
    "max_batch_proposals": int,
    "max_writes_in_flight": int,
    "max_send_buffer_bytes": int,
    "max_inbound_buffer_bytes": int,
    "snapshot_chunk_bytes": int,
    "snapshot_chunks_in_flight": int,
    "empty_disk_guard": bool,
}
#: `ServerConfig` limits a cluster file may set (for every node); all are integers.
SERVER_FIELDS: dict[str, int] = {
    "max_value_bytes": DEFAULT_MAX_VALUE_BYTES,
    "max_clients": DEFAULT_MAX_CLIENTS,
    "max_reply_buffer_bytes": DEFAULT_MAX_REPLY_BUFFER_BYTES,
    "max_batch_commands": DEFAULT_MAX_BATCH_COMMANDS,
}
#: The keys of one `[[nodes]]` table: required ones, then optional ones.
NODE_KEYS_REQUIRED = ("id", "peer", "client")
NODE_KEYS_OPTIONAL = ("metrics", "cert", "key")
#: The keys of the `[tls]` table, with their TOML type; every one but `ca` is optional.
TLS_KEYS: dict[str, type] = {
    "ca": str,
    "peers": bool,
    "clients": bool,
    "metrics": bool,
    "client_certs": str,
}
#: Where the nodes' logs go unless the file says: relative to the file's directory.
DEFAULT_DATA_DIR = "senate-data"
_TYPE_NAMES = {str: "a string", float: "a number", int: "an integer", bool: "a boolean"}


@dataclass(frozen=True)
class NodeAddresses:
    """One `[[nodes]]` table of a cluster file."""

    id: int
    #: The Raft peer address, "host:port".
    peer: str
    #: The RESP client address, "host:port".
    client: str
    #: The Prometheus endpoint, "host:port", if any.
    metrics: str | None = None
    #: This node's certificate and key (PEM), as the file names them; None: `node-<id>.crt`
    #: and `node-<id>.key` beside the CA. Used only with a `[tls]` table.
    cert: str | None = None
    key: str | None = None
    #: Not a voter of the cluster's first configuration: the node joins the running cluster
    #: through membership changes (`senate serve --join`, `senate member add`; see
    #: docs/membership.md). Keep it set after the node was added: the first configuration
    #: does not change.
    join: bool = False


@dataclass(frozen=True)
class TlsSettings:
    """The `[tls]` table of a cluster file: where the CA is (as the file says it: relative
    to the file's directory), and which of a node's ports speak TLS."""

    ca: str
    #: Mutual TLS between peers.
    peers: bool = True
    #: TLS on the client ports.
    clients: bool = True
    #: HTTPS on the metrics endpoints.
    metrics: bool = True
    #: Whether clients show a certificate: one of `CLIENT_CERT_MODES`.
    client_certs: str = "none"


def _node_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(NodeConfig) if f.name in FILE_NODE_FIELDS}


@dataclass
class ClusterConfig:
    """A cluster file (TOML): settings shared by every node, and each node's addresses.

    Node N keeps its log in `<data_dir>/node-N`; a relative `data_dir` is relative to
    `base_dir`, the file's directory (the working directory when None).
    """

    nodes: list[NodeAddresses]
    data_dir: str = DEFAULT_DATA_DIR
    #: Every `FILE_NODE_FIELDS` setting, defaults filled in.
    node_options: dict[str, Any] = field(default_factory=_node_defaults)
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    max_clients: int = DEFAULT_MAX_CLIENTS
    max_reply_buffer_bytes: int = DEFAULT_MAX_REPLY_BUFFER_BYTES
    max_batch_commands: int = DEFAULT_MAX_BATCH_COMMANDS
    base_dir: Path | None = None
    #: The `[tls]` table; None: no TLS anywhere.
    tls: TlsSettings | None = None
    #: The `[auth]` table.
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: The `senate.server_limits` settings.
    limits: ServerLimits = field(default_factory=ServerLimits)

    def __post_init__(self) -> None:
        self.node_options = {**_node_defaults(), **self.node_options}
        unknown = set(self.node_options) - set(FILE_NODE_FIELDS)
        if unknown:
            raise config_error(sorted(unknown)[0], "not settable in a cluster file")
        self._check_nodes()
        self._check_tls()
        # Validates the shared settings through NodeConfig and ServerConfig, once.
        self.server_config(self.nodes[0].id)

    def _check_nodes(self) -> None:
        if not self.nodes:
            raise config_error("nodes", "at least one [[nodes]] table is required")
        ids: dict[int, int] = {}
        used: dict[tuple[str, int], str] = {}
        for i, node in enumerate(self.nodes):
            if node.id < 1:
                raise config_error(f"nodes[{i}].id", f"must be at least 1, got {node.id}")
            if node.id in ids:
                raise config_error(
                    f"nodes[{i}].id", f"duplicate id {node.id} (also nodes[{ids[node.id]}])"
                )
            ids[node.id] = i
            for kind in ("peer", "client", "metrics"):
                address = getattr(node, kind)
                if address is None:
                    continue
                where = f"nodes[{i}].{kind}"
                try:
                    host_port = parse_host_port(address)
                except ValueError:
                    raise config_error(where, f"expected host:port, got {address!r}") from None
                if host_port in used:
                    raise config_error(where, f"{address} is also {used[host_port]}")
                used[host_port] = where

    def _check_tls(self) -> None:
        tls = self.tls
        if tls is None:
            return
        if tls.client_certs not in CLIENT_CERT_MODES:
            raise config_error(
                "tls.client_certs",
                f"must be one of {', '.join(CLIENT_CERT_MODES)}, got {tls.client_certs!r}",
            )
        if not self.resolve(tls.ca).is_file():
            raise config_error("tls.ca", f"no such file: {self.resolve(tls.ca)}")
        for i, node in enumerate(self.nodes):
            files = self.tls_files(node.id)
            assert files is not None
            for kind, path in (("cert", files.cert_file), ("key", files.key_file)):
                if not Path(path).is_file():
                    raise config_error(f"nodes[{i}].{kind}", f"no such file: {path}")

    # --- reading ------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClusterConfig:
        """Reads and validates a cluster file; any problem raises `ConfigError`."""
        path = Path(path)
        try:
            text = path.read_bytes().decode()
        except (OSError, UnicodeDecodeError) as e:
            raise config_error(str(path), f"cannot read: {e}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise config_error(str(path), f"invalid TOML: {e}") from None
        return cls.from_dict(data, base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> ClusterConfig:
        """A cluster from a parsed file's tables; `base_dir` anchors a relative data_dir."""
        top = {"cluster_id", "data_dir", "nodes", "tls", "auth", *FILE_NODE_FIELDS, *SERVER_FIELDS}
        top |= set(LIMIT_FIELDS)
        for key in data:
            if key not in top:
                raise config_error(key, f"unknown field {key!r}{_did_you_mean(key, top)}")
        if "nodes" not in data:
            raise config_error("nodes", "missing: at least one [[nodes]] table is required")
        raw_nodes = data["nodes"]
        if not isinstance(raw_nodes, list) or not all(isinstance(n, dict) for n in raw_nodes):
            raise config_error("nodes", "expected an array of tables ([[nodes]])")
        options: dict[str, Any] = {
            name: _typed(name, data[name], kind)
            for name, kind in FILE_NODE_FIELDS.items()
            if name in data
        }
        limits = {name: _typed(name, data[name], int) for name in SERVER_FIELDS if name in data}
        data_dir = _typed("data_dir", data.get("data_dir", DEFAULT_DATA_DIR), str)
        if not data_dir:
            raise config_error("data_dir", "must not be empty")
        nodes = [_node_from_dict(i, raw) for i, raw in enumerate(raw_nodes)]
        tls = _tls_from_dict(data["tls"]) if "tls" in data else None
        auth = AuthConfig.from_dict(data["auth"]) if "auth" in data else AuthConfig()
        bounds = ServerLimits(
            **{
                name: _typed(name, data[name], kind)
                for name, kind in LIMIT_FIELDS.items()
                if name in data
            }
        )
        return cls(
            nodes, data_dir, options, base_dir=base_dir, tls=tls, auth=auth, limits=bounds, **limits
        )

    # --- per node -----------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return [n.id for n in self.nodes]

    @property
    def data_path(self) -> Path:
        """The data directory, resolved against `base_dir`."""
        return self.resolve(self.data_dir)

    def resolve(self, path: str) -> Path:
        """`path` as the file means it: relative to `base_dir` (the working directory when
        None) unless absolute."""
        return (self.base_dir or Path.cwd()) / path

    def tls_files(self, node_id: int) -> TlsFiles | None:
        """Node `node_id`'s CA, certificate and key, resolved; None without a `[tls]` table."""
        if self.tls is None:
            return None
        node = self.addresses(node_id)
        ca = self.resolve(self.tls.ca)
        cert = self.resolve(node.cert) if node.cert else ca.parent / f"node-{node_id}.crt"
        key = self.resolve(node.key) if node.key else ca.parent / f"node-{node_id}.key"
        return TlsFiles(str(ca), str(cert), str(key))

    def addresses(self, node_id: int) -> NodeAddresses:
        for node in self.nodes:
            if node.id == node_id:
                return node
        ids = ", ".join(map(str, self.ids))
        raise config_error("id", f"no node {node_id} in this cluster (its ids: {ids})")

    def node_config(self, node_id: int) -> NodeConfig:
        self.addresses(node_id)  # raises for an unknown id
        return NodeConfig(
            id=node_id,
            peers={n.id: n.peer for n in self.nodes},
            data_dir=str(self.data_path / f"node-{node_id}"),
            tls=self.tls_files(node_id) if self.tls is not None and self.tls.peers else None,
            joining=frozenset(n.id for n in self.nodes if n.join),
            **self.node_options,
        )

    def server_config(self, node_id: int) -> ServerConfig:
        node = self.addresses(node_id)
        tls, files = self.tls, self.tls_files(node_id)
        return ServerConfig(
            node=self.node_config(node_id),
            client_address=node.client,
            metrics_address=node.metrics,
            max_value_bytes=self.max_value_bytes,
            max_clients=self.max_clients,
            max_reply_buffer_bytes=self.max_reply_buffer_bytes,
            max_batch_commands=self.max_batch_commands,
            client_tls=files if tls is not None and tls.clients else None,
            client_certs=tls.client_certs if tls is not None else "none",
            metrics_tls=files if tls is not None and tls.metrics else None,
            auth=self.auth,
            limits=self.limits,
        )

    # --- writing ------------------------------------------------------------------------
    def to_toml(self) -> str:
        """The cluster file: every setting spelled out; `load` reads back an equal config."""
        lines = [f"data_dir = {_toml_value(self.data_dir)}"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in self.node_options.items()]
        lines += [f"{k} = {_toml_value(getattr(self, k))}" for k in SERVER_FIELDS]
        bounds = ((k, getattr(self.limits, k)) for k in LIMIT_FIELDS)
        lines += [f"{k} = {_toml_value(v)}" for k, v in bounds if v is not None]
        if self.tls is not None:
            lines += ["", "[tls]"]
            lines += [f"{k} = {_toml_value(getattr(self.tls, k))}" for k in TLS_KEYS]
        lines += self.auth.to_toml(_toml_value)
        for node in self.nodes:
            lines += ["", "[[nodes]]", f"id = {node.id}"]
            lines += [f"peer = {_toml_value(node.peer)}", f"client = {_toml_value(node.client)}"]
            for key in NODE_KEYS_OPTIONAL:
                value = getattr(node, key)
                if value is not None:
                    lines.append(f"{key} = {_toml_value(value)}")
            if node.join:
                lines.append("join = true")
        return "\n".join(lines) + "\n"


def _node_from_dict(i: int, raw: Mapping[str, Any]) -> NodeAddresses:
    known = (*NODE_KEYS_REQUIRED, *NODE_KEYS_OPTIONAL, "join")
    for key in raw:
        if key not in known:
            where = f"nodes[{i}].{key}"
            raise config_error(where, f"unknown field {key!r}{_did_you_mean(key, known)}")
    for key in NODE_KEYS_REQUIRED:
        if key not in raw:
            raise config_error(f"nodes[{i}].{key}", "missing")
    optional = {
        key: _typed(f"nodes[{i}].{key}", raw[key], str) for key in NODE_KEYS_OPTIONAL if key in raw
    }
    return NodeAddresses(
        id=_typed(f"nodes[{i}].id", raw["id"], int),
        peer=_typed(f"nodes[{i}].peer", raw["peer"], str),
        client=_typed(f"nodes[{i}].client", raw["client"], str),
        join=_typed(f"nodes[{i}].join", raw.get("join", False), bool),
        **optional,
    )


def _tls_from_dict(raw: Any) -> TlsSettings:
    if not isinstance(raw, dict):
        raise config_error("tls", "expected a table ([tls])")
    for key in raw:
        if key not in TLS_KEYS:
            raise config_error(f"tls.{key}", f"unknown field {key!r}{_did_you_mean(key, TLS_KEYS)}")
    if "ca" not in raw:
        raise config_error("tls.ca", "missing: the CA certificate that signs the nodes'")
    return TlsSettings(**{key: _typed(f"tls.{key}", raw[key], TLS_KEYS[key]) for key in raw})


def _typed(name: str, value: Any, kind: type[T]) -> T:
    """`value` if it is of `kind` (an int counts as a float; a bool is no number)."""
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise config_error(name, f"expected {_TYPE_NAMES[kind]}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise config_error(name, f"must be finite, got {value!r}")
    return cast(T, value)


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _toml_value(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        assert math.isfinite(value), value
        return repr(value)
    # A basic string: quote, backslash and control characters escaped.
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else "\\" + c if c in '"\\' else c
        for c in value
    )
    return f'"{escaped}"'
