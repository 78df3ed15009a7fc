"""A throwaway redis-server for the load generator's tests: no persistence, a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from cluster import free_ports

#: How long a redis-server gets to answer PING after it starts.
START_TIMEOUT_S = 10.0
#: Attempts on other ports when the one picked was taken meanwhile.
START_ATTEMPTS = 3

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


class RedisServer:
    """`redis-server --save '' --appendonly no` on 127.0.0.1, with `extra_options` (such as
    `["--aclfile", path]`); `stop()` ends it."""

    def __init__(self, directory: Path, extra_options: Sequence[str] = ()) -> None:
        assert REDIS_SERVER is not None
        for _ in range(START_ATTEMPTS):
            self.port = free_ports(1)[0]
            options = ["--save", "", "--appendonly", "no", "--dir", str(directory), *extra_options]
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", *options],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_until_up():
                return
            self.stop()
        raise RuntimeError(f"redis-server did not start in {START_ATTEMPTS} attempts")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait_until_up(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                    s.sendall(b"PING\r\n")
                    # With users that need a password, NOAUTH says it is up too.
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                        return True
            except OSError:
                time.sleep(0.02)  # the next attempt; the deadline bounds the wait
        return False

    def cli(self, *args: str) -> str:
        """A redis-cli command's output."""
        assert REDIS_CLI is not None
        command = [REDIS_CLI, "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def command_stats(self) -> dict[str, dict[str, int]]:
        """INFO commandstats as {"get": {"calls": .., "failed_calls": .., ...}, ...}."""
        stats = {}
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, fields = line.removeprefix("cmdstat_").partition(":")
                pairs = (field.split("=") for field in fields.split(","))
                stats[name] = {k: int(float(v)) for k, v in pairs}
        return stats

    def reset(self) -> None:
        self.cli("FLUSHALL")
        self.cli("CONFIG", "SET", "maxmemory", "0")
        self.cli("CONFIG", "RESETSTAT")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)
