"""`NodeConfig`: one node of a cluster as the runtime (`senate.Node`) takes it, validated: a
bad value raises `ConfigError` naming the field. `check_tls_files` is the TLS check it shares
with `senate.server_config`.

The public path is `senate.config`, which re-exports this module's names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from senate._core import (
    DEFAULT_ELECTION_TIMEOUT_TICKS,
    DEFAULT_HEARTBEAT_INTERVAL_TICKS,
    DEFAULT_MAX_BATCH_PROPOSALS,
    DEFAULT_MAX_WRITES_IN_FLIGHT,
    DEFAULT_SNAPSHOT_BYTES,
    DEFAULT_SNAPSHOT_ENTRIES,
    MAX_READIES_IN_FLIGHT,
)
from senate.errors import config_error
from senate.runtime.snapshot_codec import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_CHUNKS_IN_FLIGHT,
    MAX_CHUNK_BYTES,
)
from senate.runtime.transport import MAX_CLUSTER_ID_BYTES, parse_host_port
from senate.security.tls_files import TlsFiles

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


def check_tls_files(name: str, files: TlsFiles | None) -> None:
    """Raises a `ConfigError` naming the first of `files` that cannot be read."""
    if files is None:
        return
    for attribute, path in files.missing():
        raise config_error(f"{name}.{attribute}", f"no such file: {path}")
