"""`ClusterConfig`: a cluster file (TOML) describing every node of a cluster, read, validated
(a bad value raises `ConfigError` naming the field with its place, as `nodes[2].client`) and
written back. It makes each node's `NodeConfig` and `ServerConfig`. The file's format is
described in `senate.config`, the public path, which re-exports this module's names.
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

from senate.auth import AuthConfig
from senate.errors import config_error
from senate.node_config import NodeConfig
from senate.runtime.transport import parse_host_port
from senate.security.tls_files import CLIENT_CERT_MODES, TlsFiles
from senate.server_config import (
    DEFAULT_MAX_BATCH_COMMANDS,
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_REPLY_BUFFER_BYTES,
    DEFAULT_MAX_VALUE_BYTES,
    SERVER_FIELDS,
    ServerConfig,
)
from senate.server_limits import LIMIT_FIELDS, ServerLimits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


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
