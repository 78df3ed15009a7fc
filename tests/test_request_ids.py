"""Request ids: a replicated call named by the caller runs at most once, however often it is
retried (`senate.runtime.requests`, docs/exactly-once.md). A real 3-node cluster in one
process (TCP on 127.0.0.1, durable logs in temp dirs) on both protocols, and the table's
determinism as a property. Waits are conditions with deadlines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import free_ports
from senate import CallTimeout, Node, RequestFailed, StateMachine, linearizable, replicated
from senate.runtime.envelope import MAX_REQUEST_ID_BYTES, keyed_entry
from senate.runtime.requests import RequestTable
from waiting import until


class Ledger(StateMachine):
    def __init__(self) -> None:
        self.entries: list[Any] = []

    @replicated
    def add(self, item: Any) -> int:
        self.entries.append(item)
        return len(self.entries)

    @replicated
    def fail(self, message: str) -> None:
        raise ValueError(message)

    @linearizable
    def size(self) -> int:
        return len(self.entries)


def test_a_timed_out_call_retried_with_its_id_runs_once(tmp_path: Path, protocol: str) -> None:
    async def main() -> None:
        peers = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(free_ports(3))}

        def new_node(node_id: int) -> tuple[Node, Ledger]:
            ledger = Ledger()
            node = Node(
                ledger, id=node_id, peers=peers, data_dir=str(tmp_path / str(node_id)),
                protocol=protocol, call_timeout_s=10.0,
            )  # fmt: skip
            return node, ledger

        pairs = {i: new_node(i) for i in peers}
        for node, _ in pairs.values():
            await node.start()
        try:
            leader = await until(
                "a leader",
                lambda: next((i for i, (n, _) in pairs.items() if n.role == "leader"), None),
            )
            node, ledger = pairs[leader]
            assert await ledger.add("warm-up") == 1
            # Without its followers the leader cannot commit: the call times out, but its
            # entry is in the leader's log and commits once they are back.
            followers = [i for i in pairs if i != leader]
            for i in followers:
                await pairs[i][0].stop()
            with pytest.raises(CallTimeout) as timed_out:
                await ledger.add("payment-17", timeout=0.3, request_id="order-17")
            assert timed_out.value.request_id == "order-17"
            for i in followers:
                pairs[i] = new_node(i)
                await pairs[i][0].start()
            # The retry, with the same id, from another node: the outcome of the one run.
            other_node, other = pairs[followers[0]]
            assert await other.add("payment-17", request_id="order-17") == 2
            assert await ledger.add("payment-17", request_id=b"order-17") == 2
            # A failure is an outcome too: the retry raises it again, nothing runs twice.
            for _ in range(2):
                with pytest.raises(ValueError, match="declined"):
                    await other.fail("declined", request_id="card-3")
            # Calls without an id are not affected.
            assert await ledger.add("no id") == 3
            for i, (_, replica) in pairs.items():
                await until(f"node {i} to apply", lambda r=replica: len(r.entries) == 3)  # type: ignore[misc]
                assert replica.entries == ["warm-up", "payment-17", "no id"]
            # The ids are in the snapshots: a follower restarted from its snapshot alone
            # still answers the retry from the kept outcome.
            other_node.snapshot_now()
            await until("the snapshot", lambda: other_node.snapshot_index >= 4)
            await other_node.stop()
            pairs[followers[0]] = new_node(followers[0])
            restarted, ledger_again = pairs[followers[0]]
            await restarted.start()
            assert restarted.applied_index >= 4
            assert len(ledger_again.entries) == 3
            assert await ledger_again.add("payment-17", request_id="order-17") == 2
            with pytest.raises(RequestFailed, match="ValueError: declined") as failed:
                await ledger_again.fail("declined", request_id="card-3")
            assert failed.value.type_name == "ValueError"
            assert await ledger_again.size() == 3
        finally:
            for node, _ in pairs.values():
                await node.stop()

    asyncio.run(main())


def test_request_ids_are_checked_and_reserved() -> None:
    node = Node(Ledger(), id=1, peers={1: "127.0.0.1:1"})

    def on_done(_result: Any, _error: BaseException | None) -> None:
        raise AssertionError("never answered here")

    for bad in ("", b"x" * (MAX_REQUEST_ID_BYTES + 1)):
        with pytest.raises(ValueError, match="a request id has 1 to 255 bytes"):
            node._calls.add(b"c", on_done, 0, None, 0.0, bad)
    with pytest.raises(TypeError, match="'request_id' is reserved"):

        class Bad(StateMachine):
            @replicated
            def put(self, request_id: str) -> None: ...


# --- the table: deterministic, bounded, in snapshots ----------------------------------------


def entry(rid: bytes, value: int) -> bytes:
    return keyed_entry(1, value, 0, rid, msgpack.packb(value))


@settings(max_examples=200, deadline=None)
@given(
    calls=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3)), min_size=1, max_size=80),
    restart_at=st.integers(0, 80),
    max_kept=st.integers(1, 8),
    retention=st.integers(1, 12),
)
def test_replicas_keep_the_same_ids_and_run_each_once_within_the_bounds(
    calls: list[tuple[int, int]], restart_at: int, max_kept: int, retention: int
) -> None:
    """Two replicas applying the same keyed entries at the same log positions, one restored
    from the other's snapshot midway, give the same outcomes; an id runs again only once it
    left the bounds."""
    runs: list[int] = []

    def apply(command: bytes) -> int:
        value: int = msgpack.unpackb(command)
        runs.append(value)
        if value % 7 == 0:
            raise ValueError(f"value {value}")
        return value * 10

    a, b = RequestTable(max_kept, retention), RequestTable(max_kept, retention)
    index = 0
    last_run: dict[bytes, int] = {}  # rid -> index of the entry that ran it
    for n, (key, step) in enumerate(calls):
        index += step
        rid = b"r%d" % key
        outcomes = []
        for table in (a, b):
            before = len(runs)
            result, failed = table.apply_once(entry(rid, n), index, [apply])
            ran = len(runs) > before
            # A restored failure is a RequestFailed naming the type: compare the messages.
            outcomes.append((ran, failed, str(result).split(": ", 1)[-1] if failed else result))
        assert outcomes[0] == outcomes[1]
        ran = outcomes[0][0]
        within = rid in last_run and last_run[rid] + retention > index
        if not ran:
            assert within, "an outcome is kept only within retention"
        elif max_kept >= 6:  # every id fits: within retention an id never runs twice
            assert not within
        if ran:
            last_run[rid] = index
        if n == restart_at:
            b = RequestTable(max_kept, retention)
            b.restore(a.capture()())
        assert len(a) <= max_kept
