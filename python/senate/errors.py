"""The exceptions senate raises; each core error type has its class, all under `SenateError`.

SenateError
├── NotLeader          .leader_hint: int | None
├── ProposalDropped    .reason: "transferring" | "uncommitted_limit" | "too_large" | "empty"
│                                | "too_many_pending_reads"
├── ConfigError        .field, .problem
├── UnknownPeer        .id
├── InvalidMessage     .from_id, .problem
├── ReadyNotAdvanced
├── StorageError
│   ├── Compacted          .index, .first_index
│   ├── Unavailable        .index, .last_index
│   ├── SnapshotOutOfDate  .index, .current
│   └── WalError           .path
│       └── WalCorrupt     .path, .offset, .problem
├── DecodeError
├── KvError          (a malformed key-value batch, snapshot or reply stream)
├── InvalidTime        .now_ms, .problem (a failure detector's time argument)
├── HistoryError       .index, .field, .problem (a history the checker cannot read)
├── CallTimeout      (also a TimeoutError: a call or read of a node not answered in time)
├── Overloaded       (a node's `max_pending_calls` are waiting)
└── NodeNotRunning
"""

from senate._core import (
    Compacted,
    ConfigError,
    DecodeError,
    HistoryError,
    InvalidMessage,
    InvalidTime,
    KvError,
    NotLeader,
    ProposalDropped,
    ReadyNotAdvanced,
    SenateError,
    SnapshotOutOfDate,
    StorageError,
    Unavailable,
    UnknownPeer,
    WalCorrupt,
    WalError,
)

__all__ = [
    "CallTimeout",
    "Compacted",
    "ConfigError",
    "DecodeError",
    "HistoryError",
    "InvalidMessage",
    "InvalidTime",
    "KvError",
    "NodeNotRunning",
    "NotLeader",
    "Overloaded",
    "ProposalDropped",
    "ReadyNotAdvanced",
    "SenateError",
    "SnapshotOutOfDate",
    "StorageError",
    "Unavailable",
    "UnknownPeer",
    "WalCorrupt",
    "WalError",
]


class CallTimeout(SenateError, TimeoutError):
    """A replicated call or read was not answered in time. A call that timed out may still be
    committed and applied later: make commands idempotent where that matters."""


class Overloaded(SenateError):
    """Too many calls are waiting for commit (`max_pending_calls`); try again later."""


class NodeNotRunning(SenateError):
    """The node is not started, or was stopped."""
