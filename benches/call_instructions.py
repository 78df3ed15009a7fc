"""Instructions per replicated call of a 3-node cluster in one process, counted by callgrind.

    python benches/call_instructions.py [--caller leader|follower] [--python PYTHON]

Three `senate.Node`s (durable logs, fsync off) on one event loop talk over loopback TCP; 500
coroutines make calls of a replicated counter at one node until a fixed number is done.
The whole run is counted twice under `valgrind --tool=callgrind`, with 5,000 and with 25,000
calls, and the difference over the 20,000 calls between them is the cost of a call: every
node's Python and Rust work for it (start-up and shut-down cancel out). Instructions, unlike
seconds, repeat on a shared machine to about 1%, so a change to the runtime's hot path shows
against the figure of the build before it (run both with `--python`, each interpreter with
its own build of senate installed).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile

#: Calls of the short and the long run: their difference is what is counted.
SHORT_CALLS = 5_000
LONG_CALLS = 25_000
#: Calls in flight at once.
CALLS_IN_FLIGHT = 500
COLLECTED = re.compile(r"Collected : (\d+)")


def run_cluster(calls: int, caller: str) -> None:
    """Runs the cluster and `calls` calls at a node in role `caller` (in this process)."""
    import senate
    from senate.launcher import free_base_port

    class Counter(senate.StateMachine):
        def __init__(self) -> None:
            self.value = 0

        @senate.replicated
        def add(self, n: int) -> int:
            self.value += n
            return self.value

    async def main() -> None:
        base = free_base_port(3)
        peers = {i: f"127.0.0.1:{base + i}" for i in (1, 2, 3)}
        machines = {i: Counter() for i in peers}
        nodes = {
            i: senate.Node(machines[i], id=i, peers=peers, data_dir=tempfile.mkdtemp(), fsync=False)
            for i in peers
        }
        for node in nodes.values():
            await node.start()
        while not any(n.role == "leader" for n in nodes.values()):
            await asyncio.sleep(0.01)
        at = next(i for i, n in nodes.items() if (n.role == "leader") == (caller == "leader"))
        counter = machines[at]
        await counter.add(0)
        left = calls

        async def call_in_turn() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await counter.add(1)

        await asyncio.gather(*(call_in_turn() for _ in range(CALLS_IN_FLIGHT)))
        for node in nodes.values():
            await node.stop()

    senate.run(main())


def instructions(python: str, calls: int, caller: str) -> int:
    """Instructions callgrind counts for a run of `calls` calls."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            python,
            __file__,
            "--run",
            str(calls),
            "--caller",
            caller,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in: {done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caller", choices=("leader", "follower"), default="leader")
    parser.add_argument("--python", default=sys.executable, help="The interpreter to count.")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        run_cluster(args.run, args.caller)
        return
    short = instructions(args.python, SHORT_CALLS, args.caller)
    long = instructions(args.python, LONG_CALLS, args.caller)
    per_call = (long - short) / (LONG_CALLS - SHORT_CALLS)
    print(f"{args.caller}: {per_call:,.0f} instructions per call ({args.python})")


if __name__ == "__main__":
    main()
