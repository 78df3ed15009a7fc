"""A node under hostile clients: its resident memory and how it answers a well-behaved client.

    python benches/hostile_clients.py big-values [--clients 100] [--send-mib 20]
    python benches/hostile_clients.py slowloris [--clients 1000]
    python benches/hostile_clients.py maxmemory [--maxmemory-mib 64]
    ... [--set name=value ...] [--requirepass PASSWORD] [--duration-s 30] [--json FILE]

Starts a local 3-node cluster of `senate serve` processes (fsync on) and attacks its leader:

* `big-values`: `--clients` connections each send a SET header announcing a value of
  `--announce-bytes` (536,870,912: the largest value a node takes) and then `--send-mib` MiB
  of it, as fast as the node reads them, and hold the connection open;
* `slowloris`: `--clients` connections each send a SET one byte a second, never finishing;
* `maxmemory`: one client writes `--value-kib` KiB values until a write is refused, on every
  node in turn, then reads, deletes and writes again (needs `maxmemory_bytes`, set from
  `--maxmemory-mib`).

Meanwhile a well-behaved client sends PING and GET (one at a time, `--probe-interval-s`
apart) and the leader's RSS is sampled from /proc every 100 ms. Printed: RSS before, at
its peak and at the end; PING and GET latency (p50, p99, max) during the attack, and probes
that failed; how many attackers the node told (an error reply) and closed; from the leader's
metrics during the attack, its ticks more than 100 ms and 1 s late (its loop busy elsewhere),
its leader changes and the clients it closed, by reason. `--set` passes
cluster file settings (`--set client_eviction_timeout_s=2`); a number is taken as one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from senate.auth import password_hash
from senate.launcher import LocalCluster, free_base_port
from senate.runtime.transport import parse_host_port

SET_HEADER = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n"
CHUNK_BYTES = 1 << 20


def node_metrics(address: str | None) -> dict[str, float]:
    """The node's loop lag (ticks over 100 ms and over 1 s late), leader changes and the
    clients closed for a limit, from its Prometheus endpoint."""
    if address is None:
        return {}
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "senate_loop_lag_seconds_bucket" and labels["le"] in ("0.1", "1.0", "+Inf"):
                found[f"loop_lag_le_{labels['le']}"] = sample.value
            elif name == "senate_leader_changes_total":
                found["leader_changes"] = sample.value
            elif name == "senate_clients_closed_total":
                found[f"closed_{labels['reason']}"] = sample.value
    return found


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    every = delta.pop("loop_lag_le_+Inf", 0.0)
    return {
        "ticks": every,
        "ticks_over_100ms": every - delta.pop("loop_lag_le_0.1", 0.0),
        "ticks_over_1s": every - delta.pop("loop_lag_le_1.0", 0.0),
        **delta,
    }


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    """One RESP reply (simple, error, integer, bulk or null): its first line, or the bulk."""
    line = await reader.readuntil(b"\r\n")
    if line[:1] == b"$" and line[1:3] != b"-1":
        return await reader.readexactly(int(line[1:-2]) + 2)
    return line


@dataclass
class Probe:
    """The well-behaved client's round trips, in milliseconds."""

    ping_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def run(
        self,
        address: tuple[str, int],
        interval_s: float,
        stop: asyncio.Event,
        password: str | None = None,
    ) -> None:
        """PING, then GET, `interval_s` apart until `stop` (after AUTH `password`); a reply
        not back in 10 s is a failure, and the probe reconnects."""
        requests = (
            (b"PING", b"*1\r\n$4\r\nPING\r\n", self.ping_ms),
            (b"GET", b"*2\r\n$3\r\nGET\r\n$5\r\nprobe\r\n", self.get_ms),
        )
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 10.0)
            except (TimeoutError, OSError) as e:
                self.failures.append(f"connect: {type(e).__name__}")
                continue
            try:
                if password is not None:
                    writer.write(
                        b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password.encode())
                    )
                    await asyncio.wait_for(read_reply(reader), 10.0)
                while not stop.is_set():
                    for name, request, into in requests:
                        start = time.perf_counter()
                        writer.write(request)
                        reply = await asyncio.wait_for(read_reply(reader), 10.0)
                        into.append((time.perf_counter() - start) * 1000)
                        if reply.startswith(b"-"):
                            self.failures.append(f"{name.decode()}: {reply.decode().strip()}")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval_s)
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                self.failures.append(f"{name.decode()}: {type(e).__name__}")
            finally:
                writer.close()

    def summary(self) -> dict[str, Any]:
        def stats(ms: list[float]) -> dict[str, float]:
            if not ms:
                return {}
            ordered = sorted(ms)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            return {
                "count": len(ms),
                "p50_ms": round(statistics.median(ordered), 2),
                "p99_ms": round(p99, 2),
                "max_ms": round(ordered[-1], 2),
            }

        return {"ping": stats(self.ping_ms), "get": stats(self.get_ms), "failures": self.failures}


