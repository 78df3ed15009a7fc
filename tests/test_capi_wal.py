"""The durable log through the C ABI: a 3-node cluster of each protocol persists through
`senate_wal` (each Ready written before its persisted messages leave and before `advance`),
stops, reopens its logs and starts from them: the committed entries come back, and the
restarted cluster commits more. A log refuses a node of the other protocol, gives what it
recovered to one node only, and a directory is refused to a second open while one holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from capi_library import check, last_error, load
from capi_nodes import CNode, leader_of, run_until

VOTERS = [1, 2, 3]


@pytest.fixture(scope="module")
def capi() -> tuple[Any, Any]:
    return load()


def open_wal(capi: tuple[Any, Any], path: Path, protocol: str) -> Any:
    ffi, lib = capi
    options = ffi.new("senate_wal_options *")
    check(lib, lib.senate_wal_options_default(options))
    options.protocol = getattr(lib, f"SENATE_PROTOCOL_{protocol.upper()}")
    out = ffi.new("senate_wal **")
    check(lib, lib.senate_wal_open(str(path).encode(), options, out))
    return out[0]


def run_cluster(
    capi: tuple[Any, Any], protocol: str, wals: dict[int, Any], entries: list[bytes]
) -> dict[int, list[bytes]]:
    """Starts a node on each log, proposes `entries` at the leader, runs until every node
    applied everything it holds plus them; stops the nodes. What each applied, in order."""
    ffi = capi[0]
    nodes = {i: CNode(capi, i, VOTERS, protocol, wal=wals[i]) for i in VOTERS}
    applied: dict[int, list[bytes]] = {i: [] for i in VOTERS}
    run_until(nodes, lambda: leader_of(nodes, capi) is not None, applied, "a leader")
    leader = leader_of(nodes, capi)
    assert leader is not None
    for data in entries:
        nodes[leader].propose(data)
    run_until(
        nodes,
        lambda: all(a[-len(entries) :] == entries for a in applied.values()),
        applied,
        "commit",
    )
    for node in nodes.values():
        ffi.release(node.handle)
    return applied


def test_a_cluster_restarts_from_its_logs(
    capi: tuple[Any, Any], protocol: str, tmp_path: Path
) -> None:
    lib = capi[1]
    first = [f"first-{i}".encode() for i in range(50)]
    wals = {i: open_wal(capi, tmp_path / f"node-{i}", protocol) for i in VOTERS}
    assert all(a == first for a in run_cluster(capi, protocol, wals, first).values())
    for wal in wals.values():
        check(lib, lib.senate_wal_free(wal))

    # Restarted from the logs with nothing applied: the committed entries are handed out
    # again, in order, before the new ones.
    second = [f"second-{i}".encode() for i in range(10)]
    wals = {i: open_wal(capi, tmp_path / f"node-{i}", protocol) for i in VOTERS}
    assert all(a == first + second for a in run_cluster(capi, protocol, wals, second).values())
    for wal in wals.values():
        check(lib, lib.senate_wal_free(wal))


def test_a_log_is_given_once_to_a_node_of_its_protocol(
    capi: tuple[Any, Any], tmp_path: Path
) -> None:
    ffi, lib = capi
    wal = open_wal(capi, tmp_path / "log", "raft")
    second = ffi.new("senate_wal **")
    options = ffi.new("senate_wal_options *")
    check(lib, lib.senate_wal_options_default(options))
    assert lib.senate_wal_open(str(tmp_path / "log").encode(), options, second) == (
        lib.SENATE_CODE_LOCKED
    )
    assert "in use" in last_error(lib)

    paxos_config = ffi.new("senate_paxos_config *")
    check(lib, lib.senate_paxos_config_default(1, paxos_config))
    paxos = ffi.new("senate_paxos_node **")
    code = lib.senate_paxos_node_new_from_wal(paxos_config, [1], 1, wal, paxos)
    assert code == lib.SENATE_CODE_INVALID_CONFIG
    assert "a Raft (tag 1) log" in last_error(lib)

    config = ffi.new("senate_raft_config *")
    check(lib, lib.senate_raft_config_default(1, config))
    node = ffi.new("senate_raft_node **")
    check(lib, lib.senate_raft_node_new_from_wal(config, [1], 1, wal, node))
    again = ffi.new("senate_raft_node **")
    assert lib.senate_raft_node_new_from_wal(config, [1], 1, wal, again) == (
        lib.SENATE_CODE_INVALID_ARGUMENT
    )
    assert lib.senate_raft_node_new_from_wal(config, [1], 1, ffi.NULL, again) == (
        lib.SENATE_CODE_NULL_ARGUMENT
    )
    assert lib.senate_raft_node_new_from_wal(
        config, [1], 1, ffi.cast("senate_wal *", node[0]), again
    ) == (lib.SENATE_CODE_BAD_HANDLE)
    assert lib.senate_wal_open(b"\xff\xfe", options, second) == lib.SENATE_CODE_INVALID_ARGUMENT
    options.protocol = 2
    assert lib.senate_wal_open(str(tmp_path / "other").encode(), options, second) == (
        lib.SENATE_CODE_INVALID_ARGUMENT
    )
    check(lib, lib.senate_raft_node_free(node[0]))
    check(lib, lib.senate_wal_free(wal))
