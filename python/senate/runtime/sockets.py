"""The sockets of the peer transport: the listening one, and where a dialed connection leaves
from (`source_address`)."""

from __future__ import annotations

import ipaddress
import socket

#: The listening socket's backlog: connections not yet accepted, at most.
LISTEN_BACKLOG = 128


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking socket listening on `host:port` (the first address `host` resolves
    to), with SO_REUSEADDR as asyncio's servers have it."""
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.create_server(address, family=family, backlog=LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def source_address(listen_host: str, peer_host: str) -> tuple[str, int] | None:
    """Where a connection to `peer_host` leaves from: the address this node listens on, when
    that is one address (not a wildcard) of the peer's family, so that peers and firewalls
    see a node's traffic come from the address it is known by (a local cluster on
    127.0.0.x, partitioned by nftables rules per address pair); else the system's choice."""
    try:
        ours, theirs = ipaddress.ip_address(listen_host), ipaddress.ip_address(peer_host)
    except ValueError:  # a host name: the system's choice
        return None
    if ours.is_unspecified or ours.version != theirs.version:
        return None
    if ours.is_loopback != theirs.is_loopback:  # a loopback address reaches no other host
        return None
    return (listen_host, 0)
