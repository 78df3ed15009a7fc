"""Loading a senate cluster with many keys fast, at a pace it can take: MSET batches over
several connections, each with one batch in flight, a batch refused for overload or not
committed in time (BUSY, TRYAGAIN) sent again after a pause.

`redis-cli --pipe` writes its whole input without waiting for replies. On a senate node
every read of the socket becomes one batch of proposals; a flood fills the node's bound on
requests waiting for commit (`BUSY`) and the batches that wait longer than the call timeout
(`TRYAGAIN not committed within 5 s`), and redis-cli has no way to send those again: it
counts them as errors. This loader keeps `connections * keys_per_batch` keys in flight, at
most, and sends a refused batch again (or one unanswered within `REPLY_TIMEOUT_S`, on a new
connection), so that every key is written exactly as asked (MSET of the same values is
idempotent).

    report = load_keys_mset(("127.0.0.1", port), keys=1_000_000, value_bytes=1024)
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from senate.status import encode_command

#: Connections, and keys per MSET: 8 x 64 x 1 KiB keeps 512 KiB in flight.
DEFAULT_CONNECTIONS = 8
DEFAULT_KEYS_PER_BATCH = 64
#: Error replies that mean "send it again later", and the pause before that, in seconds.
RETRY_PREFIXES = (b"-BUSY", b"-TRYAGAIN")
RETRY_PAUSE_S = 0.2
#: Times one batch is sent, at most, before the load fails.
MAX_ATTEMPTS = 50
#: How long a batch's reply may take before the connection is closed and the batch sent
#: again on a new one, in seconds: a request held by a node that lost its leadership is
#: answered only at the node's call timeout (benches set it to minutes for the catch-up).
REPLY_TIMEOUT_S = 30.0


@dataclass
class LoadReport:
    keys: int
    seconds: float
    batches: int
    #: Error replies by their first word (each batch refused was sent again).
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    #: The first text of each kind of error reply.
    examples: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        refused = ", ".join(f"{n} {kind}" for kind, n in self.refused.items()) or "none"
        return (
            f"{self.keys} keys in {self.seconds:.1f} s ({self.keys / self.seconds:,.0f} keys/s), "
            f"{self.batches} MSETs; refused and sent again: {refused}"
        )


class LoadFailed(RuntimeError):
    """A batch got an error reply that sending again does not help, or too many."""


def key_name(i: int) -> str:
    """The keys of benches/kv_cluster.py's `load_keys`: key:0000000, key:0000001, ..."""
    return f"key:{i:07d}"


def load_keys_mset(
    address: tuple[str, int],
    keys: int,
    value_bytes: int,
    connections: int = DEFAULT_CONNECTIONS,
    keys_per_batch: int = DEFAULT_KEYS_PER_BATCH,
) -> LoadReport:
    """SETs keys `key_name(0)` .. `key_name(keys - 1)` to `value_bytes` bytes each at the
    node at `address` (the leader: a follower forwards writes, one hop more)."""
    return asyncio.run(_load(address, keys, value_bytes, connections, keys_per_batch))


async def _load(
    address: tuple[str, int], keys: int, value_bytes: int, connections: int, keys_per_batch: int
) -> LoadReport:
    value = b"v" * value_bytes
    starts = iter(range(0, keys, keys_per_batch))
    report = LoadReport(keys=keys, seconds=0.0, batches=0)
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(address, starts, keys, keys_per_batch, value, report)
            for _ in range(connections)
        )
    )
    report.seconds = time.perf_counter() - started
    return report


async def _connection(
    address: tuple[str, int],
    starts: collections.abc.Iterator[int],
    keys: int,
    keys_per_batch: int,
    value: bytes,
    report: LoadReport,
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        for start in starts:  # shared: each batch is taken by one connection
            args: list[bytes] = [b"MSET"]
            for i in range(start, min(keys, start + keys_per_batch)):
                args += [key_name(i).encode(), value]
            command = encode_command(*args)
            for _attempt in range(MAX_ATTEMPTS):
                writer.write(command)
                await writer.drain()
                report.batches += 1
                try:
                    reply = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT_S)
                except asyncio.TimeoutError:
                    reply = b"-TIMEOUT no reply within %d s" % REPLY_TIMEOUT_S
                    writer.close()  # the late reply must not answer the next batch
                    reader, writer = await asyncio.open_connection(*address)
                if reply.startswith(b"+"):
                    break
                kind = reply.split(b" ", 1)[0].decode(errors="replace")
                report.refused[kind] += 1
                report.examples.setdefault(kind, reply.decode(errors="replace").strip())
                if not reply.startswith((*RETRY_PREFIXES, b"-TIMEOUT")):
                    raise LoadFailed(f"MSET from key {start}: {reply!r}")
                await asyncio.sleep(RETRY_PAUSE_S)
            else:
                raise LoadFailed(f"MSET from key {start} refused {MAX_ATTEMPTS} times")
    finally:
        writer.close()
        await writer.wait_closed()
