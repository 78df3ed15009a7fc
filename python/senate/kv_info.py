"""`INFO` of the key-value service: the sections a node reports, as Redis's clients read them
(`# Section` headers, `field:value` lines), and the `senate` section that `senate status`
and `senate.Client` parse (node id, role, term, leader, indexes, each peer)."""

from __future__ import annotations

import os
import struct
from typing import Any

from senate._core import KvStore
from senate.kv_replies import bulk_reply
from senate.runtime.members import Membership
from senate.runtime.node_status import NodeStatus

#: The Redis version the service reports: the protocol and errors it follows.
REDIS_VERSION = "7.0.0"


def info_reply(sections: dict[str, dict[str, Any]], args: list[bytes]) -> bytes:
    """`INFO [section ...]`: the sections asked for (all of them for none, `all`,
    `everything` or `default`), as one bulk string."""
    wanted = {a.decode(errors="replace").lower() for a in args[1:]}
    if not wanted or wanted & {"all", "everything", "default"}:
        chosen = list(sections)
    else:
        chosen = [name for name in sections if name.lower() in wanted]
    text = "\r\n".join(
        f"# {name}\r\n" + "".join(f"{k}:{v}\r\n" for k, v in sections[name].items())
        for name in chosen
    )
    return bulk_reply(text.encode())


def cluster_section(membership: Membership) -> dict[str, Any]:
    """`# Cluster`: the configuration in force at this node, joint or not, and each member's
    role and peer address (`memberN:role=voter,address=host:port`)."""
    section: dict[str, Any] = {
        "members": len(membership.members),
        "voters": ",".join(map(str, membership.voters)),
        "learners": ",".join(map(str, membership.learners)),
        "voters_outgoing": ",".join(map(str, membership.voters_outgoing)),
        "joint": int(membership.joint),
    }
    for member, role in membership.roles().items():
        address = membership.addresses.get(member, "")
        section[f"member{member}"] = f"role={role},address={address}"
    return section


def info_sections(
    status: NodeStatus,
    membership: Membership,
    store: KvStore,
    port: int,
    connected_clients: int,
    uptime_s: float,
    memory: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every section of a node's INFO, in order: `status` is the node's, `membership` its
    configuration in force, `store` its key-value store, `port` its client port; `memory`
    more fields of the Memory section (the server's bounds)."""
    senate: dict[str, Any] = {
        "node_id": status.id,
        "pid": os.getpid(),
        "protocol": status.protocol,
        "role": status.role,
        "term": status.term,
        "leader": status.leader or 0,
        "commit_index": status.commit_index,
        "applied_index": status.applied_index,
        "snapshot_index": status.snapshot_index,
        "last_index": status.last_index,
        "client_sessions": store.session_count,
    }
    if status.ballot is not None:
        senate["ballot"] = f"{status.ballot[0]}.{status.ballot[1]}"
    if status.empty_disk != "no":  # docs/operations.md, "A machine that lost its disk"
        senate["empty_disk"] = status.empty_disk
    if status.lost_log_peers:
        senate["peers_lost_log"] = ",".join(map(str, status.lost_log_peers))
    for peer in status.peers:
        match = -1 if peer.match_index is None else peer.match_index
        senate[f"peer{peer.id}"] = f"connected={int(peer.connected)},match_index={match}"
    keys = len(store)
    return {
        "Server": {
            "redis_version": REDIS_VERSION,
            "senate_version": _version(),
            "redis_mode": "standalone",
            "arch_bits": struct.calcsize("P") * 8,
            "process_id": os.getpid(),
            "tcp_port": port,
            "uptime_in_seconds": int(uptime_s),
        },
        "Clients": {"connected_clients": connected_clients},
        "Memory": {
            # What `maxmemory` bounds: the store's estimate (`KvStore.memory_bytes`).
            "used_memory": store.memory_bytes(),
            "used_memory_dataset": store.memory_bytes(),
            **(memory or {}),
        },
        "Replication": {
            "role": "master" if status.role == "leader" else "slave",
            "connected_slaves": sum(p.connected for p in status.peers),
        },
        "Senate": senate,
        "Cluster": {"cluster_enabled": 0, **cluster_section(membership)},
        # As in Redis, an empty database has no line.
        "Keyspace": {"db0": f"keys={keys},expires={store.expiring_len()},avg_ttl=0"}
        if keys
        else {},
    }


def _version() -> str:
    from senate import __version__

    return __version__
