"""Peer connections over TCP (asyncio): one persistent connection per pair of nodes.

The node with the lower id dials, the higher one accepts; both directions share the
connection. A connection starts with a handshake naming the cluster id and both node ids; a
peer with another cluster id, an unknown id, or a bad handshake is refused and logged. After
the handshake the bytes are the core's wire frames: this module never parses them, the core
does (`RaftNode.step_stream`), so a malformed frame is found there and only that connection
is closed.

With a `PeerTls` (`senate.security.peer_tls`) every connection is mutual TLS 1.3 and the hello
runs inside it: the accepting node accepts plain TCP and runs each TLS handshake in a task of
its own (`loop.connect_accepted_socket`), so that a failed handshake is seen, logged with its
reason and counted (asyncio's TLS servers drop those silently); then each end checks that the
other's certificate names the node id it claims (the dialer before it sends its hello).
Without one, the plain TCP path is as it always was.

Limits (every buffer is bounded):
- outbound: a peer whose socket buffer holds more than `max_send_buffer_bytes` gets no more
  frames; `send` returns False and the node reports the peer unreachable (Raft retries);
- inbound: a connection stops reading once `max_inbound_buffer_bytes` wait for the node,
  and resumes when the node has stepped them;
- the handshake must complete within `handshake_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import struct
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from senate._core import FRAME_BODY_BYTES_END, FRAME_BODY_BYTES_OFFSET, FRAME_HEADER_BYTES
from senate.runtime.snapshot_codec import STREAM_MAGIC, STREAM_VERSION
from senate.runtime.sockets import listening_socket, source_address
from senate.security.peer_tls import PeerTls, classify_handshake_error, identity_problem
from senate.security.tls_files import node_dns_name

log = logging.getLogger("senate.transport")

#: magic, version, sender id, receiver id, cluster id length; the cluster id follows.
HELLO = struct.Struct("<4sBQQB")
HELLO_MAGIC = b"SNT\x01"
HELLO_VERSION = 1
MAX_CLUSTER_ID_BYTES = 255
#: With TLS: accepted connections whose TLS handshake is under way, at most (more are closed
#: at once, refused as "busy") and the pause after a
#: failed accept (out of file descriptors).
MAX_TLS_HANDSHAKES = 64
ACCEPT_RETRY_S = 0.1


class PeerByteCounter(Protocol):
    """What the transport records into, when given one (`senate.runtime.metrics.NodeMetrics`
    is one): a protocol, so that the transport does not import the metrics, which parse
    their address with `parse_host_port` from here."""

    def on_bytes_sent(self, peer: int, n: int) -> None: ...
    def on_bytes_received(self, peer: int, n: int) -> None: ...
    def on_peer_refused(self, reason: str) -> None: ...


@dataclass(frozen=True)
class TransportLimits:
    max_send_buffer_bytes: int = 64 * 1024 * 1024
    max_inbound_buffer_bytes: int = 8 * 1024 * 1024
    handshake_timeout_s: float = 5.0
    #: Reconnect delays: exponential from `min` to `max`, each drawn with full jitter.
    reconnect_min_s: float = 0.01
    reconnect_max_s: float = 1.0


def encode_hello(
    cluster_id: str,
    from_id: int,
    to_id: int,
    magic: bytes = HELLO_MAGIC,
    version: int = HELLO_VERSION,
) -> bytes:
    """The hello of a peer connection (or, with `snapshot_codec.STREAM_MAGIC`, of a snapshot
    stream)."""
    cid = cluster_id.encode()
    if len(cid) > MAX_CLUSTER_ID_BYTES:
        raise ValueError(f"cluster id longer than {MAX_CLUSTER_ID_BYTES} bytes")
    return HELLO.pack(magic, version, from_id, to_id, len(cid)) + cid


def parse_host_port(address: str) -> tuple[str, int]:
    """`"host:port"` as a pair; raises ValueError naming the problem."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


