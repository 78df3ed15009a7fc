"""The bounds a key-value node keeps on what clients make it hold, and for how long.

Redis's names in brackets; each is a top-level setting of the cluster file:

    maxmemory_bytes = 0                  # the store [maxmemory]; 0: no bound
    clients_memory_bytes = 2147483648    # every client's buffers together [maxmemory-clients]
    client_query_buffer_bytes = 1073741824           # one client's [client-query-buffer-limit]
    unauthenticated_query_buffer_bytes = 1048576     # one client's before AUTH (with [auth])
    client_eviction_timeout_s = 2.0      # how long a client may stay over its share
    client_idle_timeout_s = 0.0          # [timeout]; 0: never
    client_request_timeout_s = 10.0      # a started request's deadline; 0: none ...
    client_request_min_rate_bytes = 65536  # ... one second later per this many bytes received

How the server keeps them is `senate.kv_guard`; what each buffer of a node costs at most is in
docs/memory.md.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from senate.errors import config_error

#: The share of the machine's memory that the clients' buffers may take by default.
CLIENTS_MEMORY_SHARE = 1 / 8
#: The least default bound on the clients' buffers, whatever the machine.
MIN_DEFAULT_CLIENTS_MEMORY_BYTES = 256 << 20


def machine_memory_bytes() -> int:
    """The machine's physical memory (`sysconf`), or 0 where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux or macOS
        return 0


def default_clients_memory_bytes() -> int:
    """`CLIENTS_MEMORY_SHARE` of the machine's memory, at least
    `MIN_DEFAULT_CLIENTS_MEMORY_BYTES`."""
    share = int(machine_memory_bytes() * CLIENTS_MEMORY_SHARE)
    return max(MIN_DEFAULT_CLIENTS_MEMORY_BYTES, share)


@dataclass(frozen=True)
class ServerLimits:
    """What a node's client server holds for its clients, at most, and for how long.
    Validated when made: a bad value raises `ConfigError` naming the field."""

    #: The store's memory estimate (`KvStore.memory_bytes`) past which writes that take
    #: memory are refused with Redis's `-OOM` by the node that would propose them (so every
    #: replica applies the same log); reads and deletes go on. 0: no bound.
    maxmemory_bytes: int = 0
    #: Bytes buffered for all clients together (partial requests and unsent replies). Past
    #: it, clients holding more than an equal share are no longer read, and those still over
    #: their share `client_eviction_timeout_s` later are told and closed. None: an eighth of
    #: the machine's memory (`default_clients_memory_bytes`).
    clients_memory_bytes: int | None = None
    #: Bytes of a partial request one client may leave buffered; more and it is told and
    #: closed. Redis's default.
    client_query_buffer_bytes: int = 1 << 30
    #: The same for a client that has not authenticated yet (with an `[auth]` table).
    unauthenticated_query_buffer_bytes: int = 1 << 20
    #: How long a client may stay over its share of `clients_memory_bytes` (unread) while
    #: that bound is exceeded, before it is closed.
    client_eviction_timeout_s: float = 2.0
    #: A client that sent nothing for this long and is owed no reply is closed. 0: never.
    client_idle_timeout_s: float = 0.0
    #: A request must arrive whole within this many seconds of its first byte, plus one
    #: second per `client_request_min_rate_bytes` of it received (a 512 MiB value at 64
    #: KiB/s has 8,202 s); slower, its client is told and closed. 0: no deadline.
    client_request_timeout_s: float = 10.0
    client_request_min_rate_bytes: int = 64 << 10

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            zero_ok = f.name in ZERO_MEANS_OFF
            if not (value >= 0 if zero_ok else value > 0):
                limit = "must not be negative" if zero_ok else "must be positive"
                raise config_error(f.name, f"{limit}, got {value}")
        if self.unauthenticated_query_buffer_bytes > self.client_query_buffer_bytes:
            raise config_error(
                "unauthenticated_query_buffer_bytes",
                f"must be at most client_query_buffer_bytes ({self.client_query_buffer_bytes})",
            )

    @property
    def clients_bytes(self) -> int:
        """`clients_memory_bytes`, its default resolved."""
        if self.clients_memory_bytes is None:
            return default_clients_memory_bytes()
        return self.clients_memory_bytes


#: Every setting, with its TOML type.
LIMIT_FIELDS: dict[str, type] = {
    f.name: (int if f.name.endswith("_bytes") else float) for f in dataclasses.fields(ServerLimits)
}
#: The settings 0 turns off.
ZERO_MEANS_OFF = ("maxmemory_bytes", "client_idle_timeout_s", "client_request_timeout_s")
