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
from senate.balance import (
    BoundedLoadHash,
    JumpHash,
    LeastRequest,
    Maglev,
    PeakEwma,
    Random,
    Rendezvous,
    RingHash,
    RoundRobin,
    SmoothWeighted,
    WeightedRandom,
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
    "BoundedLoadHash",
    "Compacted",
    "ConfigError",
    "DecodeError",
    "Entry",
    "InvalidMessage",
    "JumpHash",
    "LeastRequest",
    "Maglev",
    "NotLeader",
    "PeakEwma",
    "ProposalDropped",
    "RaftNode",
    "Random",
    "Ready",
    "ReadyNotAdvanced",
    "Rendezvous",
    "RingHash",
    "RoundRobin",
    "SenateError",
    "SimReport",
    "SmoothWeighted",
    "SnapshotOutOfDate",
    "Status",
    "StorageError",
    "ThroughputReport",
    "Unavailable",
    "UnknownPeer",
    "WeightedRandom",
    "__version__",
    "run_sim",
    "run_throughput",
]
