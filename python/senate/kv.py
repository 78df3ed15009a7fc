"""The replicated key-value service: a Redis-compatible server in front of a node.

Each node serves clients on its own port; redis-cli, redis-benchmark and redis-py work
unchanged. Connections speak RESP2 until they send `HELLO 3` (redis-py 8 does by default);
the session then answers in RESP3, and every batch carries its connection's protocol, so the
replies a log batch produces on apply are encoded as its client expects. The parsing of
client input, the key-value store and the execution of commands are Rust (`RespSession`,
`KvStore`); this module moves bytes and futures:

* a `RespSession` turns what a client sent into groups of commands, in order: replies it
  could give at once (PING, errors, ...), batches of writes to replicate through the log,
  batches of reads to run after a read barrier (or at once on a READONLY connection),
  commands for the node (INFO), WATCH's read of versions (`senate.kv_watch`); a transaction
  (MULTI ... EXEC) is one batch of its own, one log entry if it writes;
* a write batch is proposed as one log entry; every node applies it to its `KvStore`, and the
  node that proposed it answers its client with the replies the apply produced (a follower
  once the entry the core forwarded is applied on it: a client reads its own writes on any
  node);
* a read batch waits for a ReadIndex round (one round serves every read queued before it
  started), then runs against the local store: linearizable on any node;
* replies leave in the order the commands came, whatever order their groups complete in.

Limits: `max_clients` connections; a client whose unsent replies pass the transport's high
water mark, or with more than `MAX_GROUPS_IN_FLIGHT` groups waiting, is not read from until
it drains; the session skips a value over `max_value_bytes`; `senate.kv_guard` keeps the
query buffers, all clients' buffers together, idle and slow clients, and the store's
`maxmemory` within `senate.server_limits`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from senate import kv_admin
from senate._core import (
    GROUP_CLOSE,
    GROUP_EXEC_LOG,
    GROUP_EXEC_NODE,
    GROUP_LOG,
    GROUP_NODE,
    GROUP_READ,
    GROUP_REPLY,
    GROUP_STALE_READ,
    GROUP_WATCH,
    RespSession,
    SenateError,
    decode_batch,
)
from senate.auth import AuthConfig
from senate.errors import NodeNotRunning, Overloaded
from senate.kv_guard import ClientGuard
from senate.kv_info import info_reply, info_sections
from senate.kv_machine import KvMachine as KvMachine  # re-exported: its home until it moved
from senate.kv_reads import ReadBatcher
from senate.kv_replies import error_reply, replies_for_error
from senate.kv_sizing import sized_for_values
from senate.kv_watch import Slot as _Slot
from senate.kv_watch import push_held
from senate.runtime.metrics import MetricsServer, NodeMetrics
from senate.runtime.node import Node
from senate.runtime.transport import parse_host_port
from senate.security.server_tls import ServerTls, watch_files
from senate.server_limits import ServerLimits

if TYPE_CHECKING:
    from senate.config import ServerConfig

log = logging.getLogger("senate.kv")

#: Groups (reply slots) one client may have waiting; more and its socket is not read until
#: the oldest are answered. A group holds what one read of the socket brought (up to
#: `max_batch_commands` commands), so this bounds a mass insert (`redis-cli --pipe`) to a few
#: MiB in flight per client instead of letting it queue more than can commit in time.
MAX_GROUPS_IN_FLIGHT = 64
#: Unsent replies past which a client closed for a limit is cut off without being told.
HANG_UP_FLUSH_BYTES = 64 << 10
#: How long the connection of a client closed for a limit stays half-open (our side shut)
#: before it is reset, so that the reset does not drop the message before it is read.
HANG_UP_LINGER_S = 2.0
#: The transport's high water mark of unsent replies per client, by default.
DEFAULT_MAX_REPLY_BUFFER_BYTES = 64 << 20


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ClientConnection(asyncio.Protocol):
    """One client: feeds its bytes to a `RespSession` and answers its groups in order."""

    def __init__(self, server: KvServer) -> None:
        self.server = server
        server.last_client_id += 1
        self.session = RespSession(
            max_value_bytes=server.max_value_bytes,
            max_batch_commands=server.max_batch_commands,
            client_id=server.last_client_id,
            users=server.users,
        )
        self.transport: asyncio.Transport | None = None
        #: Replies in command order: bytes ready to send, or a slot still waiting. Only a
        #: slot at the head holds the line up.
        self._slots: collections.deque[bytes | _Slot] = collections.deque()
        #: Write batches of this client not yet answered: its reads go through the log after
        #: them, so a client always reads its own writes.
        self._writes_waiting = 0
        #: Read batches of this client waiting for their barrier, and the writes that came
        #: after them (proposed once those reads are answered).
        self._reads_waiting = 0
        self._deferred_writes: list[tuple[bytes, _Slot]] = []
        self._closing = False
        self._paused_by: set[str] = set()
        # What `ClientGuard` keeps of this client: its partial request's bytes (as counted
        # in the guard's total) and when it began, its unsent replies at the last sweep, when
        # it went over its share of the clients' memory, and when it last sent anything.
        self.query_bytes = self.reply_bytes = 0
        self.request_started_ms = self.over_since_ms = 0
        self.last_data_ms = _now_ms()

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but it is one.
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        server = self.server
        if len(server.clients) >= server.max_clients:
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self._closing = True
            return
        server.clients.add(self)
        transport.set_write_buffer_limits(high=server.max_reply_buffer_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        # Calls in flight still complete (the node answers nobody then); their slots go.
        self._closing = True
        self.session.close()
        self.server.clients.discard(self)
        self.server.guard.forget(self)
        self._slots.clear()
        self._deferred_writes.clear()

    def pause_writing(self) -> None:
        self.pause("replies")

    def resume_writing(self) -> None:
        self.resume("replies")

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        now_ms = self.last_data_ms = time.time_ns() // 1_000_000  # `_now_ms()`
        server = self.server
        if server.maxmemory_bytes:  # decided here, before proposing: every replica alike
            self.session.over_maxmemory = server.over_maxmemory()
        try:
            groups = self.session.feed(data, now_ms)
        except SenateError as e:  # the session refused the input: answer and hang up
            self._push(error_reply(f"ERR Protocol error: {e}"))
            self._close_after_replies()
            return
        for kind, payload in groups:
            if kind == GROUP_LOG:
                self._push_write(payload)
            elif kind == GROUP_READ:
                if self._writes_waiting:
                    self._push_write(payload)
                else:
                    self._push_read(payload)
            elif kind == GROUP_REPLY:
                self._push(payload)
            elif kind == GROUP_STALE_READ:
                if self._writes_waiting:
                    self._push_write(payload)
                else:
                    self._push(self.server.machine.store.read(payload, _now_ms()))
            elif kind == GROUP_NODE:
                reply = self.server.node_command(payload)
                if isinstance(reply, bytes):
                    self._push(reply)
                else:
                    self._push_later(reply)
            elif kind == GROUP_CLOSE:
                self._push(payload)
                self._close_after_replies()
                return
            elif kind == GROUP_EXEC_NODE:  # the last group: the EXEC runs at the next feed
                self.session.node_replied([server.info(args) for args in decode_batch(payload)])
                asyncio.get_running_loop().call_soon(self.data_received, b"")
            else:  # WATCH or EXEC_*, the last group: parsing resumes once it is answered
                take = self.session.watched if kind == GROUP_WATCH else self.session.executed
                push_held(self, payload, take, writes=kind == GROUP_EXEC_LOG)
        held = self.session.buffered_bytes
        if (held or self.query_bytes) and not server.guard.on_query_buffer(self, held, now_ms):
            return
        if len(self._slots) > MAX_GROUPS_IN_FLIGHT:
            self.pause("groups")

    # --- groups -------------------------------------------------------------------------
    def _push(self, reply: bytes) -> None:
        if self._slots:
            self._slots.append(reply)
        elif self.transport is not None:
            self.transport.write(reply)

    def _push_write(self, batch: bytes, slot: _Slot | None = None) -> None:
        """Proposes `batch`, answered in order into `slot` (or a new one)."""
        if slot is None:
            slot = _Slot()
            slot.reply = None
        if self._reads_waiting:
            # A read of this client sent before this write must not see it: the write is
            # proposed once the earlier reads are answered.
            self._deferred_writes.append((batch, slot))
        elif not self._propose(batch, slot):
            self._push(cast(bytes, slot.reply))
            return
        self._writes_waiting += 1
        self._slots.append(slot)

    def _propose(self, batch: bytes, slot: _Slot) -> bool:
        """Proposes `batch`, answered into `slot`; False (the error in `slot`) when the node
        refused it at once."""

        def done(result: bytes | None, error: BaseException | None) -> None:
            self._writes_waiting -= 1
            slot.reply = (
                result if error is None else replies_for_error(error, self.server.timeout_s, batch)
            )
            slots = self._slots
            if slots and slots[0] is slot:  # `_slot_done`, inlined: this runs for every write
                self._send_ready_replies()

        try:
            self.server.node.propose_with_callback(batch, done)
        except (Overloaded, NodeNotRunning) as e:
            slot.reply = replies_for_error(e, self.server.timeout_s, batch)
            return False
        return True

    def _push_later(self, reply: Awaitable[bytes]) -> None:
        """A reply the node gives later (an admin command: a membership change)."""
        slot = _Slot()
        slot.reply = None
        task = asyncio.ensure_future(reply)
        self.server.admin_tasks.add(task)

        def done(task: asyncio.Future[bytes]) -> None:
            self.server.admin_tasks.discard(task)
            if task.cancelled():  # the server is stopping: nobody waits for the reply
                return
            slot.reply = task.result()  # the admin commands turn their errors into replies
            self._slot_done(slot)

        task.add_done_callback(done)
        self._slots.append(slot)

    def _push_read(self, batch: bytes, slot: _Slot | None = None) -> None:
        """Reads `batch` after a read barrier, answered in order into `slot` (or a new one)."""
        server = self.server
        if slot is None:
            slot = _Slot()
            slot.reply = None

        def run_read(barrier: asyncio.Future[None]) -> None:
            error = barrier.exception()
            if error is not None:
                slot.reply = replies_for_error(error, server.timeout_s, batch)
            else:
                slot.reply = server.machine.store.read(batch, _now_ms())
            self._reads_waiting -= 1
            self._propose_deferred_writes()
            self._slot_done(slot)

        server.reads.wait().add_done_callback(run_read)
        self._reads_waiting += 1
        self._slots.append(slot)

    def _propose_deferred_writes(self) -> None:
        # Also once QUIT came (the replies before it are owed); a lost connection has none.
        if self._reads_waiting or not self._deferred_writes:
            return
        deferred, self._deferred_writes = self._deferred_writes, []
        for batch, slot in deferred:
            if not self._propose(batch, slot):
                self._writes_waiting -= 1
                self._slot_done(slot)

    def _slot_done(self, slot: _Slot) -> None:
        if self._slots and self._slots[0] is slot:
            self._send_ready_replies()

    def _send_ready_replies(self) -> None:
        """Sends every reply at the head of the line that is ready, in one write."""
        slots = self._slots
        transport = self.transport
        if len(slots) == 1 and not self._paused_by and not self._closing:
            # The usual case (one request at a time): its reply alone.
            head = slots[0]
            reply = head.reply if isinstance(head, _Slot) else head
            if reply is not None:
                slots.clear()
                if transport is not None and not transport.is_closing():
                    transport.write(reply)
            return
        out: list[bytes] = []
        while slots:
            head = slots[0]
            if isinstance(head, _Slot):
                if head.reply is None:
                    break
                out.append(head.reply)
            else:
                out.append(head)
            slots.popleft()
        if out and transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if "groups" in self._paused_by and len(slots) <= MAX_GROUPS_IN_FLIGHT // 2:
            self.resume("groups")
        if not slots and self._closing and transport is not None:
            transport.close()

    def _close_after_replies(self) -> None:
        self._closing = True
        if not self._slots and self.transport is not None:
            self.transport.close()

    def pause(self, why: str) -> None:
        """Stops reading the client until every `why` is resumed."""
        transport = self.transport
        if not self._paused_by and transport is not None and not transport.is_closing():
            transport.pause_reading()
        self._paused_by.add(why)

    def resume(self, why: str) -> None:
        self._paused_by.discard(why)
        if not self._paused_by and self.transport is not None and not self._closing:
            self.transport.resume_reading()
            if self.request_started_ms:  # the time it was not read is not the client's
                self.request_started_ms = _now_ms()

    # --- for `ClientGuard` --------------------------------------------------------------
    def hang_up(self, message: str | None) -> None:
        """Sends `-message` (None: nothing) and closes the connection, dropping what the
        client is owed and its partial request: their memory goes at once. Unsent replies
        past `HANG_UP_FLUSH_BYTES` are dropped too, and the message with them."""
        self._closing = True
        self.session.close()
        self._slots.clear()
        self._deferred_writes.clear()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > HANG_UP_FLUSH_BYTES:
            transport.abort()
            return
        if message is not None:
            transport.write(error_reply(message))
        if not transport.can_write_eof():  # TLS
            transport.close()
            return
        # A close with the client's bytes unread makes the kernel reset the connection, and
        # a reset can drop the message before the client reads it: shut our side at once (the
        # client reads the message, then EOF), read nothing more (a client sending at full
        # speed would cost the loop), and reset the connection after the linger.
        transport.write_eof()
        self.pause("closed")
        asyncio.get_running_loop().call_later(HANG_UP_LINGER_S, transport.abort)

    def peer_name(self) -> str:
        """The client's address, `host:port`."""
        peer = None if self.transport is None else self.transport.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def unsent_bytes(self) -> int:
        """Replies written and not yet sent."""
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def paused_by_server(self) -> bool:
        return bool(self._paused_by)

    def owes_nothing(self) -> bool:
        """No reply is pending for this client."""
        return not self._slots and not self._writes_waiting and not self._reads_waiting


