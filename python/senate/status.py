"""Asking nodes of the key-value service how they are: a small blocking RESP2 client, the
parser of `INFO senate`, and `probe`, which never raises for a node that is down.

The `# Senate` section of `INFO` that the server writes, one `key:value` per line:

    # Senate
    node_id:1
    pid:1234
    role:leader
    term:3
    leader:1                                  (0 when none is known)
    commit_index:100
    applied_index:100
    snapshot_index:0
    last_index:100
    peer2:connected=1,match_index=100         (match_index=-1 when unknown)
    peer3:connected=0,match_index=-1
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from senate import _core, resp
from senate.security.client_security import ClientSecurity

#: The largest bulk string or array a reply may hold here (INFO replies are small).
MAX_BULK_BYTES = 1024 * 1024
MAX_ARRAY_ITEMS = 1024

RespValue = resp.RespValue


class RespError(Exception):
    """The server answered with an error reply, or spoke something that is not RESP2."""


def encode_command(*args: str | bytes) -> bytes:
    """A command as a RESP array of bulk strings (str arguments are UTF-8)."""
    return _core.encode_command([arg.encode() if isinstance(arg, str) else arg for arg in args])


def read_reply(stream: BinaryIO) -> RespValue:
    """One reply from `stream` (through `senate.resp.read_reply`, with this module's limits);
    an error reply raises `RespError`."""
    try:
        value = resp.read_reply(stream, max_bulk_bytes=MAX_BULK_BYTES, max_elements=MAX_ARRAY_ITEMS)
    except resp.RespProtocolError as e:
        raise RespError(str(e)) from None
    if isinstance(value, resp.RespErrorReply):
        raise RespError(value.message)
    return value


def connect(
    address: tuple[str, int], timeout_s: float = 1.0, security: ClientSecurity | None = None
) -> socket.socket:
    """A connection to a node's client port, over TLS and authenticated as `security` says
    (each step within `timeout_s`). Raises OSError (refused, timed out; `ssl.SSLError`, a
    subclass, for a failed handshake) or RespError (AUTH refused)."""
    sock = socket.create_connection(address, timeout=timeout_s)
    try:
        if security is None:
            return sock
        context = security.ssl_context()
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=address[0])
        auth = security.auth_args()
        if auth is not None:
            sock.sendall(encode_command(*auth))
            with sock.makefile("rb") as stream:
                read_reply(stream)  # +OK, or RespError naming why not
    except BaseException:
        sock.close()
        raise
    return sock


def resp_call(
    address: tuple[str, int],
    *args: str | bytes,
    timeout_s: float = 1.0,
    security: ClientSecurity | None = None,
) -> RespValue:
    """Connects (see `connect`), sends one command, returns its reply. Raises OSError
    (refused, timed out), ConnectionError or RespError."""
    with connect(address, timeout_s, security) as sock:
        sock.sendall(encode_command(*args))
        with sock.makefile("rb") as stream:
            return read_reply(stream)


# --- INFO ----------------------------------------------------------------------------------


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """INFO text as {section name in lower case: {key: value}}; lines before any section
    header go in section ""."""
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("#").strip().lower(), {})
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key] = value
    return sections


@dataclass(frozen=True)
class PeerView:
    """How a node sees one of its peers."""

    id: int
    connected: bool
    #: The highest index known replicated there (known at the leader only).
    match_index: int | None


@dataclass(frozen=True)
class SenateInfo:
    """The `# Senate` section of a node's INFO."""

    node_id: int
    pid: int
    role: str
    #: Raft's term; for Multi-Paxos the round of the promised ballot.
    term: int
    #: None when the node knows no leader.
    leader: int | None
    commit_index: int
    applied_index: int
    snapshot_index: int
    last_index: int
    peers: list[PeerView]
    #: "raft" or "paxos" (a node that does not say is a Raft node of an older version).
    protocol: str = "raft"
    #: Multi-Paxos only: the promised ballot, "round.node id".
    ballot: str | None = None

    @classmethod
    def parse(cls, text: str) -> SenateInfo:
        """Reads the `# Senate` section of INFO text; raises ValueError naming what is wrong."""
        fields = parse_info(text).get("senate")
        if fields is None:
            raise ValueError("INFO has no '# Senate' section")

        def number(key: str) -> int:
            if key not in fields:
                raise ValueError(f"INFO senate lacks {key!r}")
            try:
                return int(fields[key])
            except ValueError:
                raise ValueError(f"INFO senate {key}: not an integer: {fields[key]!r}") from None

        if "role" not in fields:
            raise ValueError("INFO senate lacks 'role'")
        peers = [
            _parse_peer(key, value)
            for key, value in fields.items()
            if key.startswith("peer") and key[4:].isdigit()
        ]
        leader = number("leader")
        return cls(
            node_id=number("node_id"),
            pid=number("pid"),
            role=fields["role"],
            term=number("term"),
            leader=leader or None,
            commit_index=number("commit_index"),
            applied_index=number("applied_index"),
            snapshot_index=number("snapshot_index"),
            last_index=number("last_index"),
            peers=sorted(peers, key=lambda p: p.id),
            protocol=fields.get("protocol", "raft"),
            ballot=fields.get("ballot"),
        )

    @property
    def peers_connected(self) -> int:
        return sum(p.connected for p in self.peers)


def _parse_peer(key: str, value: str) -> PeerView:
    attrs = dict(part.partition("=")[::2] for part in value.split(","))
    try:
        match = int(attrs["match_index"])
        return PeerView(int(key[4:]), attrs["connected"] == "1", None if match < 0 else match)
    except (KeyError, ValueError):
        raise ValueError(f"INFO senate {key}: cannot read {value!r}") from None


# --- probing nodes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeReport:
    """What one endpoint answered: `info` when it is up, else `error`."""

    address: str
    info: SenateInfo | None
    error: str | None = None
    #: The node id the caller expects there (from a cluster file), if known.
    expected_id: int | None = None

    @property
    def up(self) -> bool:
        return self.info is not None


def probe(
    address: str,
    timeout_s: float = 1.0,
    expected_id: int | None = None,
    security: ClientSecurity | None = None,
) -> NodeReport:
    """`INFO senate` of the node at `address` ("host:port"), connecting as `security` says;
    a node that cannot be reached, refuses the handshake or the credentials, or answers
    nonsense is reported down with the reason, never raised."""
    from senate.runtime.transport import parse_host_port

    try:
        reply = resp_call(
            parse_host_port(address), "INFO", "senate", timeout_s=timeout_s, security=security
        )
        if not isinstance(reply, bytes):
            raise RespError(f"INFO answered {reply!r}")
        info = SenateInfo.parse(reply.decode(errors="replace"))
    except (OSError, RespError, ValueError) as e:
        return NodeReport(address, None, f"{type(e).__name__}: {e}", expected_id)
    return NodeReport(address, info, None, expected_id)


def leader_commit(reports: Sequence[NodeReport]) -> int | None:
    """The commit index of the leader of the highest term among the reports, if any."""
    leaders = [r.info for r in reports if r.info is not None and r.info.role == "leader"]
    if not leaders:
        return None
    return max(leaders, key=lambda i: i.term).commit_index


def report_json(report: NodeReport, leader_commit_index: int | None) -> dict[str, Any]:
    """One report as a JSON object; `lag` is the leader's commit index minus the node's
    applied index (None when either is unknown)."""
    info = report.info
    record: dict[str, Any] = {"address": report.address, "up": info is not None}
    if info is None:
        record.update(id=report.expected_id, error=report.error)
        return record
    record.update(asdict(info))
    record["id"] = record.pop("node_id")
    record["lag"] = (
        None if leader_commit_index is None else leader_commit_index - info.applied_index
    )
    return record