@dataclass
class Attacker:
    """One hostile connection: what it sent and what the node did to it."""

    sent_bytes: int = 0
    #: The first error reply the node sent, if any.
    told: str | None = None
    #: The node closed the connection (EOF or reset), seconds after the attack began.
    closed_after_s: float | None = None

    async def watch(self, reader: asyncio.StreamReader, started: float) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"-") and self.told is None:
                    self.told = line.decode(errors="replace").strip()
        self.closed_after_s = time.monotonic() - started


async def big_value(
    address: tuple[str, int], i: int, attacker: Attacker, args: argparse.Namespace, started: float
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    watching = asyncio.ensure_future(attacker.watch(reader, started))
    key = b"hostile:%d" % i
    chunk = b"x" * CHUNK_BYTES
    try:
        writer.write(SET_HEADER % (len(key), key, args.announce_bytes))
        while attacker.sent_bytes < args.send_mib << 20 and not watching.done():
            writer.write(chunk)
            attacker.sent_bytes += len(chunk)
            await writer.drain()
        await watching  # hold the connection until the node closes it or the attack ends
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        watching.cancel()
        writer.close()


async def slow_request(
    address: tuple[str, int], i: int, attacker: Attacker, args: argparse.Namespace, started: float
) -> None:
    try:
        reader, writer = await asyncio.open_connection(*address)
    except OSError as e:
        attacker.told = f"connect: {e}"
        return
    watching = asyncio.ensure_future(attacker.watch(reader, started))
    key = b"slow:%d" % i
    request = SET_HEADER % (len(key), key, 1 << 20)
    try:
        while not watching.done():
            writer.write(request[attacker.sent_bytes % len(request) :][:1])
            attacker.sent_bytes += 1
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watching), 1.0)
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        watching.cancel()
        writer.close()


async def sample_rss(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss_mib(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def attack(cluster: LocalCluster, leader: int, args: argparse.Namespace) -> dict[str, Any]:
    node = next(n for n in cluster.nodes if n.id == leader)
    assert node.pid is not None
    address = parse_host_port(node.client)
    stop = asyncio.Event()
    rss: list[float] = []
    sampling = asyncio.ensure_future(sample_rss(node.pid, rss, stop))
    await asyncio.sleep(1.0)
    rss_before = max(rss)
    metrics_before = node_metrics(node.metrics)
    # The well-behaved client runs in a process of its own: the attackers' loop here would
    # otherwise delay its replies, not the node.
    probing = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "probe",
        "--address",
        node.client,
        "--duration-s",
        str(args.duration_s + 1),
        "--probe-interval-s",
        str(args.probe_interval_s),
        *(["--requirepass", args.requirepass] if args.requirepass else []),
        stdout=asyncio.subprocess.PIPE,
    )
    attackers = [Attacker() for _ in range(args.clients)]
    one = big_value if args.attack == "big-values" else slow_request
    started = time.monotonic()
    tasks = [
        asyncio.ensure_future(one(address, i, a, args, started)) for i, a in enumerate(attackers)
    ]
    await asyncio.wait(tasks, timeout=args.duration_s)
    attack_s = time.monotonic() - started
    rss_end = rss[-1]
    metrics_during = metrics_delta(metrics_before, node_metrics(node.metrics))
    try:  # a client arriving at the end of the attack: is it let in and answered?
        new_client = (await asyncio.wait_for(call(address, b"PING"), 10.0)).decode().strip()
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
        new_client = type(e).__name__
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, sampling, return_exceptions=True)
    out, _ = await probing.communicate()
    probe_summary = json.loads(out)
    told = [a.told for a in attackers if a.told is not None]
    closed = sorted(a.closed_after_s for a in attackers if a.closed_after_s is not None)
    return {
        "attack_s": round(attack_s, 1),
        "sent_mib": round(sum(a.sent_bytes for a in attackers) / (1 << 20), 1),
        "rss_mib": {
            "before": round(rss_before, 1),
            "peak": round(max(rss), 1),
            "end": round(rss_end, 1),
        },
        "probe": probe_summary,
        "new_client_ping_at_end": new_client,
        "leader_metrics_during": metrics_during,
        "attackers": len(attackers),
        "told": len(told),
        "told_examples": sorted(set(told))[:3],
        "closed": len(closed),
        "closed_after_s": (
            {"first": round(closed[0], 1), "last": round(closed[-1], 1)} if closed else None
        ),
    }


