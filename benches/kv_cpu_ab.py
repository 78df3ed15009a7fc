"""Two builds of the key-value service against each other: CPU time per request of the node
processes, and ops/s, in alternating rounds.

    python benches/kv_cpu_ab.py --base DIR [--new DIR] [--rounds 10] [--test get]
        [--pipeline 16] [--clients 50] [--requests 300000]

`--base` and `--new` are source trees (worktrees) whose `python/senate` holds a built
extension (`_core.abi3.so`); `--new` defaults to this tree. Each round starts a fresh 3-node
cluster (fsync on) of one build, fills it with redis-benchmark's SET -P 16, then runs the
measured redis-benchmark test under `perf stat -e task-clock` of every node process. The
builds alternate round by round (base first), so that a shared machine's drift falls on
both alike.

Why CPU time per request: on a shared 2-core machine ops/s swing by 30% and more from round
to round (seen here: redis-server's own ratio spans 0.72 to 1.22 between rounds), while the
CPU time the nodes spend per request moves much less. This machine's virtual CPUs expose no
hardware counters (`perf stat -e instructions` is "not supported"), so task-clock it is;
callgrind (`benches/bench_kv_path.py`) counts instructions of the store's path alone.

Prints each round and the medians of the new ÷ base ratios, per round.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_round(test: str, clients: int, pipeline: int, requests: int) -> dict[str, float]:
    """Runs in the build under test (its `python/senate` first on the path)."""
    # Run as a script from anywhere: the repository's root holds the `benches` package.
    sys.path.insert(0, str(HERE.parent))
    from benches.kv_cluster import leader_port, redis_benchmark
    from senate.launcher import LocalCluster, free_base_port

    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(nodes=3, data_dir=Path(tmp), base_port=free_base_port(3)) as cluster,
    ):
        port, leader_pid = leader_port(cluster)
        redis_benchmark("fill", port, "set", 50, 16, 200_000)
        pids = [str(node.pid) for node in cluster.nodes]
        out = Path(tmp) / "perf.csv"
        perf_cmd = ["perf", "stat", "-x", ",", "-e", "task-clock", "--per-thread"]
        perf = subprocess.Popen([*perf_cmd, "-p", ",".join(pids), "-o", str(out)])
        run = redis_benchmark("measured", port, test, clients, pipeline, requests)
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        all_ms = leader_main_ms = 0.0
        for line in out.read_text().splitlines():
            fields = line.split(",")
            # A thread that ended before perf did is "<not counted>".
            if len(fields) < 4 or fields[3] != "task-clock" or fields[1].startswith("<"):
                continue
            thread, ms = fields[0], float(fields[1])
            all_ms += ms
            if thread.rsplit("-", 1)[-1] == str(leader_pid):
                leader_main_ms += ms
    return {
        "ops_per_s": run.ops_per_s,
        "cpu_us_per_op": all_ms * 1000 / requests,
        "leader_loop_cpu_us_per_op": leader_main_ms * 1000 / requests,
    }


def run_build(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree / "python"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one-round"]
    cmd += ["--test", args.test, "--clients", str(args.clients)]
    cmd += ["--pipeline", str(args.pipeline), "--requests", str(args.requests)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"a round of {tree} failed: {done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path)
    parser.add_argument("--new", type=Path, default=HERE.parent)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--test", default="get")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_round:
        print(json.dumps(one_round(args.test, args.clients, args.pipeline, args.requests)))
        return
    if args.base is None:
        parser.error("--base DIR is required")
    ratios: dict[str, list[float]] = {}
    for k in range(1, args.rounds + 1):
        base = run_build(args.base, args)
        new = run_build(args.new, args)
        load = os.getloadavg()[0]
        print(f"round {k} (load {load:.1f}): base {json.dumps(base)} new {json.dumps(new)}")
        for key in base:
            ratios.setdefault(key, []).append(new[key] / base[key])
    for key, values in ratios.items():
        print(
            f"{key}: new/base median {statistics.median(values):.3f}"
            f" (range {min(values):.3f}-{max(values):.3f}, {len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
