"""Embedded replicated counter, 3 nodes in 3 processes on 127.0.0.1: senate against PySyncObj,
in the same run, with the same harness.

    python benches/embedded_counter.py [--seconds 3] [--inflight 1000] [--json FILE]

Each system runs three node processes; node 1 drives the load once every node is ready and
a leader is known, then prints its figures as one JSON line:
- `sequential`: one call at a time, each awaited until committed and applied;
- `inflight`: `--inflight` calls outstanding at all times (senate: coroutines; PySyncObj:
  callbacks, its asynchronous form).
senate runs with fsync on (its default); PySyncObj with its defaults (log in memory, no
fsync). senate is measured on uvloop and on asyncio's own loop, with node 1 made the leader
and then a follower (whose calls take one more hop); PySyncObj's node 1 is whatever it is.
PySyncObj is optional: it is skipped when not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# --- senate -----------------------------------------------------------------------------


def senate_node(
    node_id: int, ports: list[int], data_dir: str, seconds: float, inflight: int
) -> None:
    import asyncio

    from senate import Node, StateMachine, replicated
    from senate.runtime.loop import run

    class Counter(StateMachine):
        def __init__(self) -> None:
            self.value = 0

        @replicated
        def add(self, n: int) -> int:
            self.value += n
            return self.value

    async def main() -> None:
        counter = Counter()
        peers = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(ports)}
        node = Node(counter, id=node_id, peers=peers, data_dir=data_dir, fsync=True)
        await node.start()
        print("ready", flush=True)
        if node_id != 1:
            await asyncio.Event().wait()  # serve until killed
        while node.leader is None:
            await asyncio.sleep(0.01)
        await counter.add(0)  # the leader is serving
        # The caller's role: a follower's calls take one more hop (forward to the leader).
        caller = os.environ.get("SENATE_BENCH_CALLER", "any")
        if caller != "any" and (node.role == "leader") != (caller == "leader"):
            node.transfer_leader(1 if caller == "leader" else 2)
            while (node.role == "leader") != (caller == "leader") or node.leader is None:
                await asyncio.sleep(0.01)
            await counter.add(0)
        out: dict[str, Any] = {
            "system": "senate",
            "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        }
        out["role"] = node.role

        end = time.perf_counter() + seconds
        done = 0
        start = time.perf_counter()
        while time.perf_counter() < end:
            await counter.add(1)
            done += 1
        out["sequential_calls_per_s"] = done / (time.perf_counter() - start)

        finished = 0

        async def worker() -> None:
            nonlocal finished
            while time.perf_counter() < end:
                await counter.add(1)
                finished += 1

        start = time.perf_counter()
        end = start + seconds
        await asyncio.gather(*(worker() for _ in range(inflight)))
        out["inflight_calls_per_s"] = finished / (time.perf_counter() - start)
        out["value_checked"] = counter.value >= finished
        print(json.dumps(out), flush=True)
        await node.stop()

    run(main())


# --- PySyncObj ----------------------------------------------------------------------------


def pysyncobj_node(node_id: int, ports: list[int], seconds: float, inflight: int) -> None:
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Counter(SyncObj):
        def __init__(self, self_addr: str, partners: list[str]) -> None:
            super().__init__(self_addr, partners, SyncObjConf())
            self.value = 0

        @replicated
        def add(self, n: int) -> int:
            self.value += n
            return self.value

    addrs = [f"127.0.0.1:{p}" for p in ports]
    me = addrs[node_id - 1]
    counter = Counter(me, [a for a in addrs if a != me])
    print("ready", flush=True)
    while not (counter.isReady() and counter._getLeader() is not None):
        time.sleep(0.01)
    # PySyncObj's leader cannot be chosen: with caller "leader" the node that is leader
    # drives the load (and the others serve); otherwise node 1 drives.
    caller = os.environ.get("SENATE_BENCH_CALLER", "any")
    drives = counter._isLeader() if caller == "leader" else node_id == 1
    if not drives:
        threading.Event().wait()
    counter.add(0, sync=True, timeout=30)
    role = "leader" if counter._isLeader() else "follower"
    out: dict[str, Any] = {"system": "pysyncobj", "loop": "threads", "role": role}

    end = time.perf_counter() + seconds
    done = 0
    start = time.perf_counter()
    while time.perf_counter() < end:
        counter.add(1, sync=True, timeout=30)
        done += 1
    out["sequential_calls_per_s"] = done / (time.perf_counter() - start)

    slots = threading.Semaphore(inflight)
    lock = threading.Lock()
    finished = 0

    def on_done(_result: Any, _error: Any) -> None:
        nonlocal finished
        with lock:
            finished += 1
        slots.release()

    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        if slots.acquire(timeout=0.1):
            counter.add(1, callback=on_done)
    elapsed = time.perf_counter() - start
    out["inflight_calls_per_s"] = finished / elapsed
    print(json.dumps(out), flush=True)
    os._exit(0)


# --- the driver ---------------------------------------------------------------------------


def run_system(system: str, seconds: float, inflight: int, env: dict[str, str]) -> dict[str, Any]:
    ports = free_ports(3)
    with tempfile.TemporaryDirectory(prefix=f"senate-bench-{system}-") as root:
        procs = []
        try:
            for node_id in (1, 2, 3):
                args = [sys.executable, __file__, "--node", str(node_id), "--system", system]
                args += ["--ports", ",".join(map(str, ports)), "--data", f"{root}/{node_id}"]
                args += ["--seconds", str(seconds), "--inflight", str(inflight)]
                proc = subprocess.Popen(
                    args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
                )
                procs.append(proc)
            for proc in procs:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready"
            # The driving node prints its figures; the others print nothing more.
            with selectors.DefaultSelector() as sel:
                for proc in procs:
                    assert proc.stdout is not None
                    sel.register(proc.stdout, selectors.EVENT_READ)
                key, _ = sel.select(timeout=60 + 4 * seconds)[0]
                line = key.fileobj.readline()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError(f"{system}: the driving node exited without a result")
            result: dict[str, Any] = json.loads(line)
            return result
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()


def compare(seconds: float, inflight: int) -> list[dict[str, Any]]:
    results = []
    for loop in ("uvloop", "asyncio"):
        for caller in ("leader", "follower"):
            env = dict(os.environ, SENATE_LOOP=loop, SENATE_BENCH_CALLER=caller)
            results.append(run_system("senate", seconds, inflight, env))
    try:
        import pysyncobj  # noqa: F401

        for caller in ("leader", "any"):
            env = dict(os.environ, SENATE_BENCH_CALLER=caller)
            results.append(run_system("pysyncobj", seconds, inflight, env))
    except ImportError:
        pass
    return results


def report(results: list[dict[str, Any]]) -> str:
    lines = [f"{'system':10} {'loop':8} {'caller':9} {'sequential/s':>13} {'in flight/s':>12}"]
    for r in results:
        lines.append(
            f"{r['system']:10} {r['loop']:8} {r.get('role', '?'):9} "
            f"{r['sequential_calls_per_s']:13,.0f} {r['inflight_calls_per_s']:12,.0f}"
        )
    baselines = [r for r in results if r["system"] == "pysyncobj"]
    if baselines:
        # Against PySyncObj's best figure of the run, whichever node drove it.
        best_seq = max(r["sequential_calls_per_s"] for r in baselines)
        best_inf = max(r["inflight_calls_per_s"] for r in baselines)
        for r in results:
            if r["system"] == "senate":
                seq = r["sequential_calls_per_s"] / best_seq
                inf = r["inflight_calls_per_s"] / best_inf
                lines.append(
                    f"senate ({r['loop']}, {r['role']}) / PySyncObj's best: "
                    f"sequential {seq:,.0f}x, in flight {inf:.1f}x"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--inflight", type=int, default=1000)
    parser.add_argument("--json")
    parser.add_argument("--node", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.node is not None:
        ports = [int(p) for p in args.ports.split(",")]
        if args.system == "senate":
            senate_node(args.node, ports, args.data, args.seconds, args.inflight)
        else:
            pysyncobj_node(args.node, ports, args.seconds, args.inflight)
        return
    results = compare(args.seconds, args.inflight)
    print(report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
