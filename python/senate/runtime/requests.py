"""Request ids: replicated calls that run at most once however often they are retried.

A call may name itself (`await sm.method(..., request_id=...)`, `Node.propose(...,
request_id=...)`); its entry then carries the id after the envelope
(`senate.runtime.envelope`). Every
node applies the entries in log order and keeps, in this replicated table, the outcome of
each named call it ran; a later entry with the same id (the caller's retry after a
`CallTimeout`, on this node or another, even from a restarted process) is not run: its caller
gets the kept outcome. The table is part of the node's snapshots.

Bounds (deterministic: every replica keeps the same ids, since everything below depends only
on log positions): an id is remembered for `retention_entries` log positions after the entry
that ran it, and at most `max_kept` ids are kept (the oldest go first). An id retried after
either bound runs again. A kept outcome is the method's result (a msgpack type, as the
arguments are) or the exception it raised; restored from a snapshot, an exception comes back
as `RequestFailed` naming its type and message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from senate.errors import RequestFailed
from senate.runtime.envelope import ENVELOPE, KEYED_SLOT_FLAG

#: Request ids remembered at most, by default.
DEFAULT_MAX_REQUESTS_KEPT = 10_000
#: Log positions an id is remembered for after the entry that ran it, by default.
DEFAULT_REQUEST_RETENTION_ENTRIES = 1_000_000


#: A kept outcome: (log index of the entry that ran it, failed, result or exception).
Outcome = tuple[int, bool, Any]


class RequestTable:
    """The outcomes of the named calls applied, oldest first (dict order = log order)."""

    def __init__(
        self,
        max_kept: int = DEFAULT_MAX_REQUESTS_KEPT,
        retention_entries: int = DEFAULT_REQUEST_RETENTION_ENTRIES,
    ) -> None:
        assert max_kept >= 1, max_kept
        assert retention_entries >= 1, retention_entries
        self.max_kept = max_kept
        self.retention_entries = retention_entries
        self._kept: dict[bytes, Outcome] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def apply_once(
        self, data: bytes, index: int, apply: Sequence[Callable[[bytes], Any]]
    ) -> tuple[Any, bool]:
        """Runs the keyed entry `data` (at log `index`) unless its id ran within the bounds;
        returns (result or exception, failed)."""
        size = ENVELOPE.size
        slot = ENVELOPE.unpack_from(data)[2] & ~KEYED_SLOT_FLAG
        end = size + 1 + data[size]
        rid = data[size + 1 : end]
        kept = self._kept.get(rid)
        if kept is not None and kept[0] + self.retention_entries > index:
            return kept[2], kept[1]
        failed = False
        try:
            result = apply[slot](data[end:])
        except Exception as e:  # the command's own error, the same on every node
            result, failed = e, True
        self._record(rid, (index, failed, result))
        return result, failed

    def _record(self, rid: bytes, outcome: Outcome) -> None:
        kept = self._kept
        kept.pop(rid, None)  # re-inserted last: its place is its new index
        kept[rid] = outcome
        # Oldest first: those past retention, then any beyond `max_kept`. Entries past
        # retention are ignored by lookups anyway, and they are always the oldest, so the ids
        # a lookup finds are the same on every replica whenever this runs.
        index = outcome[0]
        while kept:
            oldest = next(iter(kept))
            if len(kept) > self.max_kept or kept[oldest][0] + self.retention_entries <= index:
                del kept[oldest]
            else:
                break

    # --- snapshots ------------------------------------------------------------------------
    def capture(self) -> Callable[[], bytes]:
        """The table as it is now, encoded later (in a worker thread)."""
        copy = dict(self._kept)
        return lambda: _encode(copy)

    def snapshot(self) -> bytes:
        return _encode(self._kept)

    def restore(self, data: bytes | None) -> None:
        """Replaces the table with a snapshot's (None: an empty table)."""
        self._kept = {}
        if data is None:
            return
        for rid, index, failed, payload in msgpack.unpackb(data):
            if failed:
                type_name, message = payload
                self._kept[rid] = (index, True, RequestFailed(type_name, message))
            else:
                self._kept[rid] = (index, False, payload)


def _encode(kept: dict[bytes, Outcome]) -> bytes:
    rows = []
    for rid, (index, failed, result) in kept.items():
        if failed:
            payload: Any = (
                [result.type_name, result.message]
                if isinstance(result, RequestFailed)
                else [type(result).__name__, str(result)]
            )
        else:
            payload = result
            try:
                msgpack.packb(result)
            except (TypeError, ValueError):  # kept in memory, but a snapshot cannot hold it
                failed, payload = True, [type(result).__name__, "the result is no msgpack type"]
        rows.append([rid, index, failed, payload])
    data: bytes = msgpack.packb(rows)
    return data
