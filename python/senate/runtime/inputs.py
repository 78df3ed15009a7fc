"""Input from the world for the driver: ticks of the node's timer, frames from peers, peers
lost. Each is left here (bounded: a count, one entry per connection) and wakes the driver,
which takes it all in one go (`senate.runtime.driver`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from senate._core import DecodeError, InvalidMessage, SenateError, SnapshotData, UnknownPeer
from senate.runtime.core import Core
from senate.runtime.metrics import NodeMetrics
from senate.runtime.transport import PeerConnection

log = logging.getLogger("senate.node")

#: How early a timer may fire (uvloop's clock granule), in seconds.
TIMER_SLACK_S = 0.001


class Inputs:
    """What arrived for one node's driver since it last looked."""

    def __init__(
        self, node_id: int, tick_s: float, wake: asyncio.Event, metrics: NodeMetrics | None
    ) -> None:
        self.node_id = node_id
        self.tick_s = tick_s
        self.metrics = metrics
        self._wake = wake
        #: Ticks due and not yet handed to the core.
        self.ticks_due = 0
        #: Loop time of the last tick counted.
        self._last_tick_s = 0.0
        #: Connections with frames not yet stepped, by peer id.
        self.inbound: dict[int, PeerConnection] = {}
        #: Snapshots received out of band and not yet stepped: (head, data) by peer id, the
        #: latest only (`senate.runtime.snapshot_stream` receives one at a time).
        self.snapshots: dict[int, tuple[bytes, SnapshotData]] = {}
        #: Told (peer id, head) of a snapshot received whole that the core refused: the
        #: receiver then takes the same offer again (`SnapshotReceiver.forget_handed_over`).
        self.on_snapshot_refused: Callable[[int, bytes], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._core: Core | None = None
        self._ticker: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop, core: Core) -> None:
        """Starts the tick timer; peers lost are reported to `core`."""
        self._loop = loop
        self._core = core
        self._last_tick_s = loop.time()
        self._ticker = loop.call_later(self.tick_s, self.on_tick)

    def stop(self) -> None:
        """Stops the tick timer."""
        if self._ticker is not None:
            self._ticker.cancel()
        self._loop = None

    def on_tick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        period_s = self.tick_s
        now = loop.time()
        # Timers may fire up to a clock granule early (uvloop rounds to 1 ms): count a tick
        # that is due within it, or the timer is re-armed for the same instant and spins.
        elapsed = int((now - self._last_tick_s + TIMER_SLACK_S) / period_s)
        if self.metrics is not None:
            self.metrics.on_tick_late(max(0.0, now - self._last_tick_s - period_s))
        if elapsed > 0:
            self.ticks_due += elapsed
            self._last_tick_s += elapsed * period_s
            self._wake.set()
        self._ticker = loop.call_at(self._last_tick_s + period_s, self.on_tick)

    def on_frames(self, conn: PeerConnection) -> None:
        assert conn.peer_id is not None
        self.inbound[conn.peer_id] = conn
        self._wake.set()

    def on_snapshot(self, peer_id: int, head: bytes, data: SnapshotData) -> None:
        self.snapshots[peer_id] = (head, data)
        self._wake.set()

    def step_snapshots(self, core: Core) -> None:
        """Steps the snapshots received out of band into `core` (by the driver)."""
        snapshots = list(self.snapshots.items())
        self.snapshots.clear()
        for peer_id, (head, data) in snapshots:
            try:
                # The stream's sender (its hello, checked against its TLS identity): the core
                # refuses a head that claims another (InvalidMessage).
                core.step_snapshot(peer_id, head, data)
            except SenateError as e:
                log.warning("node %d: snapshot from peer %d refused: %s", self.node_id, peer_id, e)
                if self.on_snapshot_refused is not None:
                    self.on_snapshot_refused(peer_id, head)

    def on_peer_change(self, peer_id: int, connected: bool) -> None:
        if not connected and self._core is not None:
            self._core.report_unreachable(peer_id)
            self._wake.set()

    def step_inbound(self, core: Core) -> None:
        """Steps the frames of every connection with input into `core` (called by the driver,
        the one caller of the core). A connection whose frames the core rejects is closed."""
        conns = list(self.inbound.values())
        self.inbound.clear()
        for conn in conns:
            self._step_connection(core, conn)

    def _step_connection(self, core: Core, conn: PeerConnection) -> None:
        data = conn.take_input()
        if not data:
            return
        try:
            used = core.step_stream(data)
        except (DecodeError, InvalidMessage, UnknownPeer) as e:
            log.warning("node %d: closing connection of peer %s: %s", self.node_id, conn.peer_id, e)
            conn.close()
            return
        except SenateError as e:
            log.debug("node %d: step from peer %s: %s", self.node_id, conn.peer_id, e)
            conn.close()
            return
        if used < len(data):
            conn.keep_partial(data[used:])
