"""Node configuration, validated: a bad value raises `ConfigError` naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from senate._core import ConfigError
from senate.transport import MAX_CLUSTER_ID_BYTES, parse_host_port


def config_error(field_name: str, problem: str) -> ConfigError:
    """A `ConfigError` with `field` and `problem` set, as the core raises them."""
    err = ConfigError(f"invalid config: {field_name}: {problem}")
    err.field = field_name
    err.problem = problem
    return err


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
    #: The period of a tick, the unit of the election and heartbeat settings.
    tick_ms: float = 10.0
    #: A follower campaigns after a randomized timeout in [t, 2t) ticks without a leader.
    election_timeout_ticks: int = 15
    heartbeat_interval_ticks: int = 2
    pre_vote: bool = True
    check_quorum: bool = True
    lease_reads: bool = False
    #: fsync every Ready (group commit). Off only for benchmarks: acknowledged writes may be
    #: lost on a machine crash.
    fsync: bool = True
    max_segment_bytes: int = 64 * 1024 * 1024
    #: Take a snapshot and compact the log once this many entries or bytes were applied since
    #: the last one.
    snapshot_entries: int = 100_000
    snapshot_bytes: int = 64 * 1024 * 1024
    #: Default timeout of a replicated call or a linearizable read.
    call_timeout_s: float = 5.0
    #: Calls waiting for commit, at most; more are refused with `Overloaded`.
    max_pending_calls: int = 100_000
    #: Proposals in one Ready's batch, at most (the rest go in the next one).
    max_batch_proposals: int = 4096
    max_send_buffer_bytes: int = 64 * 1024 * 1024
    max_inbound_buffer_bytes: int = 8 * 1024 * 1024
    seed: int | None = None
    #: Extra keyword arguments for `RaftNode` (its flow-control limits).
    core_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.peers = {int(k): v for k, v in self.peers.items()}
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
            "max_send_buffer_bytes": self.max_send_buffer_bytes,
            "max_inbound_buffer_bytes": self.max_inbound_buffer_bytes,
        }
        for name, value in positive.items():
            if not value > 0:
                raise config_error(name, f"must be positive, got {value}")
        if self.heartbeat_interval_ticks >= self.election_timeout_ticks:
            raise config_error(
                "heartbeat_interval_ticks",
                f"must be below election_timeout_ticks ({self.election_timeout_ticks})",
            )

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}
