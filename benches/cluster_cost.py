"""Where a local cluster's time goes under redis-benchmark: CPU and log writes per node.

    python benches/cluster_cost.py [--nodes 3] [--clients 50] [--pipeline 1]
                                   [--requests 200000] [--rounds 1] [--json FILE]

Starts a fresh local cluster of `senate serve` processes (fsync on) per round, runs
redis-benchmark `-t set` against the leader with `benches/kv_cluster.py`'s workload (100-byte
values over 100,000 keys), and prints, besides SET/s and p50:

- per node, the CPU it spent per SET (utime + stime from /proc, every thread, so the log
  writer's fsyncs too), its log writes, SETs per write and the mean time a write took
  (from the node's `senate_persist_seconds` on its metrics endpoint);
- the nodes' CPU per SET together, and what SET/s the nodes alone would allow on this
  machine's cores (redis-benchmark takes its share of the same cores).

It explains `benches/kv_cluster.py`'s figures: at `-c 50` without pipelining every process
together spends several times the CPU per SET of `-P 16`, and the cores are busy; at 5 nodes
the log writes of more processes queue on one disk (see `benches/disk_probe.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from senate.launcher import LocalCluster, LocalNode, free_base_port

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.kv_cluster import leader_port, metric_samples, redis_benchmark, write_rounds_json

#: The node's samples read before and after the run (of its write-latency histogram).
PERSIST_SAMPLES = ("senate_persist_seconds_count", "senate_persist_seconds_sum")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass
class NodeCost:
    id: int
    role: str
    cpu_us_per_set: float
    log_writes: int
    sets_per_write: float
    write_ms_mean: float


@dataclass
class RoundCost:
    set_ops_per_s: float
    latency_ms_p50: float
    nodes: list[NodeCost]
    nodes_cpu_us_per_set: float
    #: SET/s if the nodes alone had every core of the machine.
    nodes_bound_ops_per_s: float


def cpu_ticks(pid: int) -> int:
    """utime + stime of every thread of `pid`, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def persist_series(node: LocalNode) -> dict[str, float]:
    """The node's `PERSIST_SAMPLES`, scraped from its metrics endpoint."""
    return {s.name: s.value for s in metric_samples(node) if s.name in PERSIST_SAMPLES}


def one_round(nodes: int, clients: int, pipeline: int, requests: int) -> RoundCost:
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(nodes=nodes, data_dir=Path(tmp), base_port=free_base_port(nodes)) as c,
    ):
        port, leader_pid = leader_port(c)
        before = {n.id: (cpu_ticks(n.pid or 0), persist_series(n)) for n in c.nodes}
        run = redis_benchmark("senate", port, "set", clients, pipeline, requests)
        after = {n.id: (cpu_ticks(n.pid or 0), persist_series(n)) for n in c.nodes}
        costs = []
        for n in c.nodes:
            (cpu0, s0), (cpu1, s1) = before[n.id], after[n.id]
            writes = int(s1["senate_persist_seconds_count"] - s0["senate_persist_seconds_count"])
            write_s = s1["senate_persist_seconds_sum"] - s0["senate_persist_seconds_sum"]
            costs.append(
                NodeCost(
                    id=n.id,
                    role="leader" if n.pid == leader_pid else "follower",
                    cpu_us_per_set=(cpu1 - cpu0) / CLOCK_TICKS_PER_S / requests * 1e6,
                    log_writes=writes,
                    sets_per_write=requests / writes if writes else 0.0,
                    write_ms_mean=write_s / writes * 1e3 if writes else 0.0,
                )
            )
    total = sum(cost.cpu_us_per_set for cost in costs)
    cores = os.cpu_count() or 1
    return RoundCost(
        run.ops_per_s, run.latency_ms_p50, costs, total, cores * 1e6 / total if total else 0.0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rounds = []
    for k in range(args.rounds):
        started = time.monotonic()
        r = one_round(args.nodes, args.clients, args.pipeline, args.requests)
        rounds.append(r)
        print(
            f"round {k + 1}: {r.set_ops_per_s:,.0f} SET/s, p50 {r.latency_ms_p50:.3f} ms"
            f" ({time.monotonic() - started:.0f} s)"
        )
        for cost in sorted(r.nodes, key=lambda c: c.role != "leader"):
            print(
                f"  node {cost.id} {cost.role:<8} {cost.cpu_us_per_set:6.2f} us CPU/SET"
                f"  {cost.log_writes:6,} writes  {cost.sets_per_write:6.1f} SET/write"
                f"  {cost.write_ms_mean:6.3f} ms/write"
            )
        print(
            f"  nodes together {r.nodes_cpu_us_per_set:.2f} us CPU/SET:"
            f" {r.nodes_bound_ops_per_s:,.0f} SET/s if they had all {os.cpu_count()} cores"
        )
    write_rounds_json(args.json, rounds)


if __name__ == "__main__":
    main()
