"""The fault switches of one `senate serve` process, over a Unix socket.

A node started with `senate serve --fault-control PATH` listens on PATH (a Unix socket, made
readable and writable by its owner only) for requests, one JSON object per line, each
answered by one line: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.

    {"op": "cut", "peers": [2, 3]}     drop every frame this node sends to nodes 2 and 3
    {"op": "heal"}                     send to every peer again
    {"op": "stall_disk"}               hold back the completions of its log writes
    {"op": "resume_disk"}              deliver them, and hear new ones
    {"op": "transfer_leader", "to": 2} ask the leader (this node) to hand over to node 2
    {"op": "snapshot"}                 take a snapshot now, then compact the log up to it
    {"op": "status"}                   {"ok": true, "role": ..., "leader": ..., "term": ...,
                                        "cut": [...], "disk_stalled": bool}

Only a test or `senate chaos` starts a node so: the socket lets its owner partition the
node and stall its disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from senate.runtime.node import Node

#: The longest request line accepted, in bytes; a longer one closes the connection.
MAX_REQUEST_BYTES = 4096
#: Connections served at once; more wait in the listen backlog.
MAX_CONNECTIONS = 16
#: A client's wait for one answer, in seconds.
CALL_TIMEOUT_S = 5.0


class ControlError(Exception):
    """The node refused a request, or could not be reached."""


def _handle(node: Node, request: dict[str, Any]) -> dict[str, Any]:
    """Carries out one request on `node`; raises ValueError with what is wrong with it."""
    op = request.get("op")
    faults = node.faults
    if op == "cut":
        peers = request.get("peers")
        if not isinstance(peers, list) or not all(isinstance(p, int) for p in peers):
            raise ValueError("'peers' must be a list of node ids")
        faults.cut_links(peers)
    elif op == "heal":
        faults.heal_links()
    elif op == "stall_disk":
        faults.stall_disk()
    elif op == "resume_disk":
        faults.resume_disk()
    elif op == "transfer_leader":
        to = request.get("to")
        if not isinstance(to, int):
            raise ValueError("'to' must be a node id")
        node.transfer_leader(to)
    elif op == "snapshot":
        node.snapshot_now()
    elif op != "status":
        raise ValueError(f"unknown op {op!r}")
    status = node.status()
    return {
        "ok": True,
        "role": status.role,
        "leader": status.leader,
        "term": status.term,
        "cut": sorted(faults.cut_peers),
        "disk_stalled": faults.disk_stalled,
    }


class FaultControlServer:
    """Serves `node`'s fault switches on the Unix socket at `path` (replacing a stale one)."""

    def __init__(self, node: Node, path: Path) -> None:
        self.node = node
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES
        )
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._slots:
            try:
                while line := await reader.readline():
                    writer.write(json.dumps(self._answer(line)).encode() + b"\n")
                    await writer.drain()
            except (ValueError, ConnectionError):  # a line over the limit, a lost client
                pass
            finally:
                writer.close()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            return _handle(self.node, request)
        except (ValueError, AssertionError) as e:
            return {"ok": False, "error": str(e) or type(e).__name__}


def call(path: Path, request: dict[str, Any], timeout_s: float = CALL_TIMEOUT_S) -> dict[str, Any]:
    """Sends one request to the node whose control socket is `path`; its answer. Raises
    `ControlError` when the node refuses it or cannot be reached (stopped, paused: timeout)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = _read_line(sock.recv)
    except OSError as e:
        raise ControlError(f"{path}: {e}") from None
    reply = json.loads(answer)
    if not reply.get("ok"):
        raise ControlError(f"{path}: {request.get('op')}: {reply.get('error')}")
    return dict(reply)


def _read_line(recv: Callable[[int], bytes]) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = recv(MAX_REQUEST_BYTES)
        if not chunk:
            raise ConnectionError("closed before answering")
        data += chunk
        if len(data) > MAX_REQUEST_BYTES * 4:
            raise ConnectionError("answer too long")
    return data
