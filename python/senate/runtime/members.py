"""The members of a node's cluster as the runtime sees them: the configuration in force (from
the core, which carries membership changes out itself) and where each member listens.

A change that adds a member carries its peer address in the log entry (the core's
`ConfChange`), so every node learns it when the change is handed out to apply
(`ACTION_CONF_CHANGED`); the transport then connects to the new member, and drops a removed
one. The addresses a node learned are kept in `<data_dir>/members.json` (written atomically,
fsync'ed: changes are rare), so that a restart whose log was compacted past a change still
knows where that member lives. The configured `peers` are the starting point. A node that
catches up by a snapshot instead of the changes learns the addresses from the snapshot, which
carries the address book of the node that took it (`senate.runtime.snapshots`): it fills in
the members this node has no address for.

The runtime waits for a change it proposed by waiting for the configuration in force to
satisfy what the change asks (`wait_for`): a change lost with the leadership that proposed it
ends in `CallTimeout`, and the caller may try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

import msgpack

from senate._core import NodeDriver, SenateError
from senate.errors import CallTimeout, Overloaded

log = logging.getLogger("senate.node")

#: The file of learned member addresses in a node's data directory.
MEMBERS_FILE = "members.json"
#: Calls waiting for a membership change to take effect, at most (more are refused).
MAX_CONF_WAITERS = 64

#: A member's role, as the core names them (`MemberRole`).
ROLES = ("voter", "outgoing-voter", "learner", "non-member")


@dataclass(frozen=True)
class Membership:
    """A configuration: who votes, who learns, and where each member listens."""

    #: The voters (of the configuration being entered, while joint), ascending.
    voters: tuple[int, ...]
    #: Members that receive the log and neither vote nor count for commit, ascending.
    learners: tuple[int, ...] = ()
    #: While joint: the voters of the configuration being left (elections and commits need a
    #: majority of both); empty otherwise.
    voters_outgoing: tuple[int, ...] = ()
    #: Every member's peer address "host:port", when known.
    addresses: Mapping[int, str] = field(default_factory=dict)

    @property
    def joint(self) -> bool:
        return bool(self.voters_outgoing)

    @property
    def members(self) -> list[int]:
        return sorted({*self.voters, *self.voters_outgoing, *self.learners})

    def role(self, node_id: int) -> str:
        """One of `ROLES`: a voter of the configuration entered, one only of the one left,
        a learner, or not a member."""
        if node_id in self.voters:
            return "voter"
        if node_id in self.voters_outgoing:
            return "outgoing-voter"
        if node_id in self.learners:
            return "learner"
        return "non-member"

    def roles(self) -> dict[int, str]:
        return {member: self.role(member) for member in self.members}


class PeerDirectory(Protocol):
    """What `Members` needs of the transport: to be told the peers to keep connections with."""

    def set_peers(self, peers: Mapping[int, tuple[str, int]]) -> None: ...


class Members:
    """The configuration in force at one node and the member addresses it knows."""

    def __init__(
        self,
        node_id: int,
        peers: Mapping[int, str],
        data_dir: str | None,
        parse_address: Callable[[str], tuple[str, int]],
        disk: Executor | None = None,
    ) -> None:
        self.node_id = node_id
        #: Where the address file is written (the node's disk thread: fsync stays off the
        #: event loop); None writes it in the caller's thread.
        self._disk = disk
        self._parse = parse_address
        self._path = None if data_dir is None else os.path.join(data_dir, MEMBERS_FILE)
        #: Every member's (and former member's) peer address known, this node's included.
        self.addresses: dict[int, str] = dict(peers)
        self.addresses.update(self._load())
        self.current = Membership(voters=tuple(sorted(peers)))
        self._transport: PeerDirectory | None = None
        self._wake: Callable[[], None] | None = None
        self._waiters: list[tuple[Callable[[Membership], bool], asyncio.Future[Membership]]] = []
        #: Called with the configuration whenever it changes (metrics).
        self.on_change: Callable[[Membership], None] = lambda _m: None

    # --- the configuration in force -------------------------------------------------------
    def start(
        self,
        conf: tuple[list[int], list[int], list[int], bool],
        transport: PeerDirectory,
        wake: Callable[[], None],
    ) -> None:
        """The core's configuration at start (`NodeDriver.conf_state()`), the transport to
        keep connected to its members, and how to wake the node's driver."""
        self._transport = transport
        self._wake = wake
        voters, learners, outgoing, _auto_leave = conf
        self._set(voters, learners, outgoing)
        self.on_change(self.current)

    def on_conf_changed(
        self,
        voters: list[int],
        learners: list[int],
        outgoing: list[int],
        addresses: list[tuple[int, str]],
    ) -> None:
        """`ACTION_CONF_CHANGED`: the configuration in force and the addresses the changes
        carried."""
        learned = {i: a for i, a in addresses if self.addresses.get(i) != a}
        if learned:
            self.addresses.update(learned)
            self._save()
        self._set(voters, learners, outgoing)

    def encode_addresses(self) -> bytes:
        """The address book as a snapshot carries it (`decode_addresses`)."""
        data: bytes = msgpack.packb(sorted(self.addresses.items()))
        return data

    def learn(self, addresses: Mapping[int, str]) -> None:
        """A restored snapshot's address book: adds the addresses of members this node knows
        none for (one it knows came from its configuration or from a change it applied, which
        it keeps) and dials the members of the configuration in force it can now reach."""
        learned = {i: a for i, a in addresses.items() if i not in self.addresses}
        if not learned:
            return
        log.info(
            "node %d: learned from a snapshot the addresses of %s",
            self.node_id,
            ", ".join(map(str, sorted(learned))),
        )
        self.addresses.update(learned)
        self._save()
        voters, learners, outgoing = (
            self.current.voters,
            self.current.learners,
            self.current.voters_outgoing,
        )
        self._set(list(voters), list(learners), list(outgoing))

    def _set(self, voters: list[int], learners: list[int], outgoing: list[int]) -> None:
        before = self.current
        self.current = Membership(
            voters=tuple(voters),
            learners=tuple(learners),
            voters_outgoing=tuple(outgoing),
            addresses={m: self.addresses[m] for m in self._members(voters, learners, outgoing)},
        )
        if self._transport is not None:
            self._transport.set_peers(self._peer_addresses())
        if (before.voters, before.learners, before.voters_outgoing) != (
            self.current.voters,
            self.current.learners,
            self.current.voters_outgoing,
        ):
            log.info(
                "node %d: configuration %s",
                self.node_id,
                ", ".join(f"{m} {r}" for m, r in self.current.roles().items()),
            )
            self.on_change(self.current)
        self._wake_waiters()

    def _members(self, voters: list[int], learners: list[int], outgoing: list[int]) -> list[int]:
        return sorted(m for m in {*voters, *learners, *outgoing} if m in self.addresses)

    def _peer_addresses(self) -> dict[int, tuple[str, int]]:
        """The peers to stay connected with: every member but this node whose address is
        known (one without is logged, unreachable). While this node is no member (it joins),
        every node whose address it knows: the leader that adds it may be a member it has
        not heard of yet, which dials it (the node of the lower id dials), and its
        connection must be accepted."""
        ids = self.current.members
        if self.node_id not in ids:
            ids = sorted({*ids, *self.addresses})
        peers: dict[int, tuple[str, int]] = {}
        for member in ids:
            if member == self.node_id:
                continue
            try:
                peers[member] = self._parse(self.addresses[member])
            except (KeyError, ValueError):
                log.warning("node %d: no usable address for member %d", self.node_id, member)
        return peers

    # --- changing it -----------------------------------------------------------------------
    async def change(
        self,
        core: NodeDriver,
        changes: list[tuple[str, int, str]],
        done: Callable[[Membership], bool],
        what: str,
        timeout_s: float,
    ) -> Membership:
        """Proposes `changes` (at the leader: the core raises `NotLeader` elsewhere) and
        returns the configuration once `done` holds for it."""
        core.propose_conf_change(changes)
        if self._wake is not None:
            self._wake()
        membership = await self.wait_for(done, timeout_s, what)
        log.info("node %d: %s done", self.node_id, what)
        return membership

    async def wait_for(
        self, done: Callable[[Membership], bool], timeout_s: float, what: str
    ) -> Membership:
        """Returns the configuration in force once `done` holds for it; `CallTimeout` naming
        `what` when it does not within `timeout_s`."""
        if done(self.current):
            return self.current
        if len(self._waiters) >= MAX_CONF_WAITERS:
            raise Overloaded(f"{MAX_CONF_WAITERS} calls wait for membership changes")
        fut: asyncio.Future[Membership] = asyncio.get_running_loop().create_future()
        entry = (done, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise CallTimeout(f"{what}: not in force within {timeout_s:g} s") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _wake_waiters(self) -> None:
        for done, fut in list(self._waiters):
            if not fut.done() and done(self.current):
                fut.set_result(self.current)

    def fail_all(self, error: BaseException) -> None:
        for _done, fut in self._waiters:
            if not fut.done():
                fut.set_exception(error)

    # --- the address file -------------------------------------------------------------------
    def _load(self) -> dict[int, str]:
        if self._path is None or not os.path.exists(self._path):
            return {}
        try:
            with open(self._path, encoding="utf-8") as f:
                data = json.load(f)
            return {int(i): str(a) for i, a in data["addresses"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            # The log is the truth: a lost file costs only addresses of members added before
            # the last snapshot, which a restart with those peers configured restores.
            log.error("node %d: ignoring unreadable %s: %s", self.node_id, self._path, e)
            return {}

    def _save(self) -> None:
        if self._path is None:
            return
        text = json.dumps({"addresses": {str(i): a for i, a in sorted(self.addresses.items())}})
        if self._disk is None:
            self._write(self._path, text)
        else:
            self._disk.submit(self._write, self._path, text)

    def _write(self, path: str, text: str) -> None:
        """Replaces the address file durably: the data, then the rename, are synced."""
        tmp = path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            log.error("node %d: could not write %s: %s", self.node_id, path, e)


def decode_addresses(data: bytes) -> dict[int, str]:
    """A snapshot's address book (`Members.encode_addresses`: a MessagePack array of
    [id, "host:port"] pairs); `SenateError` when it is not one."""
    try:
        pairs = msgpack.unpackb(data)
        book = {int(i): a for i, a in pairs if isinstance(i, int) and isinstance(a, str)}
        if len(book) != len(pairs):
            raise ValueError("an id that is no integer or an address that is no string")
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise SenateError(f"snapshot's address book is malformed: {e}") from None
    return book