async def probe_alone(args: argparse.Namespace) -> dict[str, Any]:
    probe, stop = Probe(), asyncio.Event()
    asyncio.get_running_loop().call_later(args.duration_s, stop.set)
    await probe.run(parse_host_port(args.address), args.probe_interval_s, stop, args.requirepass)
    return probe.summary()


async def call(address: tuple[str, int], *args: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(
            b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        )
        return await asyncio.wait_for(read_reply(reader), 10.0)
    finally:
        writer.close()


def info_field(info: bytes, name: str) -> str:
    for line in info.decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return "?"


async def fill(cluster: LocalCluster, leader: int, args: argparse.Namespace) -> dict[str, Any]:
    """Writes until refused through every node; then reads, deletes and writes again."""
    value = b"v" * (args.value_kib << 10)
    result: dict[str, Any] = {}
    for node in cluster.nodes:
        address = parse_host_port(node.client)
        reader, writer = await asyncio.open_connection(*address)
        written, refusal = 0, None
        started = time.monotonic()
        while time.monotonic() - started < args.duration_s:
            key = b"fill:%d:%d" % (node.id, written)
            writer.write(
                b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                % (len(key), key, len(value), value)
            )
            reply = await read_reply(reader)
            if reply.startswith(b"-"):
                refusal = reply.decode().strip()
                break
            written += 1
        writer.close()
        info = await call(address, b"INFO", b"memory")
        get = await call(address, b"GET", b"fill:%d:0" % cluster.nodes[0].id)
        assert node.pid is not None
        result[f"node{node.id}"] = {
            "writes_before_refusal": written,
            "refusal": refusal,
            "used_memory": info_field(info, "used_memory"),
            "maxmemory": info_field(info, "maxmemory"),
            "rss_mib": round(rss_mib(node.pid), 1),
            "get_after": "value" if len(get) > 100 else get.decode(errors="replace").strip(),
        }
    first = parse_host_port(cluster.nodes[0].client)
    deleted = await call(first, b"DEL", *[b"fill:1:%d" % i for i in range(64)])
    again = await call(first, b"SET", b"after-del", value)
    result["after_delete"] = {"del": deleted.decode().strip(), "set": again.decode().strip()}
    return result


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        value: Any = text
        for kind in (int, float):
            with contextlib.suppress(ValueError):
                value = kind(text)
                break
        settings[name] = value
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("attack", choices=("big-values", "slowloris", "maxmemory", "probe"))
    parser.add_argument("--address", help="probe: the node's client address")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--announce-bytes", type=int, default=536_870_912)
    parser.add_argument("--send-mib", type=int, default=20)
    parser.add_argument("--value-kib", type=int, default=64)
    parser.add_argument("--maxmemory-mib", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--probe-interval-s", type=float, default=0.05)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--requirepass", help="an [auth] table with this password: the attackers are anonymous"
    )
    args = parser.parse_args(argv)
    if args.clients is None:
        args.clients = 1000 if args.attack == "slowloris" else 100
    if args.attack == "probe":  # the well-behaved client, run by an attack
        print(json.dumps(asyncio.run(probe_alone(args))))
        return 0
    overrides = parse_settings(args.set)
    if args.attack == "maxmemory":
        overrides.setdefault("maxmemory_bytes", args.maxmemory_mib << 20)
    credentials = None
    if args.requirepass:
        overrides["auth"] = {"requirepass": password_hash(args.requirepass.encode())}
        credentials = (None, args.requirepass)
    with LocalCluster(
        3, base_port=free_base_port(3), overrides=overrides, credentials=credentials
    ) as cluster:
        leader = cluster.wait_ready()
        run = fill if args.attack == "maxmemory" else attack
        result = {
            "attack": args.attack,
            "settings": overrides,
            **asyncio.run(run(cluster, leader, args)),
        }
        alive = {n.id: n.pid is not None for n in cluster.nodes}
        result["nodes_alive_after"] = alive
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
