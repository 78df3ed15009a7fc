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
└── InvalidTime        .now_ms, .problem (a failure detector's time argument)
"""

from senate._core import (
    Compacted,
    ConfigError,
    DecodeError,
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
    "Compacted",
    "ConfigError",
    "DecodeError",
    "InvalidMessage",
    "InvalidTime",
    "KvError",
    "NotLeader",
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
