"""Failure detection: the Rust detectors, and an asyncio heartbeat service over UDP.

The detectors (`PhiAccrualDetector`, `HeartbeatDetector`) are pure: they take arrival times
in milliseconds and never read a clock. `HeartbeatService` is the shell around them: each
member sends a small heartbeat datagram to each peer every `interval_s`, feeds the arrival
time (`loop.time()`) of every valid heartbeat into that peer's detector, and asks every
detector once per interval whether its peer is still available. Changes come out as
`MemberEvent`s, through `events()` (an async iterator), `on_event` (a callback), or both.

Limits, all named: at most `MAX_PEERS` peers; a heartbeat is exactly `HEARTBEAT_BYTES` bytes
and anything else is malformed; the event queue holds `max_events` events (default
`DEFAULT_MAX_EVENTS`) and drops the oldest when full, counting it in
`counters["events_dropped"]` (the status of each peer, `status()`, is always current).

Malformed datagrams, datagrams of another cluster, of an unknown node, or older than the
last heartbeat seen from that node are counted in `counters` and ignored. Heartbeats are not
authenticated: run the service on a trusted network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from senate._core import (
    DetectorFigures,
    DetectSimReport,
    HeartbeatDetector,
    InvalidTime,
    PhiAccrualDetector,
    run_detect_sim,
)

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_MAX_EVENTS",
    "HEARTBEAT_BYTES",
    "MAX_PEERS",
    "DetectSimReport",
    "Detector",
    "DetectorFigures",
    "Heartbeat",
    "HeartbeatDetector",
    "HeartbeatService",
    "InvalidTime",
    "MalformedHeartbeat",
    "MemberEvent",
    "PhiAccrualDetector",
    "decode_heartbeat",
    "encode_heartbeat",
    "run_detect_sim",
]

logger = logging.getLogger(__name__)

#: Peers one service watches, at most.
MAX_PEERS = 1024
#: Events queued for `events()` before the oldest is dropped.
DEFAULT_MAX_EVENTS = 1024
#: Heartbeat period (Akka's default; the phi detector's defaults assume it).
DEFAULT_INTERVAL_S = 1.0

#: The wire format, big-endian: magic b"SNHB", version, 3 zero bytes, cluster id, node id,
#: incarnation (random per service start), sequence (from 0 per incarnation).
_FORMAT = struct.Struct("!4sB3xQQQQ")
_MAGIC = b"SNHB"
_VERSION = 1
#: Size of every heartbeat datagram; a datagram of any other size is malformed.
HEARTBEAT_BYTES = _FORMAT.size
_U64_MAX = (1 << 64) - 1


class MalformedHeartbeat(ValueError):
    """Bytes that are not a heartbeat datagram of this format and version."""


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat datagram. Every field is an unsigned 64-bit integer."""

    cluster_id: int
    node_id: int
    incarnation: int
    sequence: int


def encode_heartbeat(heartbeat: Heartbeat) -> bytes:
    """The `HEARTBEAT_BYTES` bytes of `heartbeat`; raises `ValueError` for a field outside
    `[0, 2**64)`."""
    fields = (heartbeat.cluster_id, heartbeat.node_id, heartbeat.incarnation, heartbeat.sequence)
    if not all(0 <= field <= _U64_MAX for field in fields):
        raise ValueError(f"heartbeat fields must be in [0, 2**64): {heartbeat}")
    return _FORMAT.pack(_MAGIC, _VERSION, *fields)


def decode_heartbeat(data: bytes) -> Heartbeat:
    """The heartbeat in `data`; raises `MalformedHeartbeat` for anything else."""
    if len(data) != HEARTBEAT_BYTES:
        raise MalformedHeartbeat(f"{len(data)} bytes, a heartbeat has {HEARTBEAT_BYTES}")
    magic, version, cluster_id, node_id, incarnation, sequence = _FORMAT.unpack(data)
    if magic != _MAGIC:
        raise MalformedHeartbeat(f"bad magic {magic!r}")
    if version != _VERSION:
        raise MalformedHeartbeat(f"unknown version {version}")
    if data[5:8] != b"\0\0\0":
        raise MalformedHeartbeat("reserved bytes are not zero")
    return Heartbeat(cluster_id, node_id, incarnation, sequence)


class Detector(Protocol):
    """What the service needs of a failure detector (both Rust detectors qualify)."""

    def heartbeat(self, now_ms: float) -> None: ...
    def is_available(self, now_ms: float) -> bool: ...


@dataclass(frozen=True)
class MemberEvent:
    """Peer `node_id` went up (a heartbeat came) or down (its detector gave up on it) at
    loop time `at_s`."""

    node_id: int
    up: bool
    at_s: float


Status = Literal["unknown", "up", "down"]


@dataclass
class _Peer:
    address: tuple[str, int]
    detector: Detector
    #: "unknown" until the first heartbeat.
    status: Status = "unknown"
    #: Incarnation and sequence of the newest heartbeat accepted; later ones must be newer.
    incarnation: int | None = None
    sequence: int = 0


_COUNTERS = (
    "sent",
    "received",
    "malformed",
    "foreign_cluster",
    "unknown_node",
    "stale",
    "send_errors",
    "events_dropped",
)


