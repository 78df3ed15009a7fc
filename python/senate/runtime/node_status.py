"""What a node reports of itself (`Node.status()`): its role and term, its log's indexes, and
each peer it knows, built from the core's status (Raft's or Multi-Paxos's) and the runtime's
view of its connections and members."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from senate._core import PaxosStatus, Status
from senate.config import NodeConfig
from senate.runtime.members import Membership


@dataclass(frozen=True)
class PeerInfo:
    id: int
    connected: bool
    #: The highest log index (Multi-Paxos: slot) known replicated on that peer (known at the
    #: leader only).
    match_index: int | None


@dataclass(frozen=True)
class NodeStatus:
    id: int
    #: "raft" or "paxos".
    protocol: str
    role: str
    #: Raft's term; for Multi-Paxos the round of the promised ballot (`ballot`).
    term: int
    leader: int | None
    commit_index: int
    applied_index: int
    snapshot_index: int
    last_index: int
    peers: list[PeerInfo]
    #: Multi-Paxos only: the promised ballot, (round, node id).
    ballot: tuple[int, int] | None = None
    #: Raft: "abstaining" while this node, back with an empty disk in a cluster that has a
    #: log, neither votes nor campaigns; "recovered" once it has the log again; else "no".
    empty_disk: str = "no"
    #: At a Raft leader: followers found to have lost their log, not yet caught up.
    lost_log_peers: tuple[int, ...] = ()


def node_status(
    config: NodeConfig,
    core_status: Status | PaxosStatus,
    connected: Iterable[int],
    membership: Membership,
    applied_index: int,
    snapshot_index: int,
) -> NodeStatus:
    """The status of node `config.id`: the core's, the peers it is `connected` to among the
    members of `membership`, and the indexes the runtime applied and snapshotted."""
    s = core_status
    connected_ids = set(connected)
    lost: tuple[int, ...] = ()
    match = {p[0]: p[1] for p in s.peers}
    if isinstance(s, PaxosStatus):
        round_, _node = s.ballot
        role, term, commit, last, ballot = s.role, round_, s.chosen, s.last_slot, s.ballot
        empty_disk = "no"
    else:
        role, term, commit, last, ballot = s.role, s.term, s.commit, s.last_index, None
        empty_disk, lost = s.empty_disk, tuple(peer for peer, _ in s.lost_logs)
    peers = [
        PeerInfo(i, i in connected_ids, match.get(i)) for i in membership.members if i != config.id
    ]
    return NodeStatus(
        id=config.id,
        protocol=config.protocol,
        role=role,
        term=term,
        leader=s.leader,
        commit_index=commit,
        applied_index=applied_index,
        snapshot_index=snapshot_index,
        last_index=last,
        peers=peers,
        ballot=ballot,
        empty_disk=empty_disk,
        lost_log_peers=lost,
    )
