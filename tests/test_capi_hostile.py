"""Hostile callers of the C ABI: NULLs, handles of another kind or none at all, misaligned
pointers, impossible lengths, indexes past the end, strings that are not UTF-8, arbitrary
frames and option values. Each call returns an error code (the one the header promises for
that mistake) and never panics or crashes; the handles stay usable."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capi_library import check, load

FFI, LIB = load()
#: The C type of each handle kind.
HANDLE_TYPES = {
    "node": "senate_raft_node *",
    "paxos": "senate_paxos_node *",
    "ready": "senate_ready *",
    "balancer": "senate_balancer *",
    "phi": "senate_phi_detector *",
    "heartbeat": "senate_heartbeat_detector *",
    "wal": "senate_wal *",
    "report": "senate_check_report *",
}
#: The function that frees each handle kind.
FREE = {kind: f"senate_{c_type[7:-2]}_free" for kind, c_type in HANDLE_TYPES.items()}
#: Larger than any buffer (above PTRDIFF_MAX).
HUGE_LENGTH = 2**63

#: A destination (or an index) and a borrowed buffer, as the Ready accessors hand out.
FRAMES_OUT = ["out:uint64_t", "out:const uint8_t *", "out:size_t"]
#: Entry points and their parameters: a handle kind, `buf` (a pointer and a length), `batch`
#: (pointers, lengths and a count), `peers` (an array and its capacity), `str`,
#: `index`, `u64`, `ticks` (small: a tick count is a loop), `f64`, `bool`, `out:T` (a `T *`
#: that must not be NULL) or `opt:T` (a `T *` that may be NULL).
SIGNATURES: dict[str, list[str]] = {
    "senate_raft_node_tick": ["node", "ticks"],
    "senate_raft_node_step": ["node", "buf", "opt:size_t"],
    "senate_raft_node_step_stream": ["node", "buf", "out:size_t"],
    "senate_raft_node_report_unreachable": ["node", "u64"],
    "senate_raft_node_propose": ["node", "buf"],
    "senate_raft_node_read_index": ["node", "u64"],
    "senate_raft_node_transfer_leader": ["node", "u64"],
    "senate_raft_node_campaign": ["node"],
    "senate_raft_node_has_ready": ["node", "out:bool"],
    "senate_raft_node_ready": ["node", "out:senate_ready *"],
    "senate_raft_node_ready_without_write": ["node", "out:senate_ready *"],
    "senate_raft_node_advance": ["node"],
    "senate_raft_node_status": ["node", "out:senate_raft_status"],
    "senate_raft_node_compact": ["node", "u64", "buf"],
    "senate_raft_node_crash_restart": ["node", "u64"],
    "senate_raft_node_propose_batch": ["node", "batch"],
    "senate_raft_node_peers": ["node", "peers", "out:size_t"],
    "senate_paxos_node_tick": ["paxos", "ticks"],
    "senate_paxos_node_step": ["paxos", "buf", "opt:size_t"],
    "senate_paxos_node_step_stream": ["paxos", "buf", "out:size_t"],
    "senate_paxos_node_report_unreachable": ["paxos", "u64"],
    "senate_paxos_node_propose": ["paxos", "buf"],
    "senate_paxos_node_propose_batch": ["paxos", "batch"],
    "senate_paxos_node_read_index": ["paxos", "u64"],
    "senate_paxos_node_transfer_leader": ["paxos", "u64"],
    "senate_paxos_node_campaign": ["paxos"],
    "senate_paxos_node_has_ready": ["paxos", "out:bool"],
    "senate_paxos_node_ready": ["paxos", "out:senate_ready *"],
    "senate_paxos_node_advance": ["paxos"],
    "senate_paxos_node_status": ["paxos", "out:senate_paxos_status"],
    "senate_paxos_node_compact": ["paxos", "u64", "buf"],
    "senate_ready_get_info": ["ready", "out:senate_ready_info"],
    "senate_ready_message": ["ready", "index", *FRAMES_OUT],
    "senate_ready_persisted_message": ["ready", "index", *FRAMES_OUT],
    "senate_ready_committed": ["ready", "index", "out:senate_entry"],
    "senate_ready_read_state": ["ready", "index", "out:uint64_t", "out:uint64_t"],
    "senate_ready_snapshot": ["ready", "out:uint64_t", *FRAMES_OUT],
    "senate_balancer_pick": ["balancer", "out:size_t"],
    "senate_balancer_pick_key": ["balancer", "buf", "out:size_t"],
    "senate_balancer_pick_key_u64": ["balancer", "u64", "out:size_t"],
    "senate_balancer_backend_count": ["balancer", "out:size_t"],
    "senate_balancer_name": ["balancer", "index", "out:const char *"],
    "senate_balancer_backend": ["balancer", "str", "out:senate_backend_info"],
    "senate_balancer_add": ["balancer", "str", "u32"],
    "senate_balancer_remove": ["balancer", "str"],
    "senate_balancer_set_up": ["balancer", "str", "bool", "opt:bool"],
    "senate_balancer_start": ["balancer", "str"],
    "senate_balancer_finish": ["balancer", "str", "f64", "bool", "f64"],
    "senate_balancer_advance": ["balancer", "f64"],
    "senate_balancer_in_panic": ["balancer", "out:bool"],
    "senate_balancer_maglev_table_size": ["balancer", "out:size_t"],
    "senate_balancer_latency_estimate_ms": ["balancer", "str", "f64", "out:double"],
    "senate_phi_detector_heartbeat": ["phi", "f64"],
    "senate_phi_detector_phi": ["phi", "f64", "out:double"],
    "senate_phi_detector_is_available": ["phi", "f64", "out:bool"],
    "senate_phi_detector_last_heartbeat_ms": ["phi", "out:bool", "out:double"],
    "senate_heartbeat_detector_heartbeat": ["heartbeat", "f64"],
    "senate_heartbeat_detector_is_available": ["heartbeat", "f64", "out:bool"],
    "senate_heartbeat_detector_elapsed_ms": ["heartbeat", "f64", "out:double"],
    "senate_heartbeat_detector_last_heartbeat_ms": ["heartbeat", "out:bool", "out:double"],
    "senate_wal_write": ["wal", "ready"],
    "senate_check_report_get_info": ["report", "out:senate_check_info"],
    "senate_check_report_prefix": ["report", "index", "out:uint64_t"],
    "senate_check_report_unknown_key": ["report", "index", "out:const char *"],
    "senate_raft_node_free": ["node"],
    "senate_paxos_node_free": ["paxos"],
    "senate_ready_free": ["ready"],
    "senate_balancer_free": ["balancer"],
    "senate_phi_detector_free": ["phi"],
    "senate_heartbeat_detector_free": ["heartbeat"],
    "senate_wal_free": ["wal"],
    "senate_check_report_free": ["report"],
}
#: Every code the header defines.
CODES = {getattr(LIB, name) for name in dir(LIB) if name.startswith("SENATE_CODE_")}


def test_every_entry_point_is_exercised() -> None:
    """Every function of the header that takes a handle is in SIGNATURES."""
    functions = {name for name in dir(LIB) if name.startswith("senate_")}
    without_handle = {
        "senate_last_error_message", "senate_version", "senate_bytes_free",
        "senate_encode_snapshot_envelope", "senate_raft_config_default", "senate_raft_node_new",
        "senate_balancer_options_default", "senate_balancer_new", "senate_phi_config_default",
        "senate_phi_detector_new", "senate_heartbeat_detector_new",
        "senate_paxos_config_default", "senate_paxos_node_new",
        "senate_wal_options_default", "senate_wal_open",
        "senate_check_options_default", "senate_check_history",
        # Made as the nodes are, from a log (tests/test_capi_wal.py gives them bad logs).
        "senate_raft_node_new_from_wal", "senate_paxos_node_new_from_wal",
    }  # fmt: skip
    assert functions - without_handle == set(SIGNATURES)


class Handles:
    """One live handle of each kind, made fresh for each example and freed after."""

    def __init__(self) -> None:
        config = FFI.new("senate_raft_config *")
        check(LIB, LIB.senate_raft_config_default(1, config))
        node = FFI.new("senate_raft_node **")
        check(LIB, LIB.senate_raft_node_new(config, [1], 1, node))
        check(LIB, LIB.senate_raft_node_campaign(node[0]))  # a single node: it leads at once
        ready = FFI.new("senate_ready **")
        check(LIB, LIB.senate_raft_node_ready(node[0], ready))
        assert ready[0] != FFI.NULL
        paxos_config = FFI.new("senate_paxos_config *")
        check(LIB, LIB.senate_paxos_config_default(1, paxos_config))
        paxos = FFI.new("senate_paxos_node **")
        check(LIB, LIB.senate_paxos_node_new(paxos_config, [1], 1, paxos))
        options = FFI.new("senate_balancer_options *")
        check(LIB, LIB.senate_balancer_options_default(LIB.SENATE_ALGORITHM_PEAK_EWMA, options))
        names = [FFI.new("char[]", name) for name in (b"a", b"b", b"c")]
        balancer = FFI.new("senate_balancer **")
        c_names = FFI.new("char *[]", names)
        check(LIB, LIB.senate_balancer_new(options, c_names, FFI.NULL, 3, balancer))
        phi_config = FFI.new("senate_phi_config *")
        check(LIB, LIB.senate_phi_config_default(phi_config))
        phi = FFI.new("senate_phi_detector **")
        check(LIB, LIB.senate_phi_detector_new(phi_config, phi))
        heartbeat = FFI.new("senate_heartbeat_detector **")
        check(LIB, LIB.senate_heartbeat_detector_new(1000.0, heartbeat))
        check_options = FFI.new("senate_check_options *")
        check(LIB, LIB.senate_check_options_default(check_options))
        report = FFI.new("senate_check_report **")
        check(LIB, LIB.senate_check_history(b"kv", FFI.NULL, 0, check_options, report))
        self.wal_dir = tempfile.TemporaryDirectory()
        wal_options = FFI.new("senate_wal_options *")
        check(LIB, LIB.senate_wal_options_default(wal_options))
        wal_options.fsync = False
        wal = FFI.new("senate_wal **")
        check(LIB, LIB.senate_wal_open(self.wal_dir.name.encode(), wal_options, wal))
        self.live: dict[str, Any] = {
            "node": node[0],
            "paxos": paxos[0],
            "ready": ready[0],
            "balancer": balancer[0],
            "phi": phi[0],
            "heartbeat": heartbeat[0],
            "wal": wal[0],
            "report": report[0],
        }
        #: Not a handle at all: a buffer whose first word is no kind.
        self.garbage = FFI.new("uint64_t[4]", [0x0123_4567_89AB_CDEF, 0, 0, 0])

    def free(self, freed: set[str]) -> None:
        for kind, handle in self.live.items():
            if kind not in freed:
                check(LIB, getattr(LIB, FREE[kind])(handle))
        self.wal_dir.cleanup()


#: One mistake in one parameter: (parameter position, mistake).
MISTAKES = ["null", "other_kind", "garbage", "misaligned", "huge_length", "not_utf8", "past_end"]


def applicable(slot: str, mistake: str) -> bool:
    if slot in HANDLE_TYPES:
        return mistake in ("null", "other_kind", "garbage", "misaligned")
    if slot.startswith("out:"):
        return mistake == "null"
    if slot in ("buf", "batch", "peers"):
        return mistake in ("null", "huge_length")
    return {"str": mistake in ("null", "not_utf8")}.get(
        slot, slot == "index" and mistake == "past_end"
    )


#: The code each mistake must give.
EXPECTED = {
    "null": "SENATE_CODE_NULL_ARGUMENT",
    "other_kind": "SENATE_CODE_BAD_HANDLE",
    "garbage": "SENATE_CODE_BAD_HANDLE",
    "misaligned": "SENATE_CODE_BAD_HANDLE",
    "huge_length": "SENATE_CODE_INVALID_ARGUMENT",
    "not_utf8": "SENATE_CODE_INVALID_ARGUMENT",
    "past_end": "SENATE_CODE_INVALID_ARGUMENT",
}


def argument(
    slot: str, mistake: str | None, handles: Handles, data: st.DataObject, keep: list[Any]
) -> list[Any]:
    """The C arguments of one parameter: valid when `mistake` is None."""
    if slot in HANDLE_TYPES:
        c_type = HANDLE_TYPES[slot]
        if mistake == "null":
            return [FFI.NULL]
        if mistake == "other_kind":
            other = data.draw(st.sampled_from([k for k in HANDLE_TYPES if k != slot]))
            return [FFI.cast(c_type, handles.live[other])]
        if mistake == "garbage":
            return [FFI.cast(c_type, handles.garbage)]
        if mistake == "misaligned":
            return [FFI.cast(c_type, FFI.cast("char *", handles.garbage) + 1)]
        return [handles.live[slot]]
    if slot.startswith(("out:", "opt:")):
        if mistake == "null" or (slot.startswith("opt:") and data.draw(st.booleans())):
            return [FFI.NULL]
        out = FFI.new(f"{slot[4:]} *")
        keep.append(out)
        return [out]
    if slot == "buf":
        payload = data.draw(st.binary(max_size=64))
        if mistake == "null":
            return [FFI.NULL, data.draw(st.integers(1, 2**20))]
        if mistake == "huge_length":
            return [payload or b"x", data.draw(st.integers(HUGE_LENGTH, 2**64 - 1))]
        return [payload, len(payload)]
    if slot == "batch":
        items = data.draw(st.lists(st.binary(max_size=16), max_size=4))
        pointers = FFI.new("const uint8_t *[]", [FFI.from_buffer(item) for item in items] or 1)
        lens = FFI.new("size_t[]", [len(item) for item in items] or 1)
        keep.append((items, pointers, lens))
        if mistake == "null":
            return [FFI.NULL, lens, data.draw(st.integers(1, 2**20))]
        if mistake == "huge_length":
            return [pointers, lens, data.draw(st.integers(HUGE_LENGTH // 8, 2**64 - 1))]
        return [pointers, lens, len(items)]
    if slot == "peers":
        peers = FFI.new("senate_peer_status[4]")
        keep.append(peers)
        if mistake == "null":
            return [FFI.NULL, data.draw(st.integers(1, 2**20))]
        if mistake == "huge_length":
            return [peers, data.draw(st.integers(HUGE_LENGTH // 8, 2**64 - 1))]
        return [peers, data.draw(st.integers(0, 4))]
    if slot == "str":
        if mistake == "null":
            return [FFI.NULL]
        if mistake == "not_utf8":
            return [b"a\xff\xfe"]
        return [data.draw(st.sampled_from([b"a", b"b", b"zz", "é".encode()]))]
    if slot == "index":
        return [2**63 if mistake == "past_end" else data.draw(st.integers(0, 3))]
    draw = {
        "u64": st.integers(0, 2**64 - 1),
        "u32": st.integers(0, 2**32 - 1),
        "ticks": st.integers(0, 100),
        "f64": st.floats(allow_nan=True, allow_infinity=True),
        "bool": st.booleans(),
    }[slot]
    return [data.draw(draw)]


@given(data=st.data())
def test_one_mistake_gives_its_code_and_nothing_else(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SIGNATURES)))
    slots = SIGNATURES[name]
    choices = [(i, m) for i, slot in enumerate(slots) for m in MISTAKES if applicable(slot, m)]
    if name.endswith("_free"):  # freeing NULL is a no-op (test_freeing_null_is_a_no_op)
        choices.remove((0, "null"))
    mistake_at, mistake = data.draw(st.sampled_from([(-1, None), *choices]))
    keep: list[Any] = []
    args: list[Any] = []
    handles = Handles()
    freed: set[str] = set()
    try:
        for i, slot in enumerate(slots):
            args += argument(slot, mistake if i == mistake_at else None, handles, data, keep)
        code = getattr(LIB, name)(*args)
        if name.endswith("_free") and code == LIB.SENATE_CODE_OK and mistake is None:
            freed.add(slots[0])
        taking = name.endswith(("_node_ready", "_node_ready_without_write"))
        if taking and code == LIB.SENATE_CODE_OK and keep[0][0] != FFI.NULL:
            check(LIB, LIB.senate_ready_free(keep[0][0]))
    finally:  # hypothesis may end an example inside a draw: free the handles in any case
        handles.free(freed)

    assert code in CODES
    assert code != LIB.SENATE_CODE_PANIC, FFI.string(LIB.senate_last_error_message())
    if mistake is not None:
        assert code == getattr(LIB, EXPECTED[mistake]), (name, mistake_at, mistake, code)
        assert LIB.senate_last_error_message() != FFI.NULL


def test_freeing_null_is_a_no_op() -> None:
    for free in FREE.values():
        assert getattr(LIB, free)(FFI.NULL) == LIB.SENATE_CODE_OK


# ---- hostile input to real handles -------------------------------------------------------


def node_call(protocol: str, function: str, *args: Any) -> int:
    """`senate_<protocol>_node_<function>(*args)`."""
    code: int = getattr(LIB, f"senate_{protocol}_node_{function}")(*args)
    return code


def new_node(protocol: str, node_id: int) -> Any:
    config = FFI.new(f"senate_{protocol}_config *")
    check(LIB, getattr(LIB, f"senate_{protocol}_config_default")(node_id, config))
    node = FFI.new(f"senate_{protocol}_node **")
    check(LIB, node_call(protocol, "new", config, [1, 2, 3], 3, node))
    return FFI.gc(node[0], getattr(LIB, f"senate_{protocol}_node_free"))


def cluster_frames(protocol: str) -> list[bytes]:
    """Real frames: what a 3-node cluster sends while it elects and replicates."""
    frames = []
    nodes = {node_id: new_node(protocol, node_id) for node_id in (1, 2, 3)}
    check(LIB, node_call(protocol, "campaign", nodes[1]))
    to, buf, length = FFI.new("uint64_t *"), FFI.new("const uint8_t **"), FFI.new("size_t *")
    info = FFI.new("senate_ready_info *")
    for round_ in range(8):
        if round_ == 4:
            check(LIB, node_call(protocol, "propose", nodes[1], b"payload", 7))
        for node in nodes.values():
            ready = FFI.new("senate_ready **")
            check(LIB, node_call(protocol, "ready", node, ready))
            if ready[0] == FFI.NULL:
                continue
            check(LIB, LIB.senate_ready_get_info(ready[0], info))
            for i in range(info.message_count):
                check(LIB, LIB.senate_ready_message(ready[0], i, to, buf, length))
                frame = bytes(FFI.buffer(buf[0], length[0]))
                frames.append(frame)
                check(LIB, node_call(protocol, "step", nodes[to[0]], frame, len(frame), FFI.NULL))
            check(LIB, node_call(protocol, "advance", node))
            check(LIB, LIB.senate_ready_free(ready[0]))
    assert len(frames) >= 6
    return frames


#: Real frames of each protocol, and frames of the other protocol (a misrouted connection).
FRAMES = {protocol: cluster_frames(protocol) for protocol in ("raft", "paxos")}
STEP_CODES = {
    "SENATE_CODE_OK",
    "SENATE_CODE_MALFORMED_FRAME",
    "SENATE_CODE_INVALID_MESSAGE",
    "SENATE_CODE_UNKNOWN_PEER",
}


@given(
    protocol=st.sampled_from(["raft", "paxos"]),
    frame=st.sampled_from(FRAMES["raft"] + FRAMES["paxos"]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    cut=st.integers(0, 10_000),
    stream=st.booleans(),
)
def test_damaged_frames_are_refused_and_the_node_lives_on(
    protocol: str, frame: bytes, flips: list[tuple[int, int]], cut: int, stream: bool
) -> None:
    damaged = bytearray(frame[: max(1, min(cut, len(frame)))] if cut % 3 == 0 else frame)
    for position, flip in flips:
        damaged[position % len(damaged)] ^= flip
    node = new_node(protocol, 2)
    count = FFI.new("size_t *")
    function = "step_stream" if stream else "step"
    code = node_call(protocol, function, node, bytes(damaged), len(damaged), count)
    assert code in {getattr(LIB, name) for name in STEP_CODES}, FFI.string(
        LIB.senate_last_error_message()
    )
    status = FFI.new(f"senate_{protocol}_status *")
    check(LIB, node_call(protocol, "status", node, status))
    assert status.id == 2


@given(
    timeouts=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    limits=st.lists(st.integers(0, 2**64 - 1), min_size=9, max_size=9),
    voters=st.lists(st.integers(0, 2**64 - 1), max_size=8),
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_any_raft_config_is_made_or_refused_by_field(
    timeouts: tuple[int, int], limits: list[int], voters: list[int], flags: list[bool]
) -> None:
    config = FFI.new("senate_raft_config *")
    check(LIB, LIB.senate_raft_config_default(1, config))
    config.election_timeout_ticks, config.heartbeat_interval_ticks = timeouts
    config.pre_vote, config.check_quorum, config.lease_reads, config.forward_proposals = flags
    fields = [
        "max_entries_per_msg", "max_bytes_per_msg", "max_inflight_msgs", "max_inflight_bytes",
        "max_uncommitted_bytes", "max_committed_entries_per_ready",
        "max_committed_bytes_per_ready", "max_pending_reads", "max_frame_bytes",
    ]  # fmt: skip
    for field, value in zip(fields, limits, strict=True):
        setattr(config, field, value)
    out = FFI.new("senate_raft_node **")
    code = LIB.senate_raft_node_new(config, voters, len(voters), out)
    assert code in (LIB.SENATE_CODE_OK, LIB.SENATE_CODE_INVALID_CONFIG)
    if code == LIB.SENATE_CODE_OK:
        check(LIB, LIB.senate_raft_node_tick(out[0], 30))
        check(LIB, LIB.senate_raft_node_free(out[0]))
    else:
        assert out[0] == FFI.NULL
        assert b"invalid config" in FFI.string(LIB.senate_last_error_message())


floats = st.floats(allow_nan=True, allow_infinity=True)


@given(
    algorithm=st.integers(0, 2**32 - 1),
    values=st.lists(floats, min_size=8, max_size=8),
    vnodes=st.integers(0, 2**32 - 1),
    table_size=st.integers(0, 2**64 - 1),
    weights=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3),
)
def test_any_balancer_options_are_made_or_refused(
    algorithm: int, values: list[float], vnodes: int, table_size: int, weights: list[int]
) -> None:
    options = FFI.new("senate_balancer_options *")
    code = LIB.senate_balancer_options_default(algorithm, options)
    if algorithm > LIB.SENATE_ALGORITHM_BOUNDED_LOAD_HASH:
        assert code == LIB.SENATE_CODE_INVALID_ARGUMENT
        options.algorithm = algorithm
    fields = [
        "panic_threshold", "slow_start_ms", "slow_start_aggression",
        "slow_start_min_weight_share", "bias", "decay_ms", "initial_latency_ms", "epsilon",
    ]  # fmt: skip
    for field, value in zip(fields, values, strict=True):
        setattr(options, field, value)
    # Keep the build small: a huge vnode count or table is refused or takes its time.
    options.vnodes = vnodes % 1000
    options.table_size = table_size if table_size > 2**40 else table_size % 100_000
    strings = [FFI.new("char[]", n) for n in (b"a", b"b", b"c")]  # alive while names is used
    names = FFI.new("char *[]", strings)
    out = FFI.new("senate_balancer **")
    code = LIB.senate_balancer_new(options, names, weights, 3, out)
    valid = {LIB.SENATE_CODE_OK, LIB.SENATE_CODE_INVALID_CONFIG, LIB.SENATE_CODE_INVALID_ARGUMENT}
    assert code in valid, FFI.string(LIB.senate_last_error_message())
    if code != LIB.SENATE_CODE_OK:
        assert out[0] == FFI.NULL
        return
    index = FFI.new("size_t *")
    for key in range(20):
        code = LIB.senate_balancer_pick_key_u64(out[0], key, index)
        assert code in (LIB.SENATE_CODE_OK, LIB.SENATE_CODE_NO_BACKEND)
    check(LIB, LIB.senate_balancer_free(out[0]))


@pytest.mark.parametrize("count", [1, 2**61, 2**63, 2**64 - 1])
def test_impossible_counts_of_arrays_are_refused(count: int) -> None:
    config = FFI.new("senate_raft_config *")
    check(LIB, LIB.senate_raft_config_default(1, config))
    out = FFI.new("senate_raft_node **")
    voters = FFI.NULL if count == 1 else FFI.new("uint64_t[1]", [1])
    code = LIB.senate_raft_node_new(config, voters, count, out)
    expected = LIB.SENATE_CODE_NULL_ARGUMENT if count == 1 else LIB.SENATE_CODE_INVALID_ARGUMENT
    assert code == expected
