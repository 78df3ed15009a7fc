"""The resident memory of a node: idle, and holding 1,000,000 entries in its log.

    python benches/node_memory.py [--entries 1000000] [--payload-bytes 16]

A single-node cluster (it commits alone) with fsync off (the log's size in memory, not the
disk, is measured) and snapshots disabled until the end, so the whole log stays in memory.
RSS is read from /proc/self/status (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import tempfile

from senate import Node, StateMachine
from senate.runtime.loop import run


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Sink(StateMachine):
    """Applies commands by counting them: the state is negligible, the log is what is held."""

    def __init__(self) -> None:
        self.count = 0

    def apply(self, command: bytes) -> None:
        self.count += 1


async def main(entries: int, payload_bytes: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data_dir:
        sink = Sink()
        node = Node(
            sink,
            id=1,
            peers={1: f"127.0.0.1:{port}"},
            data_dir=data_dir,
            fsync=False,
            snapshot_entries=10 * entries,
            snapshot_bytes=1 << 40,
            max_pending_calls=20_000,
        )
        await node.start()
        while node.role != "leader":
            await asyncio.sleep(0.01)
        gc.collect()
        idle = rss_mib()
        payload = b"x" * payload_bytes
        window = 10_000
        for start in range(0, entries, window):
            count = min(window, entries - start)
            await asyncio.gather(*(node.propose(payload) for _ in range(count)))
        gc.collect()
        full = rss_mib()
        status = node.status()
        await node.stop()
    log_entries = status.last_index - status.snapshot_index
    print(f"idle node RSS: {idle:.1f} MiB")
    print(
        f"node holding {log_entries:,} entries ({payload_bytes} B commands): {full:.1f} MiB "
        f"(+{full - idle:.1f} MiB, {(full - idle) * 1024 * 1024 / max(log_entries, 1):.0f} B/entry)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--payload-bytes", type=int, default=16)
    args = parser.parse_args()
    run(main(args.entries, args.payload_bytes))
