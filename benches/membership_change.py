"""The time to add a node to a running cluster as a learner and promote it to a voter.

    python benches/membership_change.py [--keys 100000] [--value-bytes 100] [--rounds 1]
        [--protocol raft|paxos]

Per round: a fresh local 3-node cluster (fsync on) of `senate serve` processes, `--keys`
keys of `--value-bytes` loaded by MSET batches at a pace the leader takes
(benches/bulk_load.py: `redis-cli --pipe` floods it, and the batches refused for overload
or not committed in time are errors it cannot send again); then a fourth node is started empty
(`join = true`) and the clock runs from `SENATE.MEMBER ADD` to the end of `SENATE.MEMBER
PROMOTE` (which waits until the learner holds every committed entry: the catch-up by log or
snapshot is inside). It prints the add, the promote (catch-up included) and the total, in
seconds, and the store's keys at the new node afterwards; the clock runs on until the new node
answers with every key (DBSIZE polled: it holds the entries at the promotion, and may apply
the last of them a little later).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from senate.launcher import LocalCluster, free_base_port
from senate.member_calls import call_leader
from senate.status import RespError, parse_info, resp_call

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.bulk_load import load_keys_mset
from benches.kv_cluster import leader_port

#: Seconds a change may take before the round fails.
CHANGE_TIMEOUT_S = 600.0


def one_round(keys: int, value_bytes: int, protocol: str) -> tuple[float, float, int]:
    """(add s, promote s, keys at the new node)."""
    with tempfile.TemporaryDirectory(prefix="senate-membership-") as root:
        overrides = {"call_timeout_s": CHANGE_TIMEOUT_S, "protocol": protocol}
        with LocalCluster(
            nodes=3, data_dir=Path(root), base_port=free_base_port(4), overrides=overrides
        ) as cluster:
            port, _pid = leader_port(cluster)
            loaded = load_keys_mset(("127.0.0.1", port), keys, value_bytes)
            print(f"loaded: {loaded}", flush=True)
            members = {n.id: n.client for n in cluster.nodes}
            term_before = _term(members)
            new = cluster.add_node()
            peer = cluster.config.addresses(new).peer
            started = time.perf_counter()
            # To the leader, wherever it is: an election during the catch-up moves it.
            call_leader(
                list(members.values()),
                *("SENATE.MEMBER", "ADD", str(new), peer),
                by_id=members,
                timeout_s=CHANGE_TIMEOUT_S,
            )
            added = time.perf_counter()
            call_leader(
                list(members.values()),
                *("SENATE.MEMBER", "PROMOTE", str(new)),
                by_id=members,
                timeout_s=CHANGE_TIMEOUT_S,
                retry_transient=True,
            )
            new_port = int(cluster.config.addresses(new).client.rsplit(":", 1)[1])
            size = _wait_size(("127.0.0.1", new_port), keys)
            promoted = time.perf_counter()
            elections = _term(members) - term_before
            print(f"elections during the change (term raised by): {elections}", flush=True)
            return added - started, promoted - added, size


def _term(members: dict[int, str]) -> int:
    """The highest term the nodes report."""
    terms = []
    for client in members.values():
        with contextlib.suppress(OSError, RespError, KeyError, ValueError):
            host, port = client.rsplit(":", 1)
            info = resp_call((host, int(port)), "INFO", "senate", timeout_s=10)
            assert isinstance(info, bytes)
            terms.append(int(parse_info(info.decode())["senate"]["term"]))
    return max(terms, default=0)


def _wait_size(address: tuple[str, int], keys: int) -> int:
    """The new node's DBSIZE once it holds `keys` keys (about at once after a promotion)."""
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError, RespError):
            size = resp_call(address, "DBSIZE", timeout_s=CHANGE_TIMEOUT_S)
            assert isinstance(size, int)
            if size >= keys or time.monotonic() > deadline:
                return size
        if time.monotonic() > deadline:
            return -1
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--protocol", default="raft", choices=("raft", "paxos"))
    args = parser.parse_args()
    totals = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for i in range(args.rounds):
        add_s, promote_s, size = one_round(args.keys, args.value_bytes, args.protocol)
        totals.append(add_s + promote_s)
        print(
            f"round {i + 1}, {args.protocol}: {args.keys} keys of {args.value_bytes} B: "
            f"add {add_s:.3f} s, "
            f"promote (catch-up included) {promote_s:.3f} s, total {add_s + promote_s:.3f} s; "
            f"the new node holds {size} keys"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if len(totals) > 1:
        print(f"median total {statistics.median(totals):.3f} s over {len(totals)} rounds")


if __name__ == "__main__":
    main()
