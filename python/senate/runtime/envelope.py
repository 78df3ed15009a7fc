"""The envelope every proposal's entry starts with, and the request id a named call adds.

    plain call:  origin node id (u64), origin's call sequence (u64), slot (u16), command
    named call:  the same with the slot's `KEYED_SLOT_FLAG` set, then the id's length (u8),
                 the id, the command

The origin answers its caller when it applies an entry naming it and the call's sequence
number (`senate.runtime.driver.Applier`); a named call runs at most once per id
(`senate.runtime.requests`).
"""

from __future__ import annotations

import struct

#: (origin node id, origin's call sequence, state machine slot), little-endian.
ENVELOPE = struct.Struct("<QQH")
#: The bit of the envelope's slot that says a request id follows the envelope. Slots stay
#: below it.
KEYED_SLOT_FLAG = 0x8000
#: The longest request id, in bytes (its length is one byte).
MAX_REQUEST_ID_BYTES = 255


def request_id_bytes(request_id: str | bytes) -> bytes:
    """A request id as bytes (a str as UTF-8), checked for length."""
    rid = request_id.encode() if isinstance(request_id, str) else bytes(request_id)
    if not 1 <= len(rid) <= MAX_REQUEST_ID_BYTES:
        raise ValueError(f"a request id has 1 to {MAX_REQUEST_ID_BYTES} bytes, not {len(rid)}")
    return rid


def keyed_entry(node_id: int, seq: int, slot: int, rid: bytes, command: bytes) -> bytes:
    """The entry of a call named `rid`."""
    assert slot < KEYED_SLOT_FLAG, "slot numbers stay below the keyed flag"
    return ENVELOPE.pack(node_id, seq, slot | KEYED_SLOT_FLAG) + bytes((len(rid),)) + rid + command
