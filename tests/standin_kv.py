"""A stand-in for `senate.kv` (which lands with the key-value service): `serve` runs a real
node (a replicated counter, with metrics) and answers PING and INFO [senate] on the client
port, in the format `senate.status` reads. Run as a program it is `senate` with this module
as `senate.kv`, so `standin_kv.py serve --config F --id N` is the real `senate serve`."""

from __future__ import annotations

import asyncio
import os
import sys

from senate import Node, ReplCounter
from senate.config import ServerConfig
from senate.metrics import NodeMetrics
from senate.transport import parse_host_port


def info_senate(node: Node) -> str:
    s = node.status()
    lines = [
        "# Senate",
        f"node_id:{s.id}",
        f"pid:{os.getpid()}",
        f"role:{s.role}",
        f"term:{s.term}",
        f"leader:{s.leader or 0}",
        f"commit_index:{s.commit_index}",
        f"applied_index:{s.applied_index}",
        f"snapshot_index:{s.snapshot_index}",
        f"last_index:{s.last_index}",
    ]
    for p in s.peers:
        match = -1 if p.match_index is None else p.match_index
        lines.append(f"peer{p.id}:connected={int(p.connected)},match_index={match}")
    return "\r\n".join(lines) + "\r\n"


async def handle(node: Node, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            header = await reader.readline()
            if not header.startswith(b"*"):
                return
            args = []
            for _ in range(int(header[1:])):
                size = int((await reader.readline())[1:])
                args.append((await reader.readexactly(size + 2))[:-2].decode().upper())
            if args[0] == "PING":
                writer.write(b"+PONG\r\n")
            elif args[0] == "INFO":
                data = info_senate(node).encode()
                writer.write(b"$%d\r\n%s\r\n" % (len(data), data))
            else:
                writer.write(b"-ERR unknown command\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(config: ServerConfig) -> None:
    metrics = NodeMetrics(config.node.id)
    node = Node(ReplCounter(), config.node, metrics=metrics)
    await node.start()
    host, port = parse_host_port(config.client_address)
    server = await asyncio.start_server(lambda r, w: handle(node, r, w), host, port)
    endpoint = (
        None if config.metrics_address is None else metrics.start_http(config.metrics_address)
    )
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        if endpoint is not None:
            endpoint.close()
        await node.stop()
        print(f"stand-in node {config.node.id}: stopped cleanly", flush=True)


if __name__ == "__main__":
    sys.modules["senate.kv"] = sys.modules["__main__"]
    from senate.cli import main

    main()
