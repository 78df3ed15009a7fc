"""A follower with an empty disk catches up from a leader holding a large state: time, memory,
event-loop stalls.

    python benches/snapshot_catchup.py [--keys 2000000] [--value-bytes 100]
        [--protocol raft|paxos] [--json FILE]

Starts a fresh local 3-node cluster (fsync on, `snapshot_entries` lowered so that the
leader's last snapshot covers most of the load), kills one follower and deletes its data
directory, loads `--keys` keys of `--value-bytes` bytes with `redis-cli --pipe`, then starts
the follower again with its empty disk: it catches up by the leader's snapshot (and the log
after it). It prints:

- the snapshot installed (index) and the time from the restart until the follower applied
  the leader's commit index at the restart;
- the peak resident memory (VmHWM) of the leader during the catch-up (its peak is reset
  through /proc/PID/clear_refs right before the restart) and of the follower, next to the
  leader's resident memory before the catch-up (the state itself);
- each node's event-loop lag during the catch-up (`senate_loop_lag_seconds`: how late its
  tick timer ran): the ticks later than 25, 100 and 250 ms and 1 s, and the slowest bucket
  reached (an election timeout is 150 ms at the defaults).

The data directory is a temporary one, deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from senate.launcher import LocalCluster, LocalNode, free_base_port
from senate.status import parse_info, resp_call

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.kv_cluster import (
    client_port,
    leader_port,
    metric_samples,
    write_rounds_json,
)

#: Loop lag bounds reported, in seconds (buckets of `senate_loop_lag_seconds`).
LAG_BOUNDS_S = (0.025, 0.1, 0.25, 1.0)
#: How often the follower's progress and the processes' memory are sampled.
POLL_S = 0.05
#: The catch-up is given up after this long.
CATCH_UP_TIMEOUT_S = 1800.0


def load(port: int, keys: int, value_bytes: int) -> int:
    """SETs keys key:0 .. key:<keys-1> through one `redis-cli --pipe`; returns the keys the
    leader holds after it (DBSIZE). On a loaded machine some SETs get TRYAGAIN (not
    committed within the request timeout): the state is then a little smaller, which is
    reported, not retried."""
    value = "v" * value_bytes
    lines = "".join(f"SET key:{i:08d} {value}\r\n" for i in range(keys))
    subprocess.run(
        ["redis-cli", "-p", str(port), "--pipe"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    dbsize = subprocess.run(
        ["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True, text=True, timeout=30
    )
    return int(dbsize.stdout.strip())


@dataclass
class Round:
    keys: int
    keys_held: int
    value_bytes: int
    leader_rss_before_mib: float
    snapshot_index: int
    commit_at_restart: int
    catch_up_s: float
    leader_peak_rss_mib: float
    follower_peak_rss_mib: float
    #: Per node ("leader", "follower"): ticks later than each of `LAG_BOUNDS_S`, and the
    #: upper bound of the slowest bucket reached.
    late_ticks: dict[str, dict[str, float]]


def info(port: int) -> dict[str, str]:
    """INFO senate of the node on client port `port`."""
    text = resp_call(("127.0.0.1", port), "INFO", "senate", timeout_s=30)
    assert isinstance(text, bytes), text
    return parse_info(text.decode())["senate"]


def proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def lag_buckets(node: LocalNode) -> dict[float, float]:
    """Cumulative tick counts of the node's loop-lag histogram by upper bound (inf: all)."""
    buckets = {}
    for sample in metric_samples(node):
        if sample.name == "senate_loop_lag_seconds_bucket":
            buckets[float(sample.labels["le"])] = sample.value
    return buckets


