"""Nodes of the C ABI driven from Python through cffi: `CNode` (a Raft or Multi-Paxos node,
over an in-memory log or a `senate_wal`), and `run_until`, which carries out every Ready of a
cluster of them in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capi_library import check


class CNode:
    """A Raft or Multi-Paxos node through the C ABI: each method is one C call (or a few for
    `ready`). The two node types have the same functions, named after the protocol."""

    def __init__(
        self,
        capi: tuple[Any, Any],
        node_id: int,
        voters: list[int],
        protocol: str = "raft",
        wal: Any = None,
        **config: Any,
    ) -> None:
        self.ffi, self.lib = capi
        self.protocol = protocol
        #: The log this node persists through (a `senate_wal *`), or None: an in-memory log.
        self.wal = wal
        cfg = self.ffi.new(f"senate_{protocol}_config *")
        check(self.lib, self.c("config_default", node_id, cfg, prefix=f"senate_{protocol}_"))
        for field, value in config.items():
            setattr(cfg, field, value)
        handle = self.ffi.new(f"senate_{protocol}_node **")
        if wal is None:
            check(self.lib, self.c("new", cfg, voters, len(voters), handle))
        else:
            check(self.lib, self.c("new_from_wal", cfg, voters, len(voters), wal, handle))
        self.handle = self.ffi.gc(handle[0], getattr(self.lib, f"senate_{protocol}_node_free"))

    def c(self, function: str, *args: Any, prefix: str = "") -> int:
        """Calls `senate_<protocol>_node_<function>(*args)` (or `<prefix><function>`)."""
        name = f"{prefix or f'senate_{self.protocol}_node_'}{function}"
        code: int = getattr(self.lib, name)(*args)
        return code

    def tick(self, n: int = 1) -> None:
        check(self.lib, self.c("tick", self.handle, n))

    def step(self, frames: bytes) -> int:
        stepped = self.ffi.new("size_t *")
        check(self.lib, self.c("step", self.handle, frames, len(frames), stepped))
        return int(stepped[0])

    def propose(self, data: bytes) -> None:
        check(self.lib, self.c("propose", self.handle, data, len(data)))

    def propose_batch(self, batch: list[bytes]) -> None:
        buffers = [self.ffi.from_buffer(item) for item in batch]
        datas = self.ffi.new("const uint8_t *[]", buffers)
        lens = self.ffi.new("size_t[]", [len(item) for item in batch])
        check(self.lib, self.c("propose_batch", self.handle, datas, lens, len(batch)))

    def read_index(self, request_id: int) -> None:
        check(self.lib, self.c("read_index", self.handle, request_id))

    def advance(self) -> None:
        check(self.lib, self.c("advance", self.handle))

    def status(self) -> Any:
        status = self.ffi.new(f"senate_{self.protocol}_status *")
        check(self.lib, self.c("status", self.handle, status))
        return status

    def commit(self) -> int:
        status = self.status()
        return int(status.commit if self.protocol == "raft" else status.chosen)

    def ready(self) -> dict[str, Any] | None:
        """The parts of the next Ready as Python values (copied), or None. A node over a log
        has the Ready written to it first (so its persisted messages may go)."""
        ffi, lib = self.ffi, self.lib
        out = ffi.new("senate_ready **")
        check(lib, self.c("ready", self.handle, out))
        if out[0] == ffi.NULL:
            return None
        ready = ffi.gc(out[0], lib.senate_ready_free)
        if self.wal is not None:
            check(lib, lib.senate_wal_write(self.wal, ready))
        info = ffi.new("senate_ready_info *")
        check(lib, lib.senate_ready_get_info(ready, info))
        to, frames, length = ffi.new("uint64_t *"), ffi.new("const uint8_t **"), ffi.new("size_t *")
        messages = []
        for i in range(info.message_count):
            check(lib, lib.senate_ready_message(ready, i, to, frames, length))
            messages.append((int(to[0]), bytes(ffi.buffer(frames[0], length[0]))))
        persisted_messages = []
        for i in range(info.persisted_message_count):
            check(lib, lib.senate_ready_persisted_message(ready, i, to, frames, length))
            persisted_messages.append((int(to[0]), bytes(ffi.buffer(frames[0], length[0]))))
        entry = ffi.new("senate_entry *")
        committed = []
        for i in range(info.committed_count):
            check(lib, lib.senate_ready_committed(ready, i, entry))
            data = b"" if entry.len == 0 else bytes(ffi.buffer(entry.data, entry.len))
            committed.append((int(entry.index), int(entry.term), data, bool(entry.is_noop)))
        request_id, index = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        read_states = []
        for i in range(info.read_state_count):
            check(lib, lib.senate_ready_read_state(ready, i, request_id, index))
            read_states.append((int(request_id[0]), int(index[0])))
        return {
            "role": int(info.role) if info.soft_state_changed else None,
            "hard_state": (info.term, info.vote, info.commit) if info.hard_state_changed else None,
            "must_persist": bool(info.must_persist),
            "persisted_messages": persisted_messages,
            "committed_index": info.committed_index,
            "messages": messages,
            "committed": committed,
            "read_states": read_states,
        }


def run_until(
    nodes: dict[int, CNode], done: Callable[[], bool], applied: dict[int, list[bytes]], what: str
) -> list[tuple[int, int]]:
    """Carries out every Ready (persist when over a log, send, apply, advance) and ticks when
    idle, until `done()`; returns the read states seen. Fails after a bounded number of
    ticks."""
    reads: list[tuple[int, int]] = []
    for _ in range(2_000):
        busy = True
        while busy:
            busy = False
            for node_id, node in nodes.items():
                while (ready := node.ready()) is not None:
                    busy = True
                    # An in-memory log is persisted before the Ready is handed out.
                    assert node.wal is not None or not ready["persisted_messages"]
                    for to, frames in ready["messages"] + ready["persisted_messages"]:
                        assert nodes[to].step(frames) >= 1
                    applied[node_id] += [
                        data for _, _, data, noop in ready["committed"] if not noop
                    ]
                    reads += ready["read_states"]
                    node.advance()
        if done():
            return reads
        for node in nodes.values():
            node.tick()
    raise AssertionError(f"not reached within 2,000 ticks: {what}")


def leader_of(nodes: dict[int, CNode], capi: tuple[Any, Any]) -> int | None:
    leaders = [i for i, node in nodes.items() if node.status().role == capi[1].SENATE_ROLE_LEADER]
    assert len(leaders) <= 1
    return leaders[0] if leaders else None
