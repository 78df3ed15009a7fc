"""The C ABI (`rust/capi`, `include/senate.h`) driven through cffi only: a 3-node cluster
commits on all three, every balancer and both detectors answer as the Python binding does (the
same core behind two thin bindings), errors come back as codes with a per-thread message."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import senate._core as core
from capi_library import CApiError, check, last_error, load
from capi_nodes import CNode, leader_of, run_until

VOTERS = [1, 2, 3]


@pytest.fixture(scope="module")
def capi() -> tuple[Any, Any]:
    return load()


def test_three_nodes_commit_on_all_three_through_the_c_abi(
    capi: tuple[Any, Any], protocol: str
) -> None:
    nodes = {i: CNode(capi, i, VOTERS, protocol) for i in VOTERS}
    applied: dict[int, list[bytes]] = {i: [] for i in VOTERS}
    run_until(nodes, lambda: leader_of(nodes, capi) is not None, applied, "a leader")
    leader = leader_of(nodes, capi)
    assert leader is not None
    entries = [f"entry-{i}".encode() for i in range(200)]
    for data in entries[:100]:
        nodes[leader].propose(data)
    nodes[leader].propose_batch(entries[100:])
    run_until(
        nodes, lambda: all(len(a) == len(entries) for a in applied.values()), applied, "commit"
    )
    assert all(a == entries for a in applied.values())
    commits = {node.commit() for node in nodes.values()}
    assert len(commits) == 1
    commit = commits.pop()
    assert commit >= len(entries)
    assert {node.status().leader for node in nodes.values()} == {leader}

    if protocol == "raft":
        peers = capi[0].new("senate_peer_status[4]")
        count = capi[0].new("size_t *")
        check(capi[1], capi[1].senate_raft_node_peers(nodes[leader].handle, peers, 4, count))
        assert count[0] == 2
        assert {peers[i].id for i in range(2)} == set(VOTERS) - {leader}
        assert all(peers[i].match_index == commit for i in range(2))

    # A linearizable read: confirmed at an index already committed.
    nodes[leader].read_index(77)
    reads = run_until(nodes, lambda: True, applied, "the read")
    reads += run_until(nodes, lambda: True, applied, "the read")
    assert (77, commit) in reads


def test_a_follower_forwards_and_refuses_when_told_not_to(capi: tuple[Any, Any]) -> None:
    nodes = {i: CNode(capi, i, VOTERS, forward_proposals=(i != 3)) for i in VOTERS}
    applied: dict[int, list[bytes]] = {i: [] for i in VOTERS}
    # Node 3 never forwards; make 1 the leader.
    check(capi[1], capi[1].senate_raft_node_campaign(nodes[1].handle))
    run_until(nodes, lambda: leader_of(nodes, capi) == 1, applied, "node 1 leads")
    nodes[2].propose(b"forwarded")
    run_until(nodes, lambda: all(a == [b"forwarded"] for a in applied.values()), applied, "commit")
    with pytest.raises(CApiError) as refused:
        nodes[3].propose(b"refused")
    assert refused.value.code == capi[1].SENATE_CODE_NOT_LEADER
    assert "not the leader" in refused.value.message


def test_frames_are_those_of_the_python_binding(capi: tuple[Any, Any]) -> None:
    """The same inputs give byte-identical Readies through both bindings: the C ABI adds no
    logic."""
    c_nodes = {i: CNode(capi, i, VOTERS) for i in VOTERS}
    py_nodes = {i: core.RaftNode(i, VOTERS) for i in VOTERS}
    for round_ in range(60):
        for i in VOTERS:
            c_nodes[i].tick()
            py_nodes[i].tick()
        for i in VOTERS:
            c_ready, py_ready = c_nodes[i].ready(), py_nodes[i].ready()
            assert (c_ready is None) == (py_ready is None), round_
            if c_ready is None or py_ready is None:
                continue
            assert c_ready["messages"] == [(to, bytes(f)) for to, f in py_ready.messages]
            assert c_ready["hard_state"] == py_ready.hard_state
            assert [c[2] for c in c_ready["committed"]] == list(py_ready.committed_data)
            for to, frames in c_ready["messages"]:
                c_nodes[to].step(frames)
                py_nodes[to].step(frames)
            c_nodes[i].advance()
            py_nodes[i].advance()
        if round_ == 40:
            leader = next(i for i in VOTERS if py_nodes[i].status().role == "leader")
            c_nodes[leader].propose(b"same")
            py_nodes[leader].propose(b"same")
    assert [n.status().commit for n in c_nodes.values()] == [
        n.status().commit for n in py_nodes.values()
    ]


# ---- balancers ---------------------------------------------------------------------------

#: senate_algorithm value -> the Python class of the same algorithm.
ALGORITHMS: dict[str, Any] = {
    "ROUND_ROBIN": core.RoundRobin,
    "RANDOM": core.Random,
    "WEIGHTED_RANDOM": core.WeightedRandom,
    "SMOOTH_WEIGHTED": core.SmoothWeighted,
    "LEAST_REQUEST": core.LeastRequest,
    "PEAK_EWMA": core.PeakEwma,
    "RING_HASH": core.RingHash,
    "MAGLEV": core.Maglev,
    "RENDEZVOUS": core.Rendezvous,
    "JUMP_HASH": core.JumpHash,
    "BOUNDED_LOAD_HASH": core.BoundedLoadHash,
}
BACKENDS = {f"backend-{i}": 1 + i % 3 for i in range(7)}


class CBalancer:
    """A balancer through the C ABI."""

    def __init__(
        self, capi: tuple[Any, Any], algorithm: str, backends: dict[str, int], seed: int = 0
    ) -> None:
        self.ffi, self.lib = capi
        options = self.ffi.new("senate_balancer_options *")
        value = getattr(self.lib, f"SENATE_ALGORITHM_{algorithm}")
        check(self.lib, self.lib.senate_balancer_options_default(value, options))
        options.seed = seed
        self._names = [self.ffi.new("char[]", name.encode()) for name in backends]
        handle = self.ffi.new("senate_balancer **")
        names = self.ffi.new("const char *[]", self._names)
        weights = self.ffi.new("uint32_t[]", list(backends.values()))
        check(
            self.lib, self.lib.senate_balancer_new(options, names, weights, len(backends), handle)
        )
        self.handle = self.ffi.gc(handle[0], self.lib.senate_balancer_free)
        self.index = self.ffi.new("size_t *")

    def name(self, index: int) -> str:
        name = self.ffi.new("const char **")
        check(self.lib, self.lib.senate_balancer_name(self.handle, index, name))
        return str(self.ffi.string(name[0]).decode())

    def pick(self, key: bytes | int | None = None) -> str:
        if key is None:
            code = self.lib.senate_balancer_pick(self.handle, self.index)
        elif isinstance(key, int):
            code = self.lib.senate_balancer_pick_key_u64(self.handle, key, self.index)
        else:
            code = self.lib.senate_balancer_pick_key(self.handle, key, len(key), self.index)
        check(self.lib, code)
        return self.name(self.index[0])

    def call(self, function: str, *args: Any) -> int:
        code: int = getattr(self.lib, f"senate_balancer_{function}")(self.handle, *args)
        return code


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_balancer_picks_as_the_python_binding(capi: tuple[Any, Any], algorithm: str) -> None:
    c_balancer = CBalancer(capi, algorithm, BACKENDS, seed=5)
    seeded = algorithm != "SMOOTH_WEIGHTED"  # smooth weighted round robin draws nothing
    py_balancer = ALGORITHMS[algorithm](BACKENDS, **({"seed": 5} if seeded else {}))
    keys: list[bytes | int | None] = [f"user:{i}".encode() for i in range(300)]
    keys += list(range(0, 2**64, 2**56)) + [None] * 100
    for key in keys:
        assert c_balancer.pick(key) == py_balancer.pick(key), key
    # str keys are hashed as their UTF-8 bytes on both sides.
    assert c_balancer.pick(b"caf\xc3\xa9") == py_balancer.pick("café")


def test_balancer_membership_health_and_load(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    lb = CBalancer(capi, "LEAST_REQUEST", {"a": 1, "b": 1, "c": 1})
    count = ffi.new("size_t *")
    check(lib, lb.call("add", b"d", 4))
    check(lib, lb.call("backend_count", count))
    assert count[0] == 4
    info = ffi.new("senate_backend_info *")
    check(lib, lb.call("backend", b"d", info))
    assert (info.index, info.weight, info.is_up, info.in_flight) == (3, 4, True, 0)
    assert lb.call("add", b"d", 1) == lib.SENATE_CODE_DUPLICATE_BACKEND
    assert "d" in last_error(lib)
    check(lib, lb.call("start", b"d"))
    check(lib, lb.call("backend", b"d", info))
    assert info.in_flight == 1
    check(lib, lb.call("finish", b"d", 3.0, True, float("nan")))
    assert lb.call("finish", b"d", 3.0, True, 10.0) == lib.SENATE_CODE_NOT_IN_FLIGHT
    changed = ffi.new("bool *")
    check(lib, lb.call("set_up", b"a", False, changed))
    assert changed[0]
    assert "a" not in {lb.pick() for _ in range(50)}
    in_panic = ffi.new("bool *")
    check(lib, lb.call("in_panic", in_panic))
    assert not in_panic[0]
    # 1 of 4 up is below the panic threshold (0.5): every backend is eligible again.
    for name in (b"b", b"c"):
        check(lib, lb.call("set_up", name, False, changed))
    check(lib, lb.call("in_panic", in_panic))
    assert in_panic[0]
    assert "a" in {lb.pick() for _ in range(200)}
    assert lb.call("remove", b"zz") == lib.SENATE_CODE_UNKNOWN_BACKEND
    for name in (b"a", b"b", b"c", b"d"):
        check(lib, lb.call("remove", name))
    assert lb.call("pick", lb.index) == lib.SENATE_CODE_NO_BACKEND
    size = ffi.new("size_t *")
    assert lb.call("maglev_table_size", size) == lib.SENATE_CODE_UNSUPPORTED


def test_maglev_and_peak_ewma_extras(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    maglev = CBalancer(capi, "MAGLEV", BACKENDS)
    size = ffi.new("size_t *")
    check(lib, maglev.call("maglev_table_size", size))
    assert size[0] == core.Maglev(BACKENDS).table_size
    ewma = CBalancer(capi, "PEAK_EWMA", {"a": 1, "b": 1})
    py_ewma = core.PeakEwma({"a": 1, "b": 1})
    for balancer in (ewma, py_ewma):
        if balancer is ewma:
            check(lib, ewma.call("start", b"a"))
            check(lib, ewma.call("finish", b"a", 250.0, True, 100.0))
        else:
            py_ewma.start("a")
            py_ewma.finish("a", 250.0, now_ms=100.0)
    estimate = ffi.new("double *")
    check(lib, ewma.call("latency_estimate_ms", b"a", 400.0, estimate))
    assert estimate[0] == py_ewma.latency_estimate_ms("a", 400.0)


def test_bad_options_name_the_field(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    options = ffi.new("senate_balancer_options *")
    check(lib, lib.senate_balancer_options_default(lib.SENATE_ALGORITHM_RING_HASH, options))
    options.vnodes = 0
    handle = ffi.new("senate_balancer **")
    name = ffi.new("char[]", b"a")  # alive while names is used
    names = ffi.new("const char *[]", [name])
    assert lib.senate_balancer_new(options, names, ffi.NULL, 1, handle) == (
        lib.SENATE_CODE_INVALID_CONFIG
    )
    assert "vnodes" in last_error(lib)
    assert lib.senate_balancer_options_default(11, options) == lib.SENATE_CODE_INVALID_ARGUMENT

    cfg = ffi.new("senate_raft_config *")
    check(lib, lib.senate_raft_config_default(1, cfg))
    cfg.lease_reads = True
    cfg.check_quorum = False
    node = ffi.new("senate_raft_node **")
    assert lib.senate_raft_node_new(cfg, [1], 1, node) == lib.SENATE_CODE_INVALID_CONFIG
    assert "lease_reads" in last_error(lib)
    assert node[0] == ffi.NULL


# ---- detectors ---------------------------------------------------------------------------


def test_phi_detector_answers_as_the_python_binding(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    config = ffi.new("senate_phi_config *")
    check(lib, lib.senate_phi_config_default(config))
    py_detector = core.PhiAccrualDetector()
    assert config.threshold == py_detector.threshold
    out = ffi.new("senate_phi_detector **")
    check(lib, lib.senate_phi_detector_new(config, out))
    detector = ffi.gc(out[0], lib.senate_phi_detector_free)
    phi, available = ffi.new("double *"), ffi.new("bool *")
    for t in (0.0, 1000.0, 1950.0, 3100.0, 4000.0):
        check(lib, lib.senate_phi_detector_heartbeat(detector, t))
        py_detector.heartbeat(t)
    for t in (4500.0, 6000.0, 9000.0, 20000.0):
        check(lib, lib.senate_phi_detector_phi(detector, t, phi))
        check(lib, lib.senate_phi_detector_is_available(detector, t, available))
        assert phi[0] == py_detector.phi(t)
        assert available[0] == py_detector.is_available(t)
    assert not available[0]
    has, last = ffi.new("bool *"), ffi.new("double *")
    check(lib, lib.senate_phi_detector_last_heartbeat_ms(detector, has, last))
    assert (has[0], last[0]) == (True, 4000.0)
    assert lib.senate_phi_detector_heartbeat(detector, 10.0) == lib.SENATE_CODE_INVALID_TIME
    config.threshold = -1.0
    assert lib.senate_phi_detector_new(config, out) == lib.SENATE_CODE_INVALID_CONFIG
    assert "threshold" in last_error(lib)


def test_heartbeat_detector(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    out = ffi.new("senate_heartbeat_detector **")
    check(lib, lib.senate_heartbeat_detector_new(500.0, out))
    detector = ffi.gc(out[0], lib.senate_heartbeat_detector_free)
    has, last = ffi.new("bool *"), ffi.new("double *")
    check(lib, lib.senate_heartbeat_detector_last_heartbeat_ms(detector, has, last))
    assert not has[0]
    check(lib, lib.senate_heartbeat_detector_heartbeat(detector, 100.0))
    available, elapsed = ffi.new("bool *"), ffi.new("double *")
    py_detector = core.HeartbeatDetector(500.0)
    py_detector.heartbeat(100.0)
    for t in (599.0, 600.0, 601.0, 10_000.0):
        check(lib, lib.senate_heartbeat_detector_is_available(detector, t, available))
        assert available[0] == py_detector.is_available(t)
    assert not available[0]
    check(lib, lib.senate_heartbeat_detector_elapsed_ms(detector, 350.0, elapsed))
    assert elapsed[0] == 250.0
    nan = float("nan")
    assert lib.senate_heartbeat_detector_elapsed_ms(detector, nan, elapsed) == (
        lib.SENATE_CODE_INVALID_TIME
    )
    assert lib.senate_heartbeat_detector_new(0.0, out) == lib.SENATE_CODE_INVALID_CONFIG


# ---- bytes, errors, threads --------------------------------------------------------------


def test_snapshot_envelope_is_the_python_bindings_and_freed_once(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    parts = [b"", b"state machine one", bytes(range(256)) * 300]
    buffers = [ffi.from_buffer(part) for part in parts]
    pointers = ffi.new("const uint8_t *[]", buffers)
    lens = ffi.new("size_t[]", [len(p) for p in parts])
    out = ffi.new("senate_bytes *")
    check(lib, lib.senate_encode_snapshot_envelope(pointers, lens, len(parts), out))
    assert bytes(ffi.buffer(out.data, out.len)) == core.encode_snapshot_envelope(parts)
    check(lib, lib.senate_bytes_free(out))
    assert (out.data, out.len) == (ffi.NULL, 0)
    check(lib, lib.senate_bytes_free(out))  # a second free of the cleared buffer: a no-op
    check(lib, lib.senate_bytes_free(ffi.NULL))


def test_the_last_error_is_kept_per_thread(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    assert lib.senate_raft_node_tick(ffi.NULL, 1) == lib.SENATE_CODE_NULL_ARGUMENT
    assert last_error(lib) == "node is NULL"
    seen: list[str] = []

    def other_thread() -> None:
        seen.append(last_error(lib))
        assert lib.senate_balancer_pick(ffi.NULL, ffi.NULL) == lib.SENATE_CODE_NULL_ARGUMENT
        seen.append(last_error(lib))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == ["", "index is NULL"]
    assert last_error(lib) == "node is NULL"
    check(lib, lib.senate_raft_config_default(1, ffi.new("senate_raft_config *")))
    assert last_error(lib) == "node is NULL"  # success leaves it, as errno


def test_version_is_the_packages(capi: tuple[Any, Any]) -> None:
    ffi, lib = capi
    import senate

    assert ffi.string(lib.senate_version()).decode() == senate.__version__