class HeartbeatService(asyncio.DatagramProtocol):
    """One member's heartbeats: sends to every peer, watches every peer with a detector.

    `detector_factory` makes one detector per peer (default: `PhiAccrualDetector` with
    Akka's defaults, which suit the default 1 s interval; scale its
    `first_heartbeat_estimate_ms` and `acceptable_heartbeat_pause_ms` with `interval_s`).
    All methods must be called from the event loop's thread.
    """

    def __init__(
        self,
        cluster_id: int,
        node_id: int,
        peers: Mapping[int, tuple[str, int]] | None = None,
        *,
        bind: tuple[str, int] = ("127.0.0.1", 0),
        interval_s: float = DEFAULT_INTERVAL_S,
        detector_factory: Callable[[], Detector] = PhiAccrualDetector,
        max_events: int = DEFAULT_MAX_EVENTS,
        on_event: Callable[[MemberEvent], None] | None = None,
    ) -> None:
        if not 0 <= cluster_id <= _U64_MAX or not 0 <= node_id <= _U64_MAX:
            raise ValueError("cluster_id and node_id must be in [0, 2**64)")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        self.cluster_id = cluster_id
        self.node_id = node_id
        self.interval_s = interval_s
        self.incarnation = int.from_bytes(os.urandom(8), "big")
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._bind = bind
        self._detector_factory = detector_factory
        self._on_event = on_event
        self._peers: dict[int, _Peer] = {}
        self._events: deque[MemberEvent] = deque(maxlen=max_events)
        self._event_ready = asyncio.Event()
        self._sequence = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        for peer_id, address in (peers or {}).items():
            self.add_peer(peer_id, address)

    # --- membership -----------------------------------------------------------------------

    def add_peer(self, node_id: int, address: tuple[str, int]) -> None:
        """Watches `node_id` at `address` (replaces the address if it was watched)."""
        if node_id == self.node_id:
            raise ValueError("a member does not watch itself")
        if node_id in self._peers:
            self._peers[node_id].address = address
            return
        if len(self._peers) >= MAX_PEERS:
            raise ValueError(f"at most MAX_PEERS={MAX_PEERS} peers")
        self._peers[node_id] = _Peer(address, self._detector_factory())

    def remove_peer(self, node_id: int) -> None:
        self._peers.pop(node_id, None)

    @property
    def peers(self) -> list[int]:
        """The node ids watched."""
        return list(self._peers)

    def status(self, node_id: int) -> Status:
        """ "unknown" (no heartbeat yet), "up" or "down"; raises `KeyError` for a non-peer."""
        return self._peers[node_id].status

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the service must be started."""
        if self._transport is None:
            raise RuntimeError("the service is not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return (host, port)

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Binds the socket and starts sending and checking."""
        if self._transport is not None or self._closed:
            raise RuntimeError("a service starts once")
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=self._bind)
        self._task = loop.create_task(self._run())

    async def close(self) -> None:
        """Stops sending and receiving; `events()` ends once drained."""
        self._closed = True
        self._event_ready.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> HeartbeatService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- events ---------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[MemberEvent]:
        """The up/down changes, oldest first, until the service is closed. One consumer."""
        while True:
            while self._events:
                yield self._events.popleft()
            if self._closed:
                return
            self._event_ready.clear()
            await self._event_ready.wait()

    def _emit(self, node_id: int, peer: _Peer, up: bool, now_s: float) -> None:
        peer.status = "up" if up else "down"
        event = MemberEvent(node_id, up, now_s)
        if len(self._events) == self._events.maxlen:
            self.counters["events_dropped"] += 1  # the deque drops the oldest
        self._events.append(event)
        self._event_ready.set()
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event raised for %s", event)

    # --- the periodic task ----------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        while True:
            self._send_heartbeats()
            self._check_peers(loop.time())
            next_s += self.interval_s
            # A late loop does not send a burst to catch up: it skips the missed beats.
            next_s = max(next_s, loop.time())
            await asyncio.sleep(next_s - loop.time())

    def _send_heartbeats(self) -> None:
        assert self._transport is not None
        heartbeat = Heartbeat(self.cluster_id, self.node_id, self.incarnation, self._sequence)
        data = encode_heartbeat(heartbeat)
        self._sequence += 1
        for peer in self._peers.values():
            try:
                self._transport.sendto(data, peer.address)
                self.counters["sent"] += 1
            except OSError:
                self.counters["send_errors"] += 1

    def _check_peers(self, now_s: float) -> None:
        now_ms = now_s * 1000.0
        for node_id, peer in self._peers.items():
            if peer.status == "up" and not peer.detector.is_available(now_ms):
                self._emit(node_id, peer, False, now_s)

    # --- asyncio.DatagramProtocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not a subclass of DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self._closed:
            return
        self.counters["received"] += 1
        try:
            heartbeat = decode_heartbeat(data)
        except MalformedHeartbeat:
            self.counters["malformed"] += 1
            return
        if heartbeat.cluster_id != self.cluster_id:
            self.counters["foreign_cluster"] += 1
            return
        peer = self._peers.get(heartbeat.node_id)
        if peer is None:
            self.counters["unknown_node"] += 1
            return
        if peer.incarnation == heartbeat.incarnation and heartbeat.sequence <= peer.sequence:
            self.counters["stale"] += 1  # duplicated or reordered: not a fresh heartbeat
            return
        peer.incarnation, peer.sequence = heartbeat.incarnation, heartbeat.sequence
        now_s = asyncio.get_running_loop().time()
        peer.detector.heartbeat(now_s * 1000.0)
        if peer.status != "up":
            self._emit(heartbeat.node_id, peer, True, now_s)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a stopped peer, and the like: the detector deals with it.
        self.counters["send_errors"] += 1
