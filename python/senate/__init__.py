"""senate: an embeddable consensus toolkit for Python services, with a Rust core.

The Rust core is sans-IO: a `RaftNode` takes ticks, frames from peers and proposals, and
hands back a `Ready` (messages to send, entries to apply). Everything that touches the world
is the caller's.
"""

from senate._core import (
    Entry,
    RaftNode,
    Ready,
    SimReport,
    Status,
    ThroughputReport,
    __version__,
    run_sim,
    run_throughput,
)
from senate.errors import (
    Compacted,
    ConfigError,
    DecodeError,
    InvalidMessage,
    NotLeader,
    ProposalDropped,
    ReadyNotAdvanced,
    SenateError,
    SnapshotOutOfDate,
    StorageError,
    Unavailable,
    UnknownPeer,
)

__all__ = [
    "Compacted",
    "ConfigError",
    "DecodeError",
    "Entry",
    "InvalidMessage",
    "NotLeader",
    "ProposalDropped",
    "RaftNode",
    "Ready",
    "ReadyNotAdvanced",
    "SenateError",
    "SimReport",
    "SnapshotOutOfDate",
    "Status",
    "StorageError",
    "ThroughputReport",
    "Unavailable",
    "UnknownPeer",
    "__version__",
    "run_sim",
    "run_throughput",
]
