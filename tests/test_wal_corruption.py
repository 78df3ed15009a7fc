"""A bit flipped in a follower's log: the node refuses to start, the others serve on.

A 3-node key-value cluster of `senate serve` processes with fsync on takes writes; one
follower is stopped, one bit in the middle of the records of its newest log segment is
flipped, and it is started again. It must exit with status 3 and an error naming the segment
file and the damaged record's byte offset (its log holds sync marks after that record, so the
damage cannot pass for a torn write), and the two other nodes must keep accepting writes.
"""

from __future__ import annotations

import functools
import re
import signal
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from senate.commands.serve import WAL_ERROR_STATUS
from senate.launcher import LocalCluster, LocalNode, free_base_port

#: Bytes of a segment file header and of a record header (see `rust/core/src/wal/mod.rs`).
SEGMENT_HEADER_BYTES = 12
RECORD_HEADER_BYTES = 18
WRITES_BEFORE = 200


def until(what: str, cond: Callable[[], Any], deadline_s: float = 30.0) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        try:
            value = cond()
        except redis.RedisError:
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def client(node: LocalNode) -> Any:
    host, port = node.client.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), socket_timeout=10)


def role(node: LocalNode) -> str | None:
    try:
        return str(client(node).info("senate")["role"])
    except redis.RedisError:
        return None


def record_start(segment: bytes, offset: int) -> int:
    """The offset of the record holding byte `offset` (the payload length is the u64 LE at
    byte 4 of a record header)."""
    start = SEGMENT_HEADER_BYTES
    while True:
        (payload_bytes,) = struct.unpack_from("<Q", segment, start + 4)
        end = start + RECORD_HEADER_BYTES + payload_bytes
        if end > offset:
            return start
        start = end


def flip_a_bit_in_the_middle_of_the_records(segment_path: Path) -> tuple[bytes, int]:
    """Flips one bit halfway through the records of a segment file; returns the damaged
    contents and the byte flipped. Segments are allocated ahead: the records end at the last
    non-zero byte."""
    segment = bytearray(segment_path.read_bytes())
    records_end = len(segment.rstrip(b"\0"))
    flipped = (SEGMENT_HEADER_BYTES + records_end) // 2
    segment[flipped] ^= 0x08
    segment_path.write_bytes(bytes(segment))
    return bytes(segment), flipped


def test_a_flipped_bit_in_a_followers_log_stops_it_and_the_rest_serve(tmp_path: Path) -> None:
    base = free_base_port(3)
    with LocalCluster(nodes=3, data_dir=tmp_path, base_port=base, fsync=True) as cluster:
        cluster.wait_ready(timeout_s=60)
        nodes = cluster.nodes
        followers = until("a follower", lambda: [n for n in nodes if role(n) == "follower"])
        follower = followers[0]
        others = [n for n in nodes if n.id != follower.id]
        writer = client(others[0])
        # One write at a time: each is a batch of its own, so the log holds many sync marks.
        for i in range(WRITES_BEFORE):
            assert writer.set(f"before:{i}", i)
        last_key = f"before:{WRITES_BEFORE - 1}"
        until("the follower to hold every write", lambda: client(follower).get(last_key))
        assert cluster.kill(follower.id, signal.SIGTERM) == 0

        segment_path = max((tmp_path / f"node-{follower.id}").glob("*.wal"))
        segment, flipped = flip_a_bit_in_the_middle_of_the_records(segment_path)
        cluster.restart(follower.id)
        assert cluster.wait_exit(follower.id, timeout_s=60) == WAL_ERROR_STATUS
        log = cluster.log_path(follower.id).read_text(errors="replace")
        found = re.search(
            r"error: node \d+ refuses to start, its log is damaged: "
            r"corrupt write-ahead log (\S+) at byte (\d+): ",
            log,
        )
        assert found, log[-2000:]
        assert Path(found[1]).resolve() == segment_path.resolve()
        assert int(found[2]) == record_start(segment, flipped)

        # The other two are a quorum: they keep accepting writes, and both serve them.
        for i in range(20):
            until(f"write {i} after the refusal", functools.partial(writer.set, f"after:{i}", "x"))
        other = client(others[1])
        until("the other node to serve the writes", lambda: other.get("after:19") == b"x")
        sample = range(0, WRITES_BEFORE, 50)
        assert [writer.get(f"before:{i}") for i in sample] == [str(i).encode() for i in sample]
