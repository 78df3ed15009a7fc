"""The limits a key-value node raises so that a value of `max_value_bytes` fits in one log
entry: the peer frame, the leader's uncommitted bytes, the send buffer towards a peer and the
log's record."""

from __future__ import annotations

import dataclasses

from senate import _core
from senate.config import NodeConfig

#: Bytes of framing and batch headers around one value, at most (generous).
VALUE_OVERHEAD_BYTES = 1 << 20
#: The peer frame limit and the log's record limit when values are small.
DEFAULT_MAX_FRAME_BYTES = _core.DEFAULT_MAX_FRAME_BYTES
DEFAULT_MAX_UNCOMMITTED_BYTES = _core.DEFAULT_MAX_UNCOMMITTED_BYTES
#: The log's cap on a record.
MAX_RECORD_BYTES = 1 << 30


def sized_for_values(node: NodeConfig, max_value_bytes: int) -> NodeConfig:
    """`node` with the limits a value of `max_value_bytes` must pass raised to fit it: the
    peer frame (the core takes proposals up to half of it), the leader's uncommitted bytes,
    the send buffer towards a peer and the log's record."""
    entry_bytes = max_value_bytes + VALUE_OVERHEAD_BYTES
    frame_bytes = max(DEFAULT_MAX_FRAME_BYTES, 2 * entry_bytes)
    options = dict(node.core_options)
    options.setdefault("max_frame_bytes", frame_bytes)
    options.setdefault("max_uncommitted_bytes", max(DEFAULT_MAX_UNCOMMITTED_BYTES, 2 * entry_bytes))
    record_bytes = node.max_record_bytes
    if record_bytes is None and entry_bytes > DEFAULT_MAX_FRAME_BYTES:
        record_bytes = min(MAX_RECORD_BYTES, entry_bytes)
    return dataclasses.replace(
        node,
        core_options=options,
        max_record_bytes=record_bytes,
        max_send_buffer_bytes=max(node.max_send_buffer_bytes, frame_bytes),
    )