class KvServer:
    """The RESP server of one node: accepts clients and answers them through `node`."""

    def __init__(
        self,
        node: Node,
        machine: KvMachine,
        address: str,
        *,
        max_clients: int = 10_000,
        max_value_bytes: int = 512 << 20,
        max_reply_buffer_bytes: int = DEFAULT_MAX_REPLY_BUFFER_BYTES,
        max_batch_commands: int = 1024,
        tls: ServerTls | None = None,
        auth: AuthConfig | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.node = node
        #: The ACL users every session shares (`auth`: none, every client may run everything).
        self.users = (auth or AuthConfig()).acl_users()
        self.machine = machine
        self.host, self.port = parse_host_port(address)
        self.max_clients = max_clients
        self.max_value_bytes = max_value_bytes
        self.max_reply_buffer_bytes = max_reply_buffer_bytes
        self.max_batch_commands = max_batch_commands
        #: TLS on the client port (None: plain TCP); `tls.reload()` takes new certificates.
        self.tls = tls
        self.timeout_s = node.config.call_timeout_s
        self.reads = ReadBatcher(node, self.timeout_s)
        self.clients: set[ClientConnection] = set()
        self.limits = limits or ServerLimits()
        #: The store's bound (0: none); see `ServerLimits.maxmemory_bytes`.
        self.maxmemory_bytes = self.limits.maxmemory_bytes
        self._over_maxmemory = (-1, False)  # (applied index, answer) of `over_maxmemory`
        self.guard = ClientGuard(self.clients, self.limits, node.id, node.metrics)
        self._guarding: asyncio.Task[None] | None = None
        #: CLIENT ID of the last client accepted (ids count up from 1, as Redis's do).
        self.last_client_id = 0
        self._server: asyncio.AbstractServer | None = None
        #: Admin commands under way (membership changes), kept until they reply.
        self.admin_tasks: set[asyncio.Future[bytes]] = set()
        #: When the server was made, for INFO's uptime (`time.monotonic()`).
        self.started_s = time.monotonic()

    def over_maxmemory(self) -> bool:
        """Whether the store's estimate passes `maxmemory_bytes`: computed once per applied
        index (it walks the store's 256 tables), not on every client read."""
        if self._over_maxmemory[0] != (applied := self.node.applied_index):
            over = self.machine.store.memory_bytes() > self.maxmemory_bytes
            self._over_maxmemory = (applied, over)
        return self._over_maxmemory[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientConnection(self),
            self.host,
            self.port,
            reuse_address=True,
            ssl=None if self.tls is None else self.tls.context,
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self._guarding = loop.create_task(self.guard.run(_now_ms))
        over = "TCP" if self.tls is None else f"TLS, client certificates {self.tls.client_certs}"
        log.info("node %d: serving clients on %s:%d (%s)", self.node.id, self.host, self.port, over)

    async def stop(self) -> None:
        if self._guarding is not None:
            self._guarding.cancel()
            self._guarding = None
        if self._server is not None:
            self._server.close()
            for client in list(self.clients):
                if client.transport is not None:
                    client.transport.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    # --- node commands ------------------------------------------------------------------
    def node_command(self, payload: bytes) -> bytes | Awaitable[bytes]:
        try:
            (args,) = decode_batch(payload)
        except (SenateError, ValueError) as e:
            return error_reply(f"ERR {e}")
        name = args[0].lower()
        handler = self._node_commands.get(name)
        if handler is None:
            return error_reply(f"ERR unknown command '{args[0].decode(errors='replace')}'")
        return handler(self, args)

    def info(self, args: list[bytes]) -> bytes:
        """The reply to `INFO [section...]` (`args`, INFO first)."""
        sections = info_sections(
            self.node.status(),
            self.node.conf_state(),
            self.machine.store,
            self.port,
            len(self.clients),
            time.monotonic() - self.started_s,
            memory={
                "maxmemory": self.maxmemory_bytes,
                "maxmemory_policy": "noeviction",
                "mem_clients_normal": self.guard.total_bytes,
                "maxmemory_clients": self.guard.clients_bytes,
            },
        )
        return info_reply(sections, args)

    _node_commands: ClassVar[
        dict[bytes, Callable[[KvServer, list[bytes]], bytes | Awaitable[bytes]]]
    ] = {
        b"info": info,
        b"senate.member": lambda server, args: kv_admin.member_command(server.node, args),
        b"senate.transferleader": lambda s, args: kv_admin.transfer_leader_command(s.node, args),
    }


async def serve(
    config: ServerConfig,
    ready: Callable[[KvServer], None] | None = None,
    fault_control: Path | None = None,
) -> None:
    """Runs one node and its client server (and its metrics endpoint, when the config names
    one) until cancelled. With `fault_control`, the node's fault switches are served on that
    Unix socket (`senate.chaos.control`: chaos tests only)."""
    metrics = NodeMetrics(config.node.id, protocol=config.node.protocol)
    machine = KvMachine()
    node = Node(machine, sized_for_values(config.node, config.max_value_bytes), metrics=metrics)
    metrics_server: MetricsServer | None = None
    files, certs = config.client_tls, config.client_certs
    client_tls = None if files is None else ServerTls(files, certs)
    async with node:
        server = KvServer(
            node,
            machine,
            config.client_address,
            max_clients=config.max_clients,
            max_value_bytes=config.max_value_bytes,
            max_reply_buffer_bytes=config.max_reply_buffer_bytes,
            max_batch_commands=config.max_batch_commands,
            tls=client_tls,
            auth=config.auth,
            limits=config.limits,
        )
        await server.start()
        control = None
        watching: asyncio.Task[None] | None = None
        try:
            if config.metrics_address is not None:
                metrics_server = metrics.start_http(
                    config.metrics_address, config.metrics_tls, config.client_certs
                )
            tls = [t for t in (client_tls, metrics_server and metrics_server.tls) if t]
            if tls:  # new certificate files are taken without a restart
                watching = asyncio.get_running_loop().create_task(watch_files(tls))
            if fault_control is not None:
                from senate.chaos.control import FaultControlServer

                control = FaultControlServer(node, fault_control)
                await control.start()
            if ready is not None:
                ready(server)
            await asyncio.Event().wait()  # until cancelled
        finally:
            if watching is not None:
                watching.cancel()
            if control is not None:
                await control.stop()
            await server.stop()
            if metrics_server is not None:
                metrics_server.close()
