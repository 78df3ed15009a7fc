"""The time to add a node to a running cluster as a learner and promote it to a voter.

    python benches/membership_change.py [--keys 100000] [--value-bytes 100] [--rounds 1]

Per round: a fresh local 3-node cluster (fsync on) of `senate serve` processes, `--keys`
keys of `--value-bytes` loaded with `redis-cli --pipe`; then a fourth node is started empty
(`join = true`) and the clock runs from `SENATE.MEMBER ADD` to the end of `SENATE.MEMBER
PROMOTE` (which waits until the learner holds every committed entry: the catch-up by log or
snapshot is inside). It prints the add, the promote (catch-up included) and the total, in
seconds, and the store's keys at the new node afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from senate.launcher import LocalCluster, free_base_port
from senate.status import resp_call

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.kv_cluster import leader_port, load_keys

#: Seconds a change may take before the round fails.
CHANGE_TIMEOUT_S = 600.0


def one_round(keys: int, value_bytes: int) -> tuple[float, float, int]:
    """(add s, promote s, keys at the new node)."""
    with tempfile.TemporaryDirectory(prefix="senate-membership-") as root:
        overrides = {"call_timeout_s": CHANGE_TIMEOUT_S}
        with LocalCluster(
            nodes=3, data_dir=Path(root), base_port=free_base_port(4), overrides=overrides
        ) as cluster:
            port, _pid = leader_port(cluster)
            load_keys(port, keys, value_bytes)
            port, _pid = leader_port(cluster)  # a heavy load may have moved the leadership
            new = cluster.add_node()
            peer = cluster.config.addresses(new).peer
            leader = ("127.0.0.1", port)
            started = time.perf_counter()
            resp_call(leader, "SENATE.MEMBER", "ADD", str(new), peer, timeout_s=CHANGE_TIMEOUT_S)
            added = time.perf_counter()
            resp_call(leader, "SENATE.MEMBER", "PROMOTE", str(new), timeout_s=CHANGE_TIMEOUT_S)
            promoted = time.perf_counter()
            new_port = int(cluster.config.addresses(new).client.rsplit(":", 1)[1])
            size = resp_call(("127.0.0.1", new_port), "DBSIZE", timeout_s=CHANGE_TIMEOUT_S)
            assert isinstance(size, int)
            return added - started, promoted - added, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    totals = []
    for i in range(args.rounds):
        add_s, promote_s, size = one_round(args.keys, args.value_bytes)
        totals.append(add_s + promote_s)
        print(
            f"round {i + 1}: {args.keys} keys of {args.value_bytes} B: add {add_s:.3f} s, "
            f"promote (catch-up included) {promote_s:.3f} s, total {add_s + promote_s:.3f} s; "
            f"the new node holds {size} keys"
        )
    if len(totals) > 1:
        print(f"median total {statistics.median(totals):.3f} s over {len(totals)} rounds")


if __name__ == "__main__":
    main()
