"""The replicated key-value state machine (`KvMachine`): a Rust `KvStore` applying batches of
Redis commands, snapshotted while it goes on applying and restored off the event loop. Its
RESP server is `senate.kv`.
"""

from __future__ import annotations

from collections.abc import Callable

from senate._core import KvStore, SnapshotData
from senate.statemachine import StateMachine

#: The most keys a snapshot captures (`KvMachine.capture`); past it the node encodes the
#: store itself, applying nothing meanwhile. A capture costs the loop nothing at once, but
#: the first write to each of the store's 256 tables after it copies that table, and one
#: log entry of a mass insert (`redis-cli --pipe`: up to 1,024 SETs) writes to every table:
#: that entry copied the whole store, 46-86 ms of the loop at 1,000,000 keys (more on a busy
#: machine). With captures at any size, one 1,000,000-key insert of three here cost an
#: election (17,356 TRYAGAIN replies), and the leader's RSS after it was 453-641 MB against
#: 435 with this bound. At 500,000 keys a whole copy takes 21-44 ms.
MAX_CAPTURE_KEYS = 500_000


class KvMachine(StateMachine):
    """The replicated key-value state machine: a Rust `KvStore` applying batches of Redis
    commands. `apply` returns the RESP replies of the batch."""

    def __init__(self, max_keys_result: int = 100_000) -> None:
        self.store = KvStore(max_keys_result=max_keys_result)
        # Every node applies every entry: the node calls the store itself, not through a
        # Python frame that only passes the bytes on.
        self.apply = self.store.apply  # type: ignore[method-assign, assignment]

    def apply(self, command: bytes) -> bytes:
        return self.store.apply(command)

    def snapshot(self) -> bytes:
        return self.store.snapshot()

    def capture(self) -> Callable[[], bytes] | None:
        # A copy that shares the store's tables until the store writes to them (then it
        # copies that table alone, 1/256 of the store): microseconds on the loop, the copying
        # spread over the writes that follow, where encoding 100,000 keys takes 20 ms that
        # every apply would wait for. Past `MAX_CAPTURE_KEYS`, see there.
        if len(self.store) > MAX_CAPTURE_KEYS:
            return None
        return self.store.capture().snapshot

    def restore(self, data: bytes) -> None:
        self.store.restore(data)

    # A restore builds a new store off the loop (no interpreter lock, no copy of the
    # snapshot), which the loop may read and apply to meanwhile; the live store object then
    # takes its contents (every path reads it through `self.store`, and `self.apply` is its
    # bound method) and frees its old ones in another thread.
    def prepare_restore(self, part: SnapshotData) -> KvStore:
        return self.store.restored(part)

    def finish_restore(self, prepared: KvStore) -> None:
        self.store.swap_in(prepared)
