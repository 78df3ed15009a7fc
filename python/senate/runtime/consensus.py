"""The consensus core a node runs, made from its configuration: Raft's or Multi-Paxos's
(`NodeConfig.protocol`), over the durable log in its data directory when it has one."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor
from typing import Any

from senate._core import PaxosNode, RaftNode, Wal
from senate.config import NodeConfig


def new_core(cfg: NodeConfig, wal: Wal | None) -> RaftNode | PaxosNode:
    """The consensus core of the configured protocol, over `wal` if any."""
    options: dict[str, Any] = dict(
        election_timeout_ticks=cfg.election_timeout_ticks,
        heartbeat_interval_ticks=cfg.heartbeat_interval_ticks,
        seed=cfg.seed if cfg.seed is not None else int.from_bytes(os.urandom(8), "little"),
    )
    options.update(lease_reads=cfg.lease_reads)
    if cfg.protocol == "raft":
        options.update(pre_vote=cfg.pre_vote, check_quorum=cfg.check_quorum)
    options.update(cfg.core_options)
    # A joining node is no voter of the first configuration: it campaigns and counts only
    # once a membership change makes it one (having received the log by then).
    voters = sorted(set(cfg.peers) - set(cfg.joining))
    # Snapshots leave as ACTION_SEND_SNAPSHOT, streamed in chunks (`snapshot_stream`), for
    # both protocols (`core_options` may turn it off, to compare).
    options.setdefault("stream_snapshots", True)
    if cfg.protocol == "paxos":
        return PaxosNode(cfg.id, voters, wal=wal, **options)
    options.setdefault("empty_disk_guard", cfg.empty_disk_guard)
    return RaftNode(cfg.id, voters, wal=wal, **options)


async def open_wal(cfg: NodeConfig, loop: asyncio.AbstractEventLoop, disk: Executor) -> Wal:
    """Opens (recovering) the log in `cfg.data_dir`, in the `disk` thread: recovery reads
    and checks every record, which must not hold the event loop."""
    data_dir = cfg.data_dir
    assert data_dir is not None
    os.makedirs(data_dir, exist_ok=True)
    return await loop.run_in_executor(
        disk,
        lambda: Wal(
            data_dir,
            fsync=cfg.fsync,
            max_segment_bytes=cfg.max_segment_bytes,
            max_record_bytes=cfg.max_record_bytes,
            protocol=cfg.protocol,
        ),
    )
