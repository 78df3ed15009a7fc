"""senate: an embeddable consensus toolkit for Python services, with a Rust core.

The Rust core is sans-IO: a `RaftNode` takes ticks, frames from peers and proposals, and
hands back a `Ready` (messages to send, entries to apply). Everything that touches the world
is the caller's.
"""

from senate._core import (
    DetectorFigures,
    DetectSimReport,
    Entry,
    HeartbeatDetector,
    PhiAccrualDetector,
    RaftNode,
    Ready,
    SimReport,
    Status,
    ThroughputReport,
    __version__,
    run_detect_sim,
    run_sim,
    run_throughput,
)
from senate.errors import (
    Compacted,
    ConfigError,
    DecodeError,
    InvalidMessage,
    InvalidTime,
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
    "DetectSimReport",
    "DetectorFigures",
    "Entry",
    "HeartbeatDetector",
    "InvalidMessage",
    "InvalidTime",
    "NotLeader",
    "PhiAccrualDetector",
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
    "run_detect_sim",
    "run_sim",
    "run_throughput",
]
