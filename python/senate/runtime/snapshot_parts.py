"""The receiver's part files of snapshot streams (`senate.runtime.snapshot_stream`): one per
snapshot offered, named after the sender and the snapshot (not the message that carries it),
so that a stream resumes at the bytes its file holds. Disk work only: every function runs in
the receiver's worker thread.

At most one part file per peer is kept, and only while no snapshot as new was offered: opening
one deletes the sender's other part files and every part file (any peer's) of a snapshot at
or below the offered index. So a cut stream resumes after another peer's stream took its turn
only if that one's snapshot is older (a lower index); after one of the same or a higher index
its part file is gone, and the cut stream's sender starts over if its snapshot is still needed
(it is not once the other one is applied: the receiver answers not needed)."""

from __future__ import annotations

import os
from pathlib import Path

from senate._core import SnapshotData
from senate.runtime.snapshot_codec import Chunk, Offer

#: The receiver's part files, in the node's data directory.
INCOMING_DIR = "snapshot-incoming"
PART_SUFFIX = ".part"


def part_path(directory: Path, peer_id: int, offer: Offer) -> Path:
    name = f"{peer_id}-{offer.index:016x}-{offer.term:016x}-{offer.data_crc32c:08x}"
    return directory / f"{name}-{offer.data_bytes:x}{PART_SUFFIX}"


def _peer_and_index(path: Path) -> tuple[int, int] | None:
    """(peer id, snapshot index) of a part file's name; None for a name `part_path` never
    makes."""
    fields = path.name.removesuffix(PART_SUFFIX).split("-")
    try:
        return int(fields[0]), int(fields[1], 16)
    except (IndexError, ValueError):
        return None


def open_part(path: Path, data_bytes: int) -> tuple[int, int]:
    """Opens (creates) the part file `path` (from `part_path`); deletes the part files it
    makes useless (see the module's docs). Returns the descriptor and the offset to resume
    at: what the file holds (a torn tail of a crash shows in the checksum of the whole, and
    the transfer starts over)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = _peer_and_index(path)
    assert key is not None, path
    peer_id, index = key
    for other in path.parent.glob(f"*{PART_SUFFIX}"):
        other_key = _peer_and_index(other)
        useless = other_key is None or other_key[0] == peer_id or other_key[1] <= index
        if other != path and useless:
            other.unlink(missing_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    size = os.fstat(fd).st_size
    if size > data_bytes:
        os.ftruncate(fd, 0)
        size = 0
    return fd, size


def write_chunks(fd: int, chunks: list[Chunk], sync: bool) -> None:
    for chunk in chunks:
        view = memoryview(chunk.data)
        offset = chunk.offset
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    if sync:
        os.fdatasync(fd)


def read_back(fd: int, path: Path, data_crc32c: int) -> SnapshotData | None:
    """Syncs the complete part file, reads it whole and checks it; deletes it either way (a
    good one goes to the node, which makes it durable in its log). None on a mismatch."""
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        data = SnapshotData.read_file(str(path))
    finally:
        path.unlink(missing_ok=True)
    return data if data.crc32c() == data_crc32c else None