class PeerConnection(asyncio.Protocol):
    """One TCP connection to a peer: handshake, then raw frames both ways."""

    def __init__(self, owner: Transport, expect_peer: int | None) -> None:
        self.owner = owner
        #: The peer this side dialed, or None on the accepting side until the hello names it.
        self.peer_id = expect_peer
        self.dialed = expect_peer is not None
        self.transport: asyncio.Transport | None = None
        self.established = False
        self._hello = bytearray()
        #: Received frames not yet stepped by the node, in order; their total is `pending_bytes`.
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        #: The start of a frame the node could not step yet (it was incomplete), growing as
        #: its bytes arrive; handed back to the node once it holds `partial_need` bytes, so a
        #: large frame is copied once, not once per arriving chunk. Bounded by the core's
        #: `max_frame_bytes` (checked from the header before the body is awaited).
        self.partial = bytearray()
        self.partial_need = 0
        self.paused = False
        self.closed = asyncio.get_running_loop().create_future()
        self.handshake_done = asyncio.get_running_loop().create_future()

    # --- asyncio callbacks --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but offer the same API.
        self.transport = cast(asyncio.Transport, transport)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.peer_id is not None:  # we dialed: speak first
            tls = self.owner.tls
            if tls is not None:
                peercert = self.transport.get_extra_info("peercert")
                problem = identity_problem(peercert, self.owner.cluster_id, self.peer_id)
                if problem is not None:
                    self._refuse("identity", problem)
                    return
            self.transport.write(
                encode_hello(self.owner.cluster_id, self.owner.node_id, self.peer_id)
            )
        loop = asyncio.get_running_loop()
        loop.call_later(self.owner.limits.handshake_timeout_s, self._handshake_deadline)

    def data_received(self, data: bytes) -> None:
        if not self.established:
            self._hello += data
            data = self._read_hello()
            if not self.established or not data:
                return
        metrics = self.owner.metrics
        if metrics is not None:
            assert self.peer_id is not None
            metrics.on_bytes_received(self.peer_id, len(data))
        self._accept(data)

    def _accept(self, data: bytes) -> None:
        """Queues received frame bytes for the node (or grows a kept partial frame)."""
        if self.partial_need:
            self.partial += data
            if len(self.partial) < self.partial_need:
                return
            data = bytes(self.partial)
            self.partial = bytearray()
            self.partial_need = 0
        self.pending.append(data)
        self.pending_bytes += len(data)
        if self.pending_bytes > self.owner.limits.max_inbound_buffer_bytes and not self.paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self.paused = True
        self.owner.on_frames(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._connection_lost(self, exc)
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.handshake_done.done():
            self.handshake_done.set_result(False)

    # --- handshake ----------------------------------------------------------------------
    def _read_hello(self) -> bytes:
        """Parses the hello once complete; returns bytes that followed it."""
        if len(self._hello) < HELLO.size:
            return b""
        magic, version, from_id, to_id, cid_len = HELLO.unpack_from(self._hello)
        end = HELLO.size + cid_len
        # A snapshot stream (`senate.runtime.snapshot_stream`): accepted from any peer, since
        # the leader dials, and handed over after the checks below.
        stream = (magic, version) == (STREAM_MAGIC, STREAM_VERSION) and self.peer_id is None
        if stream and self.owner.on_stream is None:
            return self._refuse("bad_hello", "snapshot stream to a node that takes none")
        if not stream and (magic != HELLO_MAGIC or version != HELLO_VERSION):
            return self._refuse(
                "bad_hello", f"bad handshake (magic {bytes(magic)!r}, version {version})"
            )
        if len(self._hello) < end:
            return b""
        cluster_id = bytes(self._hello[HELLO.size : end]).decode(errors="replace")
        rest = bytes(self._hello[end:])
        self._hello = bytearray()
        if cluster_id != self.owner.cluster_id:
            return self._refuse("wrong_cluster", f"peer {from_id} is of cluster {cluster_id!r}")
        if to_id != self.owner.node_id:
            return self._refuse("wrong_node", f"peer {from_id} wanted node {to_id}")
        if self.peer_id is None:  # accepting side: learn who it is, answer
            if from_id not in self.owner.peers or (from_id >= self.owner.node_id and not stream):
                return self._refuse("unknown_peer", f"unknown or unexpected peer id {from_id}")
            if self.owner.tls is not None:
                assert self.transport is not None
                peercert = self.transport.get_extra_info("peercert")
                problem = identity_problem(peercert, self.owner.cluster_id, from_id)
                if problem is not None:
                    return self._refuse("identity", f"{self._address()}: {problem}")
            if stream:
                assert self.transport is not None
                assert self.owner.on_stream is not None
                self.established = True  # no handshake deadline: the stream's own rules
                self.owner.on_stream(self.transport, from_id, rest)
                return b""
            self.peer_id = from_id
            assert self.transport is not None
            self.transport.write(encode_hello(self.owner.cluster_id, self.owner.node_id, from_id))
        elif from_id != self.peer_id:
            return self._refuse(
                "wrong_node", f"dialed node {self.peer_id} but node {from_id} answered"
            )
        self.established = True
        self.owner._established(self)
        if not self.handshake_done.done():
            self.handshake_done.set_result(True)
        return rest

    def _address(self) -> str:
        """The other end's address, for logs."""
        peername = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peername[0]}:{peername[1]}" if peername else "a peer"

    def _refuse(self, reason: str, why: str) -> bytes:
        self.owner._refused(reason, why, dialed=self.peer_id if self.dialed else None)
        self.close()
        return b""

    def _handshake_deadline(self) -> None:
        if not self.established and self.transport is not None and not self.closed.done():
            self._refuse("timeout", f"{self._address()}: handshake timed out")

    # --- used by the node ---------------------------------------------------------------
    def take_input(self) -> bytes:
        """Everything received and not yet stepped (a partial frame kept by `keep_partial`
        comes back here once complete, at the head of `pending`)."""
        parts = self.pending
        self.pending = []
        self.pending_bytes = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def keep_partial(self, tail: bytes) -> None:
        """Keeps `tail`, the start of a frame, until the frame is complete: the frame header
        (its layout comes from the core: `FRAME_*` of `senate._core`) says how long that is."""
        if len(tail) >= FRAME_BODY_BYTES_END:
            body_bytes = tail[FRAME_BODY_BYTES_OFFSET:FRAME_BODY_BYTES_END]
            need = FRAME_HEADER_BYTES + int.from_bytes(body_bytes, "little")
        else:
            need = FRAME_HEADER_BYTES
        self.partial = bytearray(tail)
        self.partial_need = need
        if self.pending:  # bytes arrived meanwhile: the frame continues in them
            rest, self.pending, self.pending_bytes = self.pending, [], 0
            for chunk in rest:
                self._accept(chunk)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Transport:
    """The peer connections of one node.

    `peers` maps every other member's id to its `(host, port)`. `on_frames(conn)` is called
    when `conn` has input for the node; `on_peer_change(peer_id, connected)` on connects and
    disconnects.
    """

    def __init__(
        self,
        node_id: int,
        cluster_id: str,
        listen: tuple[str, int],
        peers: Mapping[int, tuple[str, int]],
        on_frames: Callable[[PeerConnection], None],
        on_peer_change: Callable[[int, bool], None] = lambda _id, _up: None,
        limits: TransportLimits | None = None,
        seed: int | None = None,
        metrics: PeerByteCounter | None = None,
        tls: PeerTls | None = None,
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.listen = listen
        self.peers = dict(peers)
        self.on_frames = on_frames
        self.on_peer_change = on_peer_change
        self.limits = limits or TransportLimits()
        #: Records bytes per peer, per write and per receive call, when set.
        self.metrics = metrics
        #: Mutual TLS on every connection when set (`senate.security.peer_tls`).
        self.tls = tls
        self.links: dict[int, PeerConnection] = {}
        self.refused_connections = 0
        #: Refused connections by reason (`senate.security.peer_tls.REFUSAL_REASONS`).
        self.refused_by_reason: dict[str, int] = {}
        self.bytes_sent: dict[int, int] = dict.fromkeys(self.peers, 0)
        self.frames_dropped: dict[int, int] = dict.fromkeys(self.peers, 0)
        #: Peers whose frames are dropped as a lossy network would (`senate.runtime.faults`):
        #: `send` says they left. Empty unless a chaos test cuts links.
        self.cut_peers: set[int] = set()
        self.frames_cut: dict[int, int] = dict.fromkeys(self.peers, 0)
        self._server: asyncio.base_events.Server | None = None
        #: The listening socket with TLS (accepted by `_accept_tls_forever`).
        self._listener: socket.socket | None = None
        self._handshakes = 0
        #: The dialer of each peer this node dials (a membership change cancels one).
        self._dialers: dict[int, asyncio.Task[None]] = {}
        self._started = False
        #: TLS handshakes of accepted connections under way, and the file watcher.
        self._tls_tasks: set[asyncio.Task[None]] = set()
        #: Per dialed peer, the last TLS failure logged as a warning (repeats go to debug).
        self._dial_failures: dict[int, str] = {}
        self._rng = random.Random(seed)
        self._stopping = False
        #: Takes over accepted snapshot streams (transport, peer id, bytes after the hello);
        #: None: they are refused.
        self.on_stream: Callable[[asyncio.Transport, int, bytes], None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.listen
        if self.tls is None:
            self._server = await loop.create_server(
                lambda: PeerConnection(self, None), host, port, reuse_address=True
            )
        else:
            # Accepted here, not by a TLS server of asyncio's: that one drops a failed
            # handshake without a word, and a refusal must be logged with its reason.
            self._listener = listening_socket(host, port)
            self._spawn_tls_task(self._accept_tls_forever(self._listener))
            self._spawn_tls_task(self.tls.watch())
        self._started = True
        for peer_id in sorted(self.peers):
            if peer_id > self.node_id:
                self._start_dialer(peer_id)

    @property
    def port(self) -> int:
        if self._listener is not None:
            port: int = self._listener.getsockname()[1]
            return port
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        self._stopping = True
        for task in [*self._dialers.values(), *self._tls_tasks]:
            task.cancel()
        for task in [*self._dialers.values(), *self._tls_tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
        if self._listener is not None:
            self._listener.close()
        for conn in list(self.links.values()):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()

    def send(self, peer_id: int, frames: bytes) -> bool:
        """Queues `frames` to `peer_id`; False when the peer is not connected or its buffer is
        full (the frames are dropped: the caller reports the peer unreachable)."""
        if self.cut_peers and peer_id in self.cut_peers:
            self.frames_cut[peer_id] += 1
            return True
        conn = self.links.get(peer_id)
        if conn is None or conn.transport is None or conn.transport.is_closing():
            self.frames_dropped[peer_id] = self.frames_dropped.get(peer_id, 0) + 1
            return False
        if conn.transport.get_write_buffer_size() > self.limits.max_send_buffer_bytes:
            self.frames_dropped[peer_id] += 1
            return False
        conn.transport.write(frames)
        self.bytes_sent[peer_id] += len(frames)
        if self.metrics is not None:
            self.metrics.on_bytes_sent(peer_id, len(frames))
        return True

    def connected(self) -> list[int]:
        return sorted(self.links)

    def set_peers(self, peers: Mapping[int, tuple[str, int]]) -> None:
        """The members to keep connections with changed (a membership change took effect):
        dials the new ones this node dials (those of higher ids), accepts the others, and
        closes the connection to each peer no longer named. Unchanged peers keep theirs."""
        if self._stopping or dict(peers) == self.peers:
            return
        gone = [p for p in self.peers if p not in peers]
        moved = [p for p, a in peers.items() if p in self.peers and self.peers[p] != a]
        for peer_id in gone + moved:
            del self.peers[peer_id]
            dialer = self._dialers.pop(peer_id, None)
            if dialer is not None:
                dialer.cancel()
            conn = self.links.get(peer_id)
            if conn is not None:
                conn.close()
        for peer_id, address in peers.items():
            if peer_id in self.peers:
                continue
            self.peers[peer_id] = address
            for counts in (self.bytes_sent, self.frames_dropped, self.frames_cut):
                counts.setdefault(peer_id, 0)
            if self._started and peer_id > self.node_id:
                self._start_dialer(peer_id)
        log.info("node %d: peers now %s", self.node_id, sorted(self.peers))

    def _start_dialer(self, peer_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self._dial_forever(peer_id))
        self._dialers[peer_id] = task
        task.add_done_callback(lambda done: self._dialer_done(peer_id, done))

    def _dialer_done(self, peer_id: int, task: asyncio.Task[None]) -> None:
        if self._dialers.get(peer_id) is task:
            del self._dialers[peer_id]

    def reload_tls(self) -> bool:
        """Re-reads the TLS files now (they are also polled); True if new ones were taken.
        New connections use them; established ones keep theirs."""
        return self.tls is not None and self.tls.reload()

    # --- connection bookkeeping ---------------------------------------------------------
    def _refused(self, reason: str, why: str, dialed: int | None = None) -> None:
        """Counts and logs a refused connection; `dialed`: the peer this node dialed. A dialer
        retries about once a second, so a failure that repeats the last one logged for its
        peer is logged at debug level."""
        self.refused_connections += 1
        self.refused_by_reason[reason] = self.refused_by_reason.get(reason, 0) + 1
        if self.metrics is not None:
            self.metrics.on_peer_refused(reason)
        if dialed is None:
            log.warning("node %d: refused connection (%s): %s", self.node_id, reason, why)
            return
        repeated = self._dial_failures.get(dialed) == why
        self._dial_failures[dialed] = why
        log.log(
            logging.DEBUG if repeated else logging.WARNING,
            "node %d: dialing peer %d refused (%s): %s",
            self.node_id,
            dialed,
            reason,
            why,
        )

    def _spawn_tls_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tls_tasks.add(task)
        task.add_done_callback(self._tls_tasks.discard)

    async def _accept_tls_forever(self, listener: socket.socket) -> None:
        """Accepts connections on `listener` and runs each one's TLS handshake in a task."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except OSError as e:  # out of file descriptors, say: the listener stays
                log.warning("node %d: accepting a peer failed: %s", self.node_id, e)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            where = f"{address[0]}:{address[1]}"
            if self._handshakes >= MAX_TLS_HANDSHAKES:
                self._refused("busy", f"{where}: {MAX_TLS_HANDSHAKES} TLS handshakes under way")
                sock.close()
                continue
            self._spawn_tls_task(self._accept_tls(sock, where))

    async def _accept_tls(self, sock: socket.socket, where: str) -> None:
        """Runs the TLS handshake of an accepted connection; the `PeerConnection` gets it once
        the handshake is done. A failed handshake is refused with its reason."""
        assert self.tls is not None
        self._handshakes += 1
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: PeerConnection(self, None),
                sock,
                ssl=self.tls.server_context,
                ssl_handshake_timeout=self.limits.handshake_timeout_s,
            )
        except asyncio.CancelledError:
            sock.close()
            raise
        except (OSError, EOFError, asyncio.TimeoutError) as e:
            reason, message = classify_handshake_error(e)
            self._refused(reason, f"{where}: {message}")
            sock.close()
        finally:
            self._handshakes -= 1

    def _established(self, conn: PeerConnection) -> None:
        assert conn.peer_id is not None
        old = self.links.get(conn.peer_id)
        if old is not None and old is not conn:
            old.close()  # a newer connection replaces a stale one
        self.links[conn.peer_id] = conn
        log.info("node %d: connected to peer %d", self.node_id, conn.peer_id)
        self.on_peer_change(conn.peer_id, True)

    def _connection_lost(self, conn: PeerConnection, exc: Exception | None) -> None:
        if conn.peer_id is not None and self.links.get(conn.peer_id) is conn:
            del self.links[conn.peer_id]
            if not self._stopping:
                log.info("node %d: lost peer %d (%s)", self.node_id, conn.peer_id, exc or "closed")
            self.on_peer_change(conn.peer_id, False)

    def dial_options(self, peer_id: int) -> tuple[str, int, dict[str, Any]]:
        """Where to dial peer `peer_id`, and the keywords of `create_connection` (or
        `open_connection`) to do it with: the source address on this node's listening host,
        and with TLS the client context of now (the files may have changed), the name the
        peer's certificate must carry and the handshake's timeout. Snapshot streams dial
        with it too."""
        host, port = self.peers[peer_id]
        options: dict[str, Any] = dict(local_addr=source_address(self.listen[0], host))
        if self.tls is not None:
            options.update(
                ssl=self.tls.client_context,
                server_hostname=node_dns_name(self.cluster_id, peer_id),
                ssl_handshake_timeout=self.limits.handshake_timeout_s,
            )
        return host, port, options

    def identity_problem(self, peercert: Any, peer_id: int) -> str | None:
        """What is wrong with the certificate a connection presented as node `peer_id` of
        this cluster (None: nothing, or no TLS)."""
        if self.tls is None:
            return None
        return identity_problem(peercert, self.cluster_id, peer_id)

    async def _dial_forever(self, peer_id: int) -> None:
        loop = asyncio.get_running_loop()
        delay_s = self.limits.reconnect_min_s
        while not self._stopping:
            host, port, options = self.dial_options(peer_id)
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: PeerConnection(self, peer_id), host, port, **options
                    ),
                    timeout=self.limits.handshake_timeout_s,
                )
                if await conn.handshake_done:
                    delay_s = self.limits.reconnect_min_s
                    self._dial_failures.pop(peer_id, None)
                await conn.closed
            except ssl.SSLError as e:
                self._refused(*classify_handshake_error(e), dialed=peer_id)
            except (OSError, asyncio.TimeoutError):
                pass
            if self._stopping:
                return
            await asyncio.sleep(self._rng.uniform(0, delay_s))
            delay_s = min(delay_s * 2, self.limits.reconnect_max_s)
