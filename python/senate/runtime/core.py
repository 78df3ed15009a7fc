"""What the runtime needs of a consensus core and of the state machines it replicates.

Any core offering `Core` (Raft's `RaftNode` today) can be driven; any object offering
`Machine` can be replicated (`senate.StateMachine` is the one users subclass). Both are
protocols so that the runtime imports neither the bindings' concrete types nor
`senate.statemachine` (which imports the runtime: a cycle otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from senate._core import Ready, Snapshot, Status


class Core(Protocol):
    """What the runtime needs of a consensus core."""

    def tick(self, n: int = 1) -> None: ...
    def step_stream(self, data: bytes | bytearray) -> int: ...
    def propose_batch(self, data: list[bytes]) -> None: ...
    def read_index(self, request_id: int) -> None: ...
    def transfer_leader(self, id: int) -> None: ...
    def report_unreachable(self, id: int) -> None: ...
    def has_ready(self) -> bool: ...
    def ready(self) -> Ready | None: ...
    def has_ready_without_write(self) -> bool: ...
    def ready_without_write(self) -> Ready | None: ...
    def advance(self) -> None: ...
    def status(self) -> Status: ...
    def compact(self, index: int, data: bytes) -> Snapshot: ...


class Machine(Protocol):
    """What the runtime needs of a replicated state machine (see `senate.StateMachine`)."""

    def apply(self, command: bytes) -> Any: ...
    def snapshot(self) -> bytes: ...
    def capture(self) -> Callable[[], bytes] | None: ...
    def restore(self, data: bytes) -> None: ...


class AppliedState:
    """The state machines of a node, in slot order, and how far they are applied.

    Written by the driver (`applied_index`, `bytes_since_snapshot` as it applies) and by
    the snapshots (`snapshot_index`, and all three when a snapshot replaces the state).
    """

    def __init__(self, machines: Sequence[Machine]) -> None:
        self.machines = list(machines)
        #: The last log index applied to the machines; `snapshot_index <= applied_index`.
        self.applied_index = 0
        #: The index of the last snapshot taken or restored.
        self.snapshot_index = 0
        #: Bytes of commands applied since that snapshot.
        self.bytes_since_snapshot = 0
