"""Adding and removing nodes of a running `senate cluster` from another shell.

`senate cluster` owns its nodes' processes (it stops them all at Ctrl-C), so a node is
added or removed by that process, not beside it: it serves requests on the Unix socket
`DATA_DIR/cluster.sock` (its owner's only), one JSON object per line, each answered by one
line, `{"ok": true, ...}` or `{"ok": false, "error": "..."}`:

    {"op": "add_node"}          start the next node (id one above the highest) with
                                `join = true` in the cluster file, add it as a learner,
                                promote it once it holds the log:
                                {"ok": true, "id": 4, "pid": ..., "peer": ..., "client": ...}
    {"op": "remove_node", "id": 2}
                                remove member 2 from the configuration, then stop its
                                process: {"ok": true, "id": 2, "exit": 0}

`senate cluster add-node` and `senate cluster remove-node ID` send them. Requests are served
one at a time (a membership change waits for the one before). The changes go to the leader
through the client ports (`senate.member_calls`), as `senate member` sends them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any

from senate.launcher import LocalCluster
from senate.member_calls import MemberCallError, change_member
from senate.runtime.transport import parse_host_port
from senate.status import RespError, resp_call

#: The socket's name in the cluster's data directory.
CONTROL_SOCKET = "cluster.sock"
#: The longest request line accepted, in bytes.
MAX_REQUEST_BYTES = 4096
#: How long one membership change may take at the cluster, in seconds (the promotion waits
#: for the new node to catch up).
CHANGE_TIMEOUT_S = 60.0
#: The new node's client port is probed with PING this long each, this often (seconds).
PING_TIMEOUT_S = 0.5
PING_PAUSE_S = 0.05


class ClusterControlError(Exception):
    """The running cluster refused the request, or could not be reached."""


def socket_path(data_dir: Path) -> Path:
    return data_dir / CONTROL_SOCKET


class ClusterControl:
    """What the requests do to `local`, a started `LocalCluster`."""

    def __init__(self, local: LocalCluster, change_timeout_s: float = CHANGE_TIMEOUT_S) -> None:
        self.local = local
        self.change_timeout_s = change_timeout_s

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Carries out one request; raises ValueError (a bad request) or ClusterControlError."""
        op = request.get("op")
        if op == "add_node":
            return self.add_node()
        if op == "remove_node":
            node_id = request.get("id")
            if not isinstance(node_id, int) or isinstance(node_id, bool):
                raise ValueError("'id' must be a node id")
            return self.remove_node(node_id)
        raise ValueError(f"unknown op {op!r}")

    def _members(self, leaving_out: int | None = None) -> dict[int, str]:
        """The client addresses of the running nodes to ask."""
        return {
            n.id: n.client for n in self.local.nodes if n.pid is not None and n.id != leaving_out
        }

    def _change(self, step: str, node_id: int, peer: str | None = None) -> None:
        members = self._members(leaving_out=node_id if step != "remove" else None)
        try:
            change_member(
                members, step, node_id, peer, self.change_timeout_s, self.local.client_security
            )
        except MemberCallError as e:
            raise ClusterControlError(f"{step} node {node_id}: {e}") from None

    def add_node(self) -> dict[str, Any]:
        if self.local.config.tls is not None:
            # The certificates are made with the cluster, one per node: none for a new id.
            raise ClusterControlError("add-node does not work on a cluster started with --tls")
        new_id = self.local.add_node()
        peer = self.local.config.addresses(new_id).peer
        try:
            self._change("add", new_id, peer)
        except ClusterControlError:
            self.local.stop_node(new_id)  # no member: nothing else would stop it
            raise
        self._change("promote", new_id)
        node = next(n for n in self.local.nodes if n.id == new_id)
        self._wait_serving(node.client)
        return {"ok": True, "id": new_id, "pid": node.pid, "peer": node.peer, "client": node.client}

    def _wait_serving(self, client: str) -> None:
        """Waits until the node answers PING on its client port (a Multi-Paxos promotion
        does not wait for the new voter to catch up, nor so for it to listen)."""
        deadline = time.monotonic() + self.change_timeout_s
        while True:
            try:
                reply = resp_call(
                    parse_host_port(client),
                    "PING",
                    timeout_s=PING_TIMEOUT_S,
                    security=self.local.client_security,
                )
                if reply == "PONG":
                    return
            except (OSError, RespError):
                pass
            if time.monotonic() >= deadline:
                raise ClusterControlError(f"the new node at {client} does not answer PING")
            time.sleep(PING_PAUSE_S)

    def remove_node(self, node_id: int) -> dict[str, Any]:
        running = {n.id for n in self.local.nodes if n.pid is not None}
        if node_id not in running:
            known = ", ".join(map(str, sorted(running)))
            raise ValueError(f"node {node_id} is not a running node of this cluster ({known})")
        self._change("remove", node_id)
        status = self.local.stop_node(node_id)
        return {"ok": True, "id": node_id, "exit": status}


class ClusterControlServer:
    """Serves `control` on `path` in a thread of its own, one connection at a time."""

    def __init__(self, control: ClusterControl, path: Path) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a cluster that did not stop cleanly

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
                self.wfile.write(json.dumps(_answer(control, line)).encode() + b"\n")

        self._server = socketserver.UnixStreamServer(str(path), Handler)
        os.chmod(path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="senate-cluster-control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _answer(control: ClusterControl, line: bytes) -> dict[str, Any]:
    try:
        if len(line) > MAX_REQUEST_BYTES:
            raise ValueError(f"a request is at most {MAX_REQUEST_BYTES} bytes")
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        return control.handle(request)
    except (ValueError, ClusterControlError) as e:
        return {"ok": False, "error": str(e)}
    except Exception as e:  # the cluster goes on; the caller learns what failed
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def request(data_dir: Path, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Sends one request to the `senate cluster` running over `data_dir`; its answer.
    ClusterControlError when none runs there or it refused the request."""
    path = socket_path(data_dir)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(json.dumps(payload).encode() + b"\n")
            with sock.makefile("rb") as stream:
                answer = stream.readline(1 << 20)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ClusterControlError(
            f"no `senate cluster` runs over {data_dir} (no one listens on {path})"
        ) from None
    except OSError as e:
        raise ClusterControlError(f"{path}: {e}") from None
    if not answer:
        raise ClusterControlError(f"{path}: closed without answering")
    reply = json.loads(answer)
    if not reply.get("ok"):
        raise ClusterControlError(str(reply.get("error")))
    return dict(reply)
