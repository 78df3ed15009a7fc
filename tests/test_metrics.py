"""Prometheus metrics: a 3-node cluster in this process records into one `NodeMetrics` per
node, each scraped over HTTP."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from cluster import free_ports
from senate import Node, ReplCounter
from senate.runtime.metrics import MetricsServer, NodeMetrics
from test_runtime import peers_of
from waiting import until


def scrape(address: tuple[str, int]) -> dict[str, float]:
    """The samples of an endpoint as {"name{label=value,...}": value}."""
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def test_a_cluster_records_its_progress_and_serves_it(tmp_path: Path, protocol: str) -> None:
    async def main() -> None:
        peers = peers_of(free_ports(3))
        counters = [ReplCounter() for _ in range(3)]
        metrics = [NodeMetrics(i + 1, protocol=protocol) for i in range(3)]
        nodes = [
            Node(counters[i], id=i + 1, peers=peers, data_dir=str(tmp_path / str(i + 1)),
                 metrics=metrics[i], snapshot_entries=10, protocol=protocol)
            for i in range(3)
        ]  # fmt: skip
        # The metrics endpoints take ports the OS picks: after the nodes have bound theirs,
        # or one of them may take a node's port (free_ports only saw it free).
        servers: list[MetricsServer] = []
        try:
            for node in nodes:
                await node.start()
            servers = [m.start_http("127.0.0.1:0") for m in metrics]
            await until("a leader", lambda: any(n.role == "leader" for n in nodes))
            for _ in range(20):
                await counters[0].add(1)
            await until("all applied", lambda: all(c.value == 20 for c in counters))
            await until("a snapshot each", lambda: all(n.snapshot_index >= 10 for n in nodes))
            leader = next(n for n in nodes if n.role == "leader")
            scraped = [await asyncio.to_thread(scrape, s.address) for s in servers]
        finally:
            for node in nodes:
                await node.stop()
            for server in servers:
                server.close()

        for i, samples in enumerate(scraped):
            label = f"node={i + 1}"
            # Every node committed and applied the 20 commands (and a Raft leader's no-op).
            committed = 20 + (protocol == "raft")
            assert samples[f"senate_commit_index{{{label}}}"] >= committed
            assert samples[f"senate_applied_index{{{label}}}"] >= committed
            # Raft's first term is 1; a Paxos ballot's first round is 0.
            assert samples[f"senate_term{{{label}}}"] >= (1 if protocol == "raft" else 0)
            assert samples[f"senate_node_info{{{label},protocol={protocol}}}"] == 1
            assert samples[f"senate_persist_seconds_count{{{label}}}"] > 0
            assert samples[f"senate_ready_entries_count{{{label}}}"] > 0
            assert samples[f"senate_leader_changes_total{{{label}}}"] >= 1
            # The tick timer ran (the loop lag is observed once per tick) and every node
            # snapshotted (every 10 entries here) or, behind, installed the leader's.
            assert samples[f"senate_loop_lag_seconds_count{{{label}}}"] > 0
            taken = samples[f"senate_snapshots_total{{{label}}}"]
            assert taken + samples[f"senate_snapshots_installed_total{{{label}}}"] >= 1
            is_leader = samples[f"senate_is_leader{{{label}}}"]
            assert is_leader == (1.0 if nodes[i] is leader else 0.0)
            # Followers talk to the leader only; the leader to every follower.
            talks_to = {1, 2, 3} - {i + 1} if nodes[i] is leader else {leader.id}
            for peer in talks_to:
                assert samples[f"senate_peer_bytes_sent_total{{{label},peer={peer}}}"] > 0
                assert samples[f"senate_peer_bytes_received_total{{{label},peer={peer}}}"] > 0
        # The 20 commands were proposed at node 1 (forwarded by the core if it follows).
        assert scraped[0]["senate_proposals_total{node=1}"] == 20
        assert scraped[1]["senate_proposals_total{node=2}"] == 0

    asyncio.run(main())


def test_nodes_without_metrics_record_nothing_and_registries_do_not_clash() -> None:
    first, second = NodeMetrics(1), NodeMetrics(1)  # same id, separate registries
    first.on_proposals(3)
    first.on_bytes_sent(2, 100)
    first.on_bytes_sent(2, 50)
    assert first.registry.get_sample_value("senate_proposals_total", {"node": "1"}) == 3
    assert second.registry.get_sample_value("senate_proposals_total", {"node": "1"}) == 0
    sent = first.registry.get_sample_value(
        "senate_peer_bytes_sent_total", {"node": "1", "peer": "2"}
    )
    assert sent == 150
