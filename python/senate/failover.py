"""Failover time of a local cluster: how long writes stop when the leader is SIGKILLed.

One writer sends SETs, one at a time, each awaited. Once `WRITES_BEFORE_KILL` SETs in a row
were acknowledged by the leader, the writer itself kills the leader (SIGKILL) between two
SETs and goes on writing; the failover time is from the kill to the first SET acknowledged
after it. The kill falls between two SETs, so no SET is in flight across it: an
acknowledgement after the kill is of a SET sent after it, committed by the new leader.

After the kill, a SET not answered within the SET timeout, or answered with an error
(TRYAGAIN while there is no leader), or whose connection fails (the killed node's), is given
up and the next SET goes to the next node in turn; a connection that timed out is closed
(its late reply would answer the wrong SET). So the measure is late by at most one SET
timeout and a round trip: the time a client with that timeout sees. The timeout is a tenth
of an election timeout, or four times the median SET before the kill if that is longer (a
slow disk must not make every SET time out; the median, not the slowest, as the first SETs
after a load wait behind its backlog).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time
from dataclasses import dataclass
from typing import BinaryIO

from senate.config import ClusterConfig
from senate.launcher import LocalCluster
from senate.runtime.transport import parse_host_port
from senate.security.client_security import ClientSecurity
from senate.status import RespError, SenateInfo, connect, encode_command, read_reply, resp_call

#: SETs in a row the leader acknowledges before the kill: the writer is writing through it.
WRITES_BEFORE_KILL = 20
#: A SET's timeout after the kill, in election timeouts (at least): the measure's resolution.
SET_TIMEOUT_ETS = 0.1
#: ... or this many times the median SET acknowledged before the kill, if longer.
MEDIAN_SET_FACTOR = 4.0
#: A SET's timeout before the kill, in seconds: they are only to aim at the leader.
SET_TIMEOUT_BEFORE_KILL_S = 2.0
#: How long a failover measure may take, at most, in election timeouts and at least in seconds.
MEASURE_TIMEOUT_ETS = 100
MIN_MEASURE_TIMEOUT_S = 30.0
#: Bytes of the value of each SET.
VALUE_BYTES = 16


class FailoverError(Exception):
    """No failover could be measured: no leader, or no SET acknowledged by the deadline."""


@dataclass(frozen=True)
class Failover:
    killed: int  # the id of the leader killed
    seconds: float  # from the kill to the first SET acknowledged after it
    election_timeout_s: float  # tick_ms x election_timeout_ticks of the cluster
    attempts: int  # SETs sent after the kill, the acknowledged one included
    acknowledged_by: str  # the client endpoint that acknowledged it
    set_timeout_s: float  # of each SET after the kill: the resolution of `seconds`

    @property
    def election_timeouts(self) -> float:
        return self.seconds / self.election_timeout_s


def election_timeout_s(config: ClusterConfig) -> float:
    """A cluster's election timeout, tick_ms x election_timeout_ticks, in seconds (a follower
    campaigns after a random timeout in [1, 2) of it without a leader)."""
    options = config.node_options
    return float(options["tick_ms"]) * int(options["election_timeout_ticks"]) / 1000


class Writer:
    """One client, one SET at a time, to `endpoints[current]`; a SET that fails moves it on
    to the next endpoint (round robin)."""

    def __init__(
        self, endpoints: list[str], timeout_s: float, security: ClientSecurity | None = None
    ) -> None:
        assert endpoints
        assert timeout_s > 0, timeout_s
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self.security = security
        self.current = 0  # an index into endpoints
        self._connections: dict[int, tuple[socket.socket, BinaryIO]] = {}
        self._sent = 0  # SETs sent, for distinct keys

    def aim_at(self, endpoint: str) -> None:
        self.current = self.endpoints.index(endpoint)

    def set(self) -> bool:
        """Sends one SET and awaits its reply (up to `timeout_s`): True if acknowledged."""
        index = self.current
        self._sent += 1
        command = encode_command("SET", f"failover:{self._sent}", b"v" * VALUE_BYTES)
        try:
            sock, stream = self._connection(index)
            sock.settimeout(self.timeout_s)
            sock.sendall(command)
            reply = read_reply(stream)
        except RespError:  # an error reply: the connection stays in step
            self.current = (index + 1) % len(self.endpoints)
            return False
        except (OSError, ConnectionError):  # refused, reset, closed or timed out
            self._close(index)
            self.current = (index + 1) % len(self.endpoints)
            return False
        return reply == "OK"

    def _connection(self, index: int) -> tuple[socket.socket, BinaryIO]:
        if index not in self._connections:
            address = parse_host_port(self.endpoints[index])
            sock = connect(address, self.timeout_s, self.security)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connections[index] = (sock, sock.makefile("rb"))
        return self._connections[index]

    def _close(self, index: int) -> None:
        if (connection := self._connections.pop(index, None)) is not None:
            sock, stream = connection
            with contextlib.suppress(OSError):
                stream.close()
                sock.close()

    def close(self) -> None:
        for index in list(self._connections):
            self._close(index)


def is_leader(client_endpoint: str, security: ClientSecurity | None = None) -> bool:
    """Whether the node at `client_endpoint` says in INFO that it leads now."""
    with contextlib.suppress(OSError, RespError, ValueError):
        address = parse_host_port(client_endpoint)
        reply = resp_call(address, "INFO", "senate", timeout_s=1.0, security=security)
        if isinstance(reply, bytes):
            return SenateInfo.parse(reply.decode(errors="replace")).role == "leader"
    return False


def current_leader(cluster: LocalCluster) -> int | None:
    """The id of a running node of `cluster` that says it leads, None if none does."""
    for node in cluster.nodes:
        if node.pid is not None and is_leader(node.client, cluster.client_security):
            return node.id
    return None


def measure_failover(cluster: LocalCluster, timeout_s: float | None = None) -> Failover:
    """SIGKILLs the leader of `cluster` while a writer sends SETs (see the module's docs) and
    returns the time to the first SET acknowledged after the kill. The killed node stays
    down. FailoverError if no leader is found, or no SET is acknowledged, by the deadline."""
    et_s = election_timeout_s(cluster.config)
    if timeout_s is None:
        timeout_s = max(MIN_MEASURE_TIMEOUT_S, MEASURE_TIMEOUT_ETS * et_s)
    deadline = time.monotonic() + timeout_s
    endpoints = [node.client for node in cluster.nodes]
    writer = Writer(endpoints, SET_TIMEOUT_BEFORE_KILL_S, cluster.client_security)
    try:
        leader, median_s = _write_through_the_leader(cluster, writer, deadline)
        writer.timeout_s = max(SET_TIMEOUT_ETS * et_s, MEDIAN_SET_FACTOR * median_s)
        killed_at = time.monotonic()
        cluster.kill(leader)
        attempts = 1
        while not writer.set():
            if time.monotonic() >= deadline:
                raise FailoverError(
                    f"no SET acknowledged within {timeout_s:g} s of killing leader {leader} "
                    f"({attempts} tried)"
                )
            attempts += 1
        seconds = time.monotonic() - killed_at
        acknowledged_by = endpoints[writer.current]
        return Failover(leader, seconds, et_s, attempts, acknowledged_by, writer.timeout_s)
    finally:
        writer.close()


def _write_through_the_leader(
    cluster: LocalCluster, writer: Writer, deadline: float
) -> tuple[int, float]:
    """Aims `writer` at the leader until it acknowledged `WRITES_BEFORE_KILL` SETs and still
    says it leads; returns its id and the median of those SETs, in seconds."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FailoverError(f"the leader acknowledged no {WRITES_BEFORE_KILL} SETs in time")
        try:
            leader = cluster.wait_ready(remaining)
        except TimeoutError as error:
            raise FailoverError(str(error)) from None
        endpoint = next(node.client for node in cluster.nodes if node.id == leader)
        latencies_s: list[float] = []  # of the SETs acknowledged
        while len(latencies_s) < WRITES_BEFORE_KILL and time.monotonic() < deadline:
            writer.aim_at(endpoint)
            sent_at = time.monotonic()
            if writer.set():
                latencies_s.append(time.monotonic() - sent_at)
        if len(latencies_s) == WRITES_BEFORE_KILL and is_leader(endpoint, writer.security):
            writer.aim_at(endpoint)
            return leader, statistics.median(latencies_s)
