"""One senate node in its own OS process, for the cluster tests: a replicated counter (and a
log of every acknowledged addition) behind a JSON-lines control socket.

    python tests/node_process.py --id 1 --peers 1=127.0.0.1:7001,2=... --data DIR --control PORT

Control requests, one JSON object per line, answered in order:
    {"op": "add", "n": 1, "tag": "c17"}   -> {"ok": true, "value": 5}
    {"op": "get"}                          -> {"ok": true, "value": 5}      (linearizable)
    {"op": "tags"}                         -> {"ok": true, "value": [...]}  (local state)
    {"op": "status"}                       -> {"ok": true, "value": {...}}
    {"op": "snapshot"}                     -> {"ok": true}
Errors: {"ok": false, "error": "<class>: <message>"}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from typing import Any

from senate import Node, StateMachine, linearizable, replicated, run


class TaggedCounter(StateMachine):
    """A counter that remembers the tag of every addition (to check none is lost)."""

    def __init__(self) -> None:
        self.value = 0
        self.tags: list[str] = []

    @replicated
    def add(self, n: int, tag: str) -> int:
        self.value += n
        self.tags.append(tag)
        return self.value

    @linearizable
    def get(self) -> int:
        return self.value


async def handle(node: Node, sm: TaggedCounter, request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "add":
        return await sm.add(request["n"], request["tag"], timeout=request.get("timeout", 5.0))
    if op == "get":
        return await sm.get(timeout=request.get("timeout", 5.0))
    if op == "tags":
        return sm.tags
    if op == "status":
        return dataclasses.asdict(node.status())
    if op == "snapshot":
        node.snapshot_now()
        return None
    raise ValueError(f"unknown op {op!r}")


async def serve(args: argparse.Namespace) -> None:
    peers = {}
    for item in args.peers.split(","):
        node_id, address = item.split("=")
        peers[int(node_id)] = address
    sm = TaggedCounter()
    node = Node(
        sm,
        id=args.id,
        peers=peers,
        data_dir=args.data,
        tick_ms=args.tick_ms,
        snapshot_entries=args.snapshot_entries,
        protocol=args.protocol,
        snapshot_chunk_bytes=args.snapshot_chunk_bytes,
    )
    await node.start()
    if args.break_snapshot_stream:
        node.faults.break_snapshot_stream(args.break_snapshot_stream)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            try:
                value = await handle(node, sm, json.loads(line))
                reply: dict[str, Any] = {"ok": True, "value": value}
            except Exception as e:
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", args.control)
    print(f"ready {args.id}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--tick-ms", type=float, default=10.0)
    parser.add_argument("--snapshot-entries", type=int, default=100_000)
    parser.add_argument("--protocol", default="raft")
    parser.add_argument("--snapshot-chunk-bytes", type=int, default=1 << 20)
    #: Cut the first snapshot stream received after that many bytes (0: never).
    parser.add_argument("--break-snapshot-stream", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    run(serve(args))  # uvloop when installed


if __name__ == "__main__":
    main()
