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

from senate.launcher import LauncherError, LocalCluster, log_tail
from senate.member_calls import MemberCallError, change_member
from senate.runtime.transport import parse_host_port
from senate.status import RespError, resp_call

#: The socket's name in the cluster's data directory.
CONTROL_SOCKET = "cluster.sock"
#: The longest request line accepted, in bytes.
MAX_REQUEST_BYTES = 4096
#: How long a removal may take at the cluster, in seconds (the change, then stopping the
#: process takes up to STOP_TIMEOUT_S more).
CHANGE_TIMEOUT_S = 60.0
#: How long an addition may take at the cluster, all its steps together, in seconds: the new
#: node answering PING, the add, the promotion (which waits for it to catch up) and its
#: serving as a voter share this one deadline.
ADD_NODE_TIMEOUT_S = 120.0
#: How long the removal of a node whose addition failed may take, in seconds.
UNDO_TIMEOUT_S = 15.0
#: A process stopped gets SIGTERM, then SIGKILL after this many seconds.
STOP_TIMEOUT_S = 10.0
#: What one change may take beyond its own timeout, in seconds: after a TRYAGAIN it checks at
#: the leader whether it is in force already (`member_calls.member_roles`, 10 s by default).
CHANGE_OVERRUN_S = 10.0
#: How long `request` waits for the answer by default, in seconds: above the longest request
#: (an addition whose add and promotion overrun, then undone: removal overrunning, SIGKILL),
#: so that the client does not give up on a node the cluster is still adding.
ANSWER_TIMEOUT_S = ADD_NODE_TIMEOUT_S + UNDO_TIMEOUT_S + STOP_TIMEOUT_S + 3 * CHANGE_OVERRUN_S + 5.0
#: The new node's client port is probed with PING this long each, this often (seconds).
PING_TIMEOUT_S = 0.5
PING_PAUSE_S = 0.05


class ClusterControlError(Exception):
    """The running cluster refused the request, or could not be reached."""


def socket_path(data_dir: Path) -> Path:
    return data_dir / CONTROL_SOCKET


class ClusterControl:
    """What the requests do to `local`, a started `LocalCluster`."""

    def __init__(
        self,
        local: LocalCluster,
        change_timeout_s: float = CHANGE_TIMEOUT_S,
        add_node_timeout_s: float = ADD_NODE_TIMEOUT_S,
    ) -> None:
        self.local = local
        self.change_timeout_s = change_timeout_s
        self.add_node_timeout_s = add_node_timeout_s

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

    def _change(self, step: str, node_id: int, timeout_s: float, peer: str | None = None) -> None:
        members = self._members(leaving_out=node_id if step != "remove" else None)
        try:
            change_member(members, step, node_id, peer, timeout_s, self.local.client_security)
        except MemberCallError as e:
            raise ClusterControlError(f"{step} node {node_id}: {e}") from None

    def add_node(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.add_node_timeout_s
        try:
            new_id = self.local.add_node()
        except LauncherError as e:  # a port of the new node taken
            raise ClusterControlError(str(e)) from None
        node = next(n for n in self.local.nodes if n.id == new_id)
        added = False
        try:
            # Serving before it is added: a node that cannot bind its ports exits at the
            # start, which is said here rather than as a promotion that never ends.
            self._wait_serving(new_id, node.client, deadline)
            self._change("add", new_id, _remaining_s(deadline), node.peer)
            added = True
            self._change("promote", new_id, _remaining_s(deadline))
            self._wait_serving(new_id, node.client, deadline)
        except ClusterControlError as e:
            raise ClusterControlError(f"{e}{self._undo_add(new_id, added)}") from None
        return {"ok": True, "id": new_id, "pid": node.pid, "peer": node.peer, "client": node.client}

    def _undo_add(self, node_id: int, added: bool) -> str:
        """Takes a node whose addition failed out of the configuration (if it was added), then
        stops its process: nothing else would (it is no running member to remove), and takes
        it out of the cluster file once it is in no configuration. Returns
        what the caller should know beyond the failure ("" when all is undone)."""
        left = ""
        if added:
            try:
                self._change("remove", node_id, UNDO_TIMEOUT_S)
            except ClusterControlError as e:
                left = (
                    f"; node {node_id} may remain in the configuration ({e}): "
                    f"`senate member remove {node_id}` takes it out"
                )
        self.local.stop_node(node_id, STOP_TIMEOUT_S)
        if not left:  # in no configuration: the cluster file forgets it too
            self.local.forget_node(node_id, set_data_aside=not added)
        return left

    def _wait_serving(self, node_id: int, client: str, deadline: float) -> None:
        """Waits until the node answers PING on its client port (a promotion waits for the
        new voter to hold the log, not for it to listen to clients); a
        ClusterControlError with the end of its log if its process exits meanwhile."""
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
            if not any(n.id == node_id and n.pid is not None for n in self.local.nodes):
                status = self.local.wait_exit(node_id, STOP_TIMEOUT_S)
                path = self.local.log_path(node_id)
                raise ClusterControlError(
                    f"node {node_id} exited with status {status} before serving at {client} "
                    f"(a port taken?); the end of {path}:\n{log_tail(path)}"
                )
            if time.monotonic() >= deadline:
                raise ClusterControlError(f"the new node at {client} does not answer PING")
            time.sleep(PING_PAUSE_S)

    def remove_node(self, node_id: int) -> dict[str, Any]:
        running = {n.id for n in self.local.nodes if n.pid is not None}
        if node_id not in running:
            known = ", ".join(map(str, sorted(running)))
            raise ValueError(f"node {node_id} is not a running node of this cluster ({known})")
        self._change("remove", node_id, self.change_timeout_s)
        status = self.local.stop_node(node_id, STOP_TIMEOUT_S)
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

        # Made 0600 by the umask at bind: a chmod after it would leave a moment in which
        # another local user could connect. The umask is the process's, so this is brief.
        previous_umask = os.umask(0o177)
        try:
            self._server = socketserver.UnixStreamServer(str(path), Handler)
        finally:
            os.umask(previous_umask)
        os.chmod(path, 0o600)  # belt and braces
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


def _remaining_s(deadline: float) -> float:
    """The seconds left until `deadline` (a time.monotonic()), at least 0.01."""
    return max(0.01, deadline - time.monotonic())


def request(
    data_dir: Path, payload: dict[str, Any], timeout_s: float = ANSWER_TIMEOUT_S
) -> dict[str, Any]:
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
