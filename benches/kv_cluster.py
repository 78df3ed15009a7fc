"""The key-value service under redis-benchmark, against redis-server in the same run.

    python benches/kv_cluster.py [--requests N] [--rounds K] [--json FILE]

Starts redis-server (no persistence) and local senate clusters of `senate serve` processes
(fsync on), drives each with Debian's redis-benchmark, and prints every figure with its
ratio to the baseline the issue names: SET with and without pipelining, one client at a
time (p50 latency), linearizable GET with pipelining, 5 nodes against 3, and the leader's
memory with 1,000,000 keys of 100-byte values against the raw data size.

The measurements come in `--rounds` rounds (3): each round measures redis-server, then a
fresh 3-node cluster, then a fresh 5-node cluster, so that a ratio compares figures taken
minutes apart at most. A shared 2-core machine drifts by 30% and more over a run (seen
here: SET `-c 50 -P 16` on 3 nodes at 121,988, 179,991 and 147,620/s in the three rounds
of one run), which measuring every baseline first and every cluster after would put into
the ratios. Each figure is the median over the rounds (by ops/s; by p50 latency for one
client), and each ratio the median of the rounds' own ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from senate.launcher import LocalCluster, LocalNode, free_base_port


@dataclass
class Run:
    target: str
    test: str
    clients: int
    pipeline: int
    requests: int
    ops_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_benchmark(
    target: str,
    port: int,
    test: str,
    clients: int,
    pipeline: int,
    requests: int,
    keyspace: int = 100_000,
) -> Run:
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test]
    args += ["-c", str(clients), "-P", str(pipeline), "-n", str(requests)]
    args += ["-r", str(keyspace), "-d", "100", "--csv"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:  # an error reply (redis-benchmark stops at the first)
        raise RuntimeError(
            f"{' '.join(args)} against {target} exited {done.returncode}: "
            f"{done.stderr[-2000:]} {done.stdout[-2000:]}"
        )
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    row = rows[0]
    return Run(
        target=target,
        test=test,
        clients=clients,
        pipeline=pipeline,
        requests=requests,
        ops_per_s=float(row["rps"]),
        latency_ms_p50=float(row["p50_latency_ms"]),
        latency_ms_p99=float(row["p99_latency_ms"]),
    )


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[int, int]]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def client_port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def leader_port(cluster: LocalCluster) -> tuple[int, int]:
    """(client port, pid) of the leader."""
    leader_id = cluster.wait_ready(timeout_s=60)
    node = next(n for n in cluster.nodes if n.id == leader_id)
    assert node.pid is not None
    return client_port(node.client), node.pid


def cluster_term(port: int) -> int:
    """The term a node reports in INFO's senate section (elections raise it)."""
    info = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "senate"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return next(int(line.split(":")[1]) for line in info.splitlines() if line.startswith("term:"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def metric_samples(node: LocalNode) -> Iterator[Sample]:
    """Every sample the node's metrics endpoint serves now."""
    assert node.metrics is not None
    with urllib.request.urlopen(f"http://{node.metrics}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        yield from family.samples


def write_rounds_json(path: Path | None, rounds: Sequence[Any]) -> None:
    """Writes the rounds (dataclasses) of a bench script as a JSON list to `path`, if any."""
    if path is not None:
        path.write_text(json.dumps([asdict(r) for r in rounds], indent=2) + "\n")


def median_run(repeats: list[Run]) -> Run:
    """The median of repeated runs: by p50 latency for one client, else by ops/s."""
    if repeats[0].clients == 1:
        ordered = sorted(repeats, key=lambda r: r.latency_ms_p50)
    else:
        ordered = sorted(repeats, key=lambda r: r.ops_per_s)
    return ordered[len(ordered) // 2]


#: Times the mass insert is played at most. A cluster answers TRYAGAIN to a write not
#: committed within its request timeout (5 s): elections during the insert caused that here
#: (before the loop stalls a mass insert brought were fixed), and a disk stall of that length
#: would. The SETs are idempotent, so the insert is played again, and the attempts and the
#: elections are reported.
LOAD_ATTEMPTS = 3


def load_keys(port: int, keys: int, value_bytes: int) -> int:
    """SETs keys key:0 .. key:<keys-1> through redis-cli --pipe (the RESP mass-insert way);
    returns how many attempts it took (see LOAD_ATTEMPTS)."""
    value = "v" * value_bytes
    lines = "".join(f"SET key:{i:07d} {value}\r\n" for i in range(keys))
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        done = subprocess.run(
            ["redis-cli", "-p", str(port), "--pipe"],
            input=lines,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if f"errors: 0, replies: {keys}" in done.stdout:
            return attempt
        print(
            f"redis-cli --pipe, attempt {attempt}: {done.stdout.splitlines()[-1:]}",
            file=sys.stderr,
        )
    raise RuntimeError(f"redis-cli --pipe: {done.stdout[-2000:]} {done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--memory-keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None or shutil.which("redis-server") is None:
        sys.exit("needs redis-server and redis-tools (apt-get install redis-server redis-tools)")
    n = args.requests
    figures: dict[str, float] = {}

    def cluster_runs(nodes: int) -> list[Run]:
        with (
            tempfile.TemporaryDirectory() as tmp,
            LocalCluster(
                nodes=nodes, data_dir=Path(tmp), base_port=free_base_port(nodes)
            ) as cluster,
        ):
            port, _pid = leader_port(cluster)
            name = f"senate {nodes} nodes"
            try:
                out = [redis_benchmark(name, port, "set", 50, 16, n * 4)]
                if nodes == 3:
                    out.append(redis_benchmark(name, port, "set", 50, 1, n))
                    out.append(redis_benchmark(name, port, "set", 1, 1, n // 20))
                    out.append(redis_benchmark(name, port, "get", 50, 16, n * 4))
            except RuntimeError:
                # The nodes' own account of what went wrong, before their directory goes.
                for node in cluster.nodes:
                    tail = node.log_path.read_text(errors="replace").splitlines()[-40:]
                    print(f"--- node {node.id} log", *tail, sep="\n", file=sys.stderr)
                raise
            return out

    rounds: list[list[Run]] = []
    for k in range(max(1, args.rounds)):
        this: list[Run] = []
        with redis_server() as (port, _pid):
            this.append(redis_benchmark("redis-server", port, "set", 50, 1, n))
            this.append(redis_benchmark("redis-server", port, "set", 50, 16, n * 4))
        this += cluster_runs(3)
        this += cluster_runs(5)
        rounds.append(this)
        print(
            f"round {k + 1}: "
            + ", ".join(
                f"{r.target} {r.test} -c {r.clients} -P {r.pipeline} {r.ops_per_s:,.0f}/s"
                for r in this
            ),
            file=sys.stderr,
        )
    # The figures of each kind, one per round, in the order of the first round.
    runs = [median_run([rnd[i] for rnd in rounds]) for i in range(len(rounds[0]))]

    with redis_server() as (port, pid):
        load_keys(port, args.memory_keys, 100)
        figures["redis_server_rss_loaded_bytes"] = rss_bytes(pid)

    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(nodes=3, data_dir=Path(tmp), base_port=free_base_port(3)) as c,
    ):
        port, pid = leader_port(c)
        before = rss_bytes(pid)
        term_before = cluster_term(port)
        load_attempts = load_keys(port, args.memory_keys, 100)
        after = rss_bytes(pid)
        # Elections during the insert: a loop held past an election timeout shows here.
        terms_during_load = cluster_term(port) - term_before
        raw = args.memory_keys * (len("key:0000000") + 100)
        figures.update(
            memory_keys=args.memory_keys,
            memory_load_attempts=load_attempts,
            memory_load_term_changes=terms_during_load,
            rss_idle_bytes=before,
            rss_loaded_bytes=after,
            raw_data_bytes=raw,
            rss_over_raw=after / raw,
        )

    def find(within: list[Run], target: str, test: str, clients: int, pipeline: int) -> Run:
        return next(
            r
            for r in within
            if (r.target, r.test, r.clients, r.pipeline) == (target, test, clients, pipeline)
        )

    def paired_ratio(a: tuple[str, str, int, int], b: tuple[str, str, int, int]) -> float:
        """The median over rounds of (ops/s of `a` / ops/s of `b`) within each round."""
        ratios = sorted(find(rnd, *a).ops_per_s / find(rnd, *b).ops_per_s for rnd in rounds)
        return ratios[len(ratios) // 2]

    s3 = "senate 3 nodes"
    figures.update(
        rounds=len(rounds),
        set_pipelined_ops=find(runs, s3, "set", 50, 16).ops_per_s,
        set_pipelined_target=100_000,
        set_unpipelined_vs_redis=paired_ratio((s3, "set", 50, 1), ("redis-server", "set", 50, 1)),
        set_one_client_p50_ms=find(runs, s3, "set", 1, 1).latency_ms_p50,
        get_pipelined_ops=find(runs, s3, "get", 50, 16).ops_per_s,
        five_vs_three_nodes=paired_ratio(("senate 5 nodes", "set", 50, 16), (s3, "set", 50, 16)),
    )
    header = ("target", "test", "-c", "-P", "ops/s", "p50 ms", "p99 ms")
    print("{:<16} {:<5} {:>4} {:>4} {:>12} {:>8} {:>8}".format(*header))
    for r in runs:
        print(
            f"{r.target:<16} {r.test:<5} {r.clients:>4} {r.pipeline:>4} {r.ops_per_s:>12,.0f}"
            f" {r.latency_ms_p50:>8.3f} {r.latency_ms_p99:>8.3f}"
        )
    for key, value in figures.items():
        print(f"{key}: {value:,.3f}" if isinstance(value, float) else f"{key}: {value:,}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [asdict(r) for r in runs],
                    "rounds": [[asdict(r) for r in rnd] for rnd in rounds],
                    "figures": figures,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
