"""What the runtime needs of a consensus core and of the state machines it replicates.

The core comes with its driver (`NodeDriver`: the policy of carrying out Readies, in Rust);
the parts that feed it input need only `Core`. Any object offering `Machine` can be
replicated (`senate.StateMachine` is the one users subclass). Both are protocols so that the
parts import neither the bindings' concrete types nor `senate.statemachine` (which imports
the runtime: a cycle otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from senate._core import SnapshotData
from senate.runtime.requests import RequestTable


class Core(Protocol):
    """What the parts that feed a node's core need of it (`NodeDriver` offers it)."""

    def step_stream(self, data: bytes | bytearray) -> int: ...
    def step_snapshot(self, peer_id: int, head: bytes, data: SnapshotData) -> None: ...
    def propose_batch(self, data: list[bytes]) -> None: ...
    def report_unreachable(self, id: int) -> None: ...


class Machine(Protocol):
    """What the runtime needs of a replicated state machine (see `senate.StateMachine`)."""

    def apply(self, command: bytes) -> Any: ...
    def snapshot(self) -> bytes: ...
    def capture(self) -> Callable[[], bytes] | None: ...
    def restore(self, data: bytes) -> None: ...

    # Optional: `prepare_restore(part: SnapshotData) -> Any` (in a worker thread) and
    # `finish_restore(prepared) -> None` (on the loop), the split restore of
    # `senate.StateMachine`; without them `restore(bytes(part))` runs on the loop.


class AppliedState:
    """The state machines of a node, in slot order, and how far they are applied.

    Written by the driver (`applied_index` as it applies) and by the snapshots
    (`snapshot_index`, and both when a snapshot replaces the state).
    """

    def __init__(self, machines: Sequence[Machine]) -> None:
        self.machines = list(machines)
        #: The last log index applied to the machines; `snapshot_index <= applied_index`.
        self.applied_index = 0
        #: The index of the last snapshot taken or restored.
        self.snapshot_index = 0
        #: The outcomes of the calls applied that named a request id (replicated state: in
        #: the snapshots with the machines).
        self.requests = RequestTable()
