"""Partitions by nftables rules between per-node loopback addresses: the kernel drops the
packets from one node's address to another's, as a real network partition would (TCP then
retransmits, stalls and recovers on its own timers), unlike the peer transport's cut links.

Needs the `nft` command and the right to change the ruleset (root, or CAP_NET_ADMIN); the
cluster must run with `LocalCluster(host_per_node=True)`, whose nodes listen and dial from
their own 127.0.0.x. Every rule lives in one table of this process (`senate_chaos_<pid>`),
removed by `close`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

#: How long one `nft` command may take, in seconds.
NFT_TIMEOUT_S = 10.0


class NetfilterError(Exception):
    """An `nft` command failed."""


def _nft(*args: str) -> str:
    try:
        done = subprocess.run(
            ["nft", *args], capture_output=True, text=True, timeout=NFT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetfilterError(f"nft {' '.join(args)}: {e}") from None
    if done.returncode != 0:
        raise NetfilterError(f"nft {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def unavailable_reason() -> str | None:
    """Why nftables partitions cannot run here, or None when they can (a probe table is made
    and removed)."""
    if shutil.which("nft") is None:
        return "the nft command is not installed (Debian: apt-get install nftables)"
    table = f"senate_probe_{os.getpid()}"
    try:
        _nft("add", "table", "inet", table)
        _nft("delete", "table", "inet", table)
    except NetfilterError as e:
        return f"nft cannot change the ruleset: {e}"
    return None


class NetfilterPartitioner:
    """Drops packets between pairs of addresses, one way per rule."""

    def __init__(self) -> None:
        self.table = f"senate_chaos_{os.getpid()}"
        _nft("add", "table", "inet", self.table)
        _nft(
            "add", "chain", "inet", self.table, "out",
            "{ type filter hook output priority 0; policy accept; }",
        )  # fmt: skip
        self.cut: set[tuple[str, str]] = set()

    def cut_one_way(self, source: str, destination: str) -> None:
        """Drops every packet from `source` to `destination` (IPv4 addresses)."""
        if (source, destination) in self.cut:
            return
        _nft(
            "add", "rule", "inet", self.table, "out",
            "ip", "saddr", source, "ip", "daddr", destination, "drop",
        )  # fmt: skip
        self.cut.add((source, destination))

    def heal(self) -> None:
        """Removes every rule."""
        if self.cut:
            _nft("flush", "chain", "inet", self.table, "out")
            self.cut.clear()

    def close(self) -> None:
        _nft("delete", "table", "inet", self.table)
