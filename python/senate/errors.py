"""The exceptions senate raises; each core error type has its class, all under `SenateError`.

SenateError
├── NotLeader          .leader_hint: int | None
├── ProposalDropped    .reason: "transferring" | "uncommitted_limit" | "too_large" | "empty"
│                                | "too_many_pending_reads" | "conf_change_pending"
├── ConfigError        .field, .problem
├── UnknownPeer        .id
├── InvalidMessage     .from_id, .problem
├── ReadyNotAdvanced
├── RestoreFailed      .index (the leader's snapshot could not be restored: the node stops)
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
│                      .request_id (the call's, if it named one)
├── RequestFailed      .type_name, .message (a retried named call had raised)
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
    RestoreFailed,
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
    "RequestFailed",
    "RestoreFailed",
    "SenateError",
    "SnapshotOutOfDate",
    "StorageError",
    "Unavailable",
    "UnknownPeer",
    "WalCorrupt",
    "WalError",
    "config_error",
]


def config_error(field_name: str, problem: str) -> ConfigError:
    """A `ConfigError` with `field` and `problem` set, as the core raises them."""
    err = ConfigError(f"invalid config: {field_name}: {problem}")
    err.field = field_name
    err.problem = problem
    return err


class CallTimeout(SenateError, TimeoutError):
    """A replicated call or read was not answered in time. A call that timed out may still be
    committed and applied later. `request_id` is the id the call named (None if it named
    none): retry it with the same id and it runs at most once (docs/exactly-once.md)."""

    request_id: str | bytes | None = None


class RequestFailed(SenateError):
    """A retried call (same `request_id`) had raised, on the node whose snapshot this node
    restored since it ran: `type_name` and the message say what it raised."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class Overloaded(SenateError):
    """Too many calls are waiting for commit (`max_pending_calls`); try again later."""


class NodeNotRunning(SenateError):
    """The node is not started, or was stopped."""