def late(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    total = after[float("inf")] - before.get(float("inf"), 0)
    out: dict[str, float] = {}
    for bound in LAG_BOUNDS_S:
        out[f"over_{int(bound * 1000)}_ms"] = total - (after[bound] - before.get(bound, 0))
    reached = [b for b in sorted(after) if after[b] - before.get(b, 0) < total]
    out["slowest_bucket_s"] = max(reached) if reached else 0.0
    # The bucket above the last one not holding every tick is the slowest reached.
    bounds = sorted(after)
    if reached:
        out["slowest_bucket_s"] = bounds[bounds.index(max(reached)) + 1]
    return out


def one_round(keys: int, value_bytes: int, snapshot_entries: int, protocol: str) -> Round:
    with tempfile.TemporaryDirectory(prefix="senate-catchup-") as tmp:
        overrides = {"snapshot_entries": snapshot_entries, "protocol": protocol}
        cluster = LocalCluster(
            nodes=3, data_dir=Path(tmp), base_port=free_base_port(3), overrides=overrides
        )
        with cluster:
            port, leader_pid = leader_port(cluster)
            leader_id = int(info(port)["leader"])
            follower = next(n for n in cluster.nodes if n.id != leader_id)
            leader = next(n for n in cluster.nodes if n.id == leader_id)
            # Down and wiped before the load: a follower that had acknowledged the whole
            # log and then lost it is not caught up by a leader at all (its match index
            # never goes down), which is issue 21's "replacing a dead machine".
            cluster.kill(follower.id)
            shutil.rmtree(Path(tmp) / f"node-{follower.id}")
            keys_held = load(port, keys, value_bytes)
            leader_info = info(port)
            commit = int(leader_info["commit_index"])
            snapshot_index = int(leader_info["snapshot_index"])
            rss_before = proc_status_kib(leader_pid, "VmRSS")
            leader_lag_before = lag_buckets(leader)
            Path(f"/proc/{leader_pid}/clear_refs").write_text("5")  # resets VmHWM
            started = time.monotonic()
            cluster.restart(follower.id)
            follower_port = client_port(follower.client)
            follower_pid = next(n.pid for n in cluster.nodes if n.id == follower.id)
            assert follower_pid is not None
            applied = 0
            follower_peak = 0
            while applied < commit:
                if time.monotonic() - started > CATCH_UP_TIMEOUT_S:
                    raise TimeoutError(f"follower at {applied} of {commit}")
                follower_peak = max(follower_peak, proc_status_kib(follower_pid, "VmHWM"))
                with contextlib.suppress(OSError, KeyError, ValueError):
                    applied = int(info(follower_port)["applied_index"])  # fails while starting
                time.sleep(POLL_S)
            catch_up_s = time.monotonic() - started
            follower_peak = max(follower_peak, proc_status_kib(follower_pid, "VmHWM"))
            leader_peak = proc_status_kib(leader_pid, "VmHWM")
            lag = {
                "leader": late(leader_lag_before, lag_buckets(leader)),
                "follower": late({}, lag_buckets(follower)),
            }
    return Round(
        keys=keys,
        keys_held=keys_held,
        value_bytes=value_bytes,
        leader_rss_before_mib=rss_before / 1024,
        snapshot_index=snapshot_index,
        commit_at_restart=commit,
        catch_up_s=catch_up_s,
        leader_peak_rss_mib=leader_peak / 1024,
        follower_peak_rss_mib=follower_peak / 1024,
        late_ticks=lag,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2_000_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument(
        "--snapshot-entries",
        type=int,
        default=20_000,
        help="the nodes' snapshot_entries (a snapshot at most 10x as many entries old)",
    )
    parser.add_argument("--protocol", default="raft", choices=("raft", "paxos"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    r = one_round(args.keys, args.value_bytes, args.snapshot_entries, args.protocol)
    state = f"{r.keys_held:,} keys of {r.value_bytes} B held"
    before = f"leader RSS {r.leader_rss_before_mib:.0f} MiB before"
    where = f"snapshot at {r.snapshot_index:,}, commit {r.commit_at_restart:,}"
    peaks = f"leader {r.leader_peak_rss_mib:.0f} MiB, follower {r.follower_peak_rss_mib:.0f} MiB"
    print(f"{state}: {before}; {where}; caught up in {r.catch_up_s:.1f} s")
    print(f"  peak RSS during the catch-up: {peaks}")
    for who, lag in r.late_ticks.items():
        print(f"  {who} ticks late: {lag}")
    write_rounds_json(args.json, [r])


if __name__ == "__main__":
    main()
