"""Writes under load while a cluster holding many keys snapshots: latency, loop lag, elections.

    python benches/snapshot_load.py [--keys 1000000] [--requests 3000000] [--rounds 1]
                                    [--json FILE]

Starts a fresh local 3-node cluster (fsync on) per round, loads `--keys` keys of 100 bytes
with `redis-cli --pipe` (as `benches/kv_cluster.py` does), then runs redis-benchmark
`-t set -c 50 -P 16` over the same keys: at about 100,000 SET/s every node snapshots its
whole store several times during the run (`snapshot_entries` and the log's bytes decide when).
It prints, per round:

- SET/s and redis-benchmark's latency p50, p99 and max (a snapshot that holds applies, or a
  loop that stalls, shows in the max);
- the snapshots the nodes took during the run, and the term before and after it (an election
  raises it);
- the nodes' event-loop lag (`senate_loop_lag_seconds`, how late each tick timer ran): the
  ticks later than 50, 100 and 150 ms (the election timeout at the defaults).
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from senate.launcher import LocalCluster, LocalNode, free_base_port

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.kv_cluster import (
    cluster_term,
    leader_port,
    load_keys,
    metric_samples,
    write_rounds_json,
)

#: Loop lag bounds reported, in seconds (buckets of `senate_loop_lag_seconds`).
LAG_BOUNDS_S = (0.05, 0.1, 0.15)


@dataclass
class Round:
    set_ops_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float
    snapshots: int
    term_before: int
    term_after: int
    #: Ticks later than each of `LAG_BOUNDS_S`, all nodes together.
    late_ticks: dict[str, int]


def node_samples(node: LocalNode) -> dict[str, float]:
    """The node's snapshot count and loop-lag buckets, from its metrics endpoint."""
    samples: dict[str, float] = {}
    for sample in metric_samples(node):
        if sample.name == "senate_snapshots_total":
            samples["snapshots"] = sample.value
        elif sample.name == "senate_loop_lag_seconds_bucket":
            samples[f"le {sample.labels['le']}"] = sample.value
        elif sample.name == "senate_loop_lag_seconds_count":
            samples["ticks"] = sample.value
    return samples


def one_round(keys: int, requests: int) -> Round:
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(nodes=3, data_dir=Path(tmp), base_port=free_base_port(3)) as cluster,
    ):
        port, _ = leader_port(cluster)
        load_keys(port, keys, 100)
        term_before = cluster_term(port)
        before = [node_samples(n) for n in cluster.nodes]
        args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set"]
        args += ["-c", "50", "-P", "16", "-n", str(requests), "-r", str(keys), "-d", "100", "--csv"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"redis-benchmark exited {done.returncode}: {done.stderr[-2000:]}")
        after = [node_samples(n) for n in cluster.nodes]
        term_after = cluster_term(port)
    (row,) = csv.DictReader(io.StringIO(done.stdout))

    def delta(name: str) -> int:
        return int(sum(a.get(name, 0) - b.get(name, 0) for a, b in zip(after, before, strict=True)))

    late_ticks = {
        f"over_{int(bound * 1000)}_ms": delta("ticks") - delta(f"le {bound}")
        for bound in LAG_BOUNDS_S
    }
    return Round(
        set_ops_per_s=float(row["rps"]),
        latency_ms_p50=float(row["p50_latency_ms"]),
        latency_ms_p99=float(row["p99_latency_ms"]),
        latency_ms_max=float(row["max_latency_ms"]),
        snapshots=delta("snapshots"),
        term_before=term_before,
        term_after=term_after,
        late_ticks=late_ticks,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rounds = []
    for k in range(args.rounds):
        started = time.monotonic()
        r = one_round(args.keys, args.requests)
        rounds.append(r)
        late = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in r.late_ticks.items())
        print(
            f"round {k + 1} ({time.monotonic() - started:.0f} s): {r.set_ops_per_s:,.0f} SET/s,"
            f" p50 {r.latency_ms_p50:.1f} ms, p99 {r.latency_ms_p99:.1f} ms,"
            f" max {r.latency_ms_max:.1f} ms | {r.snapshots} snapshots,"
            f" term {r.term_before} -> {r.term_after} | ticks late: {late}"
        )
    write_rounds_json(args.json, rounds)


if __name__ == "__main__":
    main()
