"""Faults injected into one running node, for chaos testing: links cut one way, and a disk
that stalls. Nothing here runs unless a test or `senate chaos` asks for it (`Node.faults`).

- A cut link drops every frame this node sends to that peer, as a network that loses them
  would: the connection stays up, the sender is not told (no unreachable report), and frames
  from the peer still arrive. A partition between two nodes cuts both ends; a one-way
  partition cuts one.
- A snapshot stream cut: the next snapshot stream this node receives is closed once it has
  brought a given number of bytes, as a lost connection would (the leader resumes it).
- A stalled disk: the node stops hearing that its log writes finished (the writer thread
  still writes them), which is how a disk that stops answering looks to the node; a follower
  stops waiting for its own writes meanwhile. Resuming delivers the completions held back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from senate.runtime.driver import ReadyDriver
    from senate.runtime.snapshot_stream import SnapshotReceiver
    from senate.runtime.transport import Transport


class Faults:
    """The fault switches of one started node; every method runs on the node's loop."""

    def __init__(
        self,
        node_id: int,
        transport: Transport,
        driver: ReadyDriver,
        snapshot_receiver: SnapshotReceiver,
        set_follower_write_wait_s: Callable[[float], None],
        follower_write_wait_s: Callable[[], float],
    ) -> None:
        self.node_id = node_id
        self._transport = transport
        self._driver = driver
        self._snapshot_receiver = snapshot_receiver
        self._set_follower_write_wait_s = set_follower_write_wait_s
        self._follower_write_wait_s = follower_write_wait_s
        #: The follower write wait to restore when the disk resumes; None while not stalled.
        self._wait_before_stall_s: float | None = None

    # --- links ------------------------------------------------------------------------------
    @property
    def cut_peers(self) -> frozenset[int]:
        """The peers this node's frames to are dropped."""
        return frozenset(self._transport.cut_peers)

    def cut_links(self, peers: Iterable[int]) -> None:
        """Drops every frame to `peers` from now on (added to those already cut)."""
        wanted = set(peers)
        unknown = wanted - set(self._transport.peers)
        if unknown:
            raise ValueError(f"not peers of node {self.node_id}: {sorted(unknown)}")
        self._transport.cut_peers |= wanted

    def heal_links(self) -> None:
        """Sends to every peer again."""
        self._transport.cut_peers.clear()

    # --- snapshot streams ---------------------------------------------------------------------
    def break_snapshot_stream(self, after_bytes: int) -> None:
        """Closes the next snapshot stream received once it brought `after_bytes` (>= 1)."""
        if after_bytes < 1:
            raise ValueError("after_bytes must be at least 1")
        self._snapshot_receiver.break_after_bytes = after_bytes

    # --- disk -------------------------------------------------------------------------------
    @property
    def disk_stalled(self) -> bool:
        return self._wait_before_stall_s is not None

    def stall_disk(self) -> None:
        """Holds back the completions of the node's log writes until `resume_disk`."""
        if self.disk_stalled:
            return
        writer = self._driver.writer
        if writer is None:
            raise ValueError(f"node {self.node_id} has no log writer (no data directory)")
        asyncio.get_running_loop().remove_reader(writer.fileno())
        self._wait_before_stall_s = self._follower_write_wait_s()
        self._set_follower_write_wait_s(0.0)

    def resume_disk(self) -> None:
        """Delivers the completions held back, and hears new ones as they come."""
        if self._wait_before_stall_s is None:
            return
        writer = self._driver.writer
        assert writer is not None, "the writer closed while the disk was stalled"
        fd = writer.fileno()
        asyncio.get_running_loop().add_reader(fd, self._driver.on_writes_done, fd)
        self._set_follower_write_wait_s(self._wait_before_stall_s)
        self._wait_before_stall_s = None
        self._driver.on_writes_done(fd)  # the wake-ups that came meanwhile were not read
