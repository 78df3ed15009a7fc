"""Hypothesis drives a 3-node cluster through the Python API with random ticks, deliveries,
drops, duplicates, crashes, compactions and proposals, and checks agreement throughout."""

from __future__ import annotations

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import senate
from cluster import Cluster, InFlight

NODE = st.sampled_from([1, 2, 3])
#: Ticks within which a healed cluster must elect a leader and commit a proposal
#: (10 election timeouts, as the liveness property of the issue asks).
HEAL_BOUND_TICKS = 10 * 2 * 10


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cluster = Cluster(3)
        self.proposed: list[bytes] = []
        self.counter = 0
        #: (term, leader) pairs seen: at most one leader per term (Election Safety).
        self.leaders: dict[int, int] = {}

    @initialize(seed=st.integers(min_value=0, max_value=2**32))
    def start(self, seed: int) -> None:
        self.cluster = Cluster(3, seed=seed)

    # --- time and the network ------------------------------------------------------------

    @rule(node=NODE, ticks=st.integers(min_value=1, max_value=12))
    def tick(self, node: int, ticks: int) -> None:
        self.cluster.nodes[node].tick(ticks)
        self.cluster.handle_ready(node)

    @rule(ticks=st.integers(min_value=1, max_value=5))
    def tick_all(self, ticks: int) -> None:
        for _ in range(ticks):
            for node_id in self.cluster.ids:
                self.cluster.nodes[node_id].tick()
                self.cluster.handle_ready(node_id)

    @rule(
        ticks=st.integers(min_value=1, max_value=30),
        fates=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=16),
    )
    def run(self, ticks: int, fates: list[int]) -> None:
        """Ticks every node `ticks` times; after each tick every message in flight meets the
        next fate in `fates` (cycling): 0-6 delivered, 7 dropped, 8 duplicated, 9 held back."""
        fate_at = 0
        for _ in range(ticks):
            for node_id in self.cluster.ids:
                self.cluster.nodes[node_id].tick()
                self.cluster.handle_ready(node_id)
            batch, self.cluster.inflight = self.cluster.inflight, []
            for message in batch:
                fate = fates[fate_at % len(fates)]
                fate_at += 1
                if fate <= 6:
                    self.cluster.deliver(message)
                elif fate == 8:
                    self.cluster.deliver(message)
                    self.cluster.deliver(message)
                elif fate == 9:
                    self.cluster.inflight.append(message)

    @rule(node=NODE)
    def isolate(self, node: int) -> None:
        self.cluster.isolated.add(node)

    @rule()
    def heal(self) -> None:
        self.cluster.isolated.clear()

    @precondition(lambda self: bool(self.cluster.inflight))
    @rule(pick=st.integers(min_value=0))
    def deliver(self, pick: int) -> None:
        message = self.cluster.inflight.pop(pick % len(self.cluster.inflight))
        self.cluster.deliver(message)

    @precondition(lambda self: bool(self.cluster.inflight))
    @rule()
    def deliver_all(self) -> None:
        self.cluster.deliver_all()

    @precondition(lambda self: bool(self.cluster.inflight))
    @rule(pick=st.integers(min_value=0))
    def drop(self, pick: int) -> None:
        self.cluster.inflight.pop(pick % len(self.cluster.inflight))

    @precondition(lambda self: bool(self.cluster.inflight))
    @rule(pick=st.integers(min_value=0))
    def duplicate(self, pick: int) -> None:
        message = self.cluster.inflight[pick % len(self.cluster.inflight)]
        self.cluster.inflight.append(InFlight(message.src, message.dst, message.frames))

    @rule(node=NODE)
    def crash_restart(self, node: int) -> None:
        self.cluster.crash_restart(node)
        self.cluster.handle_ready(node)

    # --- the application -----------------------------------------------------------------

    @rule(node=NODE, batch=st.integers(min_value=1, max_value=3))
    def propose(self, node: int, batch: int) -> None:
        items = []
        for _ in range(batch):
            self.counter += 1
            items.append(f"op-{self.counter}".encode())
        try:
            if batch == 1:
                self.cluster.nodes[node].propose(items[0])
            else:
                self.cluster.nodes[node].propose_batch(items)
        except (senate.NotLeader, senate.ProposalDropped):
            return
        self.proposed += items
        self.cluster.handle_ready(node)

    @rule(node=NODE)
    def compact(self, node: int) -> None:
        app = self.cluster.apps[node]
        raft_node = self.cluster.nodes[node]
        snapshot_index = raft_node.status().first_index - 1
        if app.applied_index > snapshot_index:
            raft_node.compact(app.applied_index, app.snapshot_bytes(app.applied_index))
        elif app.applied_index > 0:
            with pytest.raises(senate.SnapshotOutOfDate):
                raft_node.compact(app.applied_index, app.snapshot_bytes(app.applied_index))

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def committed_logs_agree(self) -> None:
        self.cluster.assert_agreement()

    @invariant()
    def applied_data_was_proposed(self) -> None:
        proposed = set(self.proposed)
        for app in self.cluster.apps.values():
            # (A duplicated forwarded proposal may be appended twice: forwarding is
            # at-least-once. What must never happen is data nobody proposed.)
            assert set(app.data.values()) <= proposed

    @invariant()
    def one_leader_per_term(self) -> None:
        for node_id in self.cluster.ids:
            status = self.cluster.nodes[node_id].status()
            if status.role == "leader":
                other = self.leaders.setdefault(status.term, node_id)
                assert other == node_id, f"nodes {other} and {node_id} lead term {status.term}"

    def teardown(self) -> None:
        """Heal: everything delivered from now on. Within the bound a leader is elected and a
        proposal made in its term commits on every node; all proposals applied anywhere are
        applied everywhere. (A proposal made at a leader that is deposed before replicating it
        may be lost, as in any Raft: the marker is proposed again in each new leader term, the
        way a client retries.)"""
        cluster = self.cluster
        cluster.isolated.clear()
        cluster.settle()
        marker = b"heal marker"
        proposed_in_term = None
        for _ in range(HEAL_BOUND_TICKS + 1):
            if cluster.all_applied(marker):
                break
            leader = cluster.leader()
            if leader is not None:
                term = cluster.nodes[leader].status().term
                if term != proposed_in_term:
                    try:
                        cluster.nodes[leader].propose(marker)
                        proposed_in_term = term
                    except (senate.NotLeader, senate.ProposalDropped):
                        pass
            cluster.tick()
        else:
            raise AssertionError(f"marker not applied everywhere in {HEAL_BOUND_TICKS} ticks")
        cluster.assert_agreement()

        def logs() -> list[list[bytes]]:
            return [cluster.apps[i].values() for i in cluster.ids]

        # A marker proposed again in a later term may commit just as the first one is
        # applied everywhere; followers learn that commit at the leader's next tick at the
        # latest. Everything applied anywhere is applied everywhere within the bound.
        cluster.run_until(lambda: logs()[0] == logs()[1] == logs()[2], HEAL_BOUND_TICKS)
        assert logs()[0] == logs()[1] == logs()[2]
        cluster.assert_agreement()
        event(f"entries applied: {min(len(logs()[0]) // 10 * 10, 50)}+")
        event(f"snapshots restored: {sum(cluster.snapshots_restored.values()) > 0}")


ClusterMachine.TestCase.settings = settings(settings(), stateful_step_count=60)
TestClusterMachine = ClusterMachine.TestCase
