"""The admin commands of the key-value service: the cluster's membership and leadership
through the client port (docs/membership.md).

    SENATE.MEMBER LIST                  every member: [id, role, peer address]
    SENATE.MEMBER ADD id host:port      adds a learner that listens for peers at host:port
    SENATE.MEMBER PROMOTE id            makes a caught-up learner a voter
    SENATE.MEMBER REMOVE id             removes a voter or a learner
    SENATE.TRANSFERLEADER id            the leader hands its leadership to voter id

The command table (Rust, `kv::command`) checks the names, the arity and the ACL (@admin
@slow @dangerous: a user without `+@admin` gets `-NOPERM`); this module reads the arguments
and runs the node's calls (`Node.add_learner`, ...). A change replies `+OK` once it is in
force at the leader. At a follower a change is refused with `-NOTLEADER leader <id>` (or
`-NOTLEADER no leader known`): the change is checked against the configuration only the
leader knows to be current, and the client retries there (`senate member` does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from senate._core import ConfigError, NotLeader, ProposalDropped
from senate.errors import CallTimeout, NodeNotRunning, Overloaded
from senate.kv_replies import bulk_reply, error_reply
from senate.runtime.node import Node

#: The syntax, for error replies.
MEMBER_USAGE = "SENATE.MEMBER LIST | ADD id host:port | PROMOTE id | REMOVE id"


def member_list_reply(node: Node) -> bytes:
    """`*n` arrays of `[id, role, address]`, ascending by id."""
    membership = node.conf_state()
    rows = [
        b"*3\r\n:%d\r\n%s%s"
        % (m, bulk_reply(role.encode()), bulk_reply(membership.addresses.get(m, "").encode()))
        for m, role in membership.roles().items()
    ]
    return b"*%d\r\n" % len(rows) + b"".join(rows)


def _node_id(arg: bytes) -> int | None:
    try:
        value = int(arg)
    except ValueError:
        return None
    return value if 1 <= value < 2**64 else None


def member_command(node: Node, args: list[bytes]) -> bytes | Awaitable[bytes]:
    """SENATE.MEMBER: the reply at once (LIST, errors), or an awaitable of it (changes)."""
    sub = args[1].lower()
    if sub == b"list" and len(args) == 2:
        return member_list_reply(node)
    calls: dict[tuple[bytes, int], Callable[[int, list[bytes]], Awaitable[object]]] = {
        (b"add", 4): lambda i, a: node.add_learner(i, a[3].decode(errors="replace")),
        (b"promote", 3): lambda i, _a: node.promote(i),
        (b"remove", 3): lambda i, _a: node.remove(i),
    }
    call = calls.get((sub, len(args)))
    if call is None:
        return error_reply(f"ERR syntax error: {MEMBER_USAGE}")
    node_id = _node_id(args[2])
    if node_id is None:
        return error_reply("ERR the node id must be an integer from 1")
    return _ok_when_done(call(node_id, args))


def transfer_leader_command(node: Node, args: list[bytes]) -> bytes | Awaitable[bytes]:
    node_id = _node_id(args[1])
    if node_id is None:
        return error_reply("ERR the node id must be an integer from 1")
    try:
        done = node.transfer_leader(node_id)
    except Exception as e:  # raised at once: not running, an unknown id
        return reply_for_admin_error(e)
    return _ok_when_done(done)


async def _ok_when_done(call: Awaitable[object]) -> bytes:
    try:
        await call
    except Exception as e:
        return reply_for_admin_error(e)
    return b"+OK\r\n"


def reply_for_admin_error(error: BaseException) -> bytes:
    if isinstance(error, NotLeader):
        hint = error.leader_hint
        return error_reply("NOTLEADER " + ("no leader known" if hint is None else f"leader {hint}"))
    if isinstance(error, Overloaded):  # as the data path answers it (kv_replies)
        return error_reply(f"BUSY {error}")
    if isinstance(error, (ProposalDropped, CallTimeout, NodeNotRunning)):
        return error_reply(f"TRYAGAIN {error}")
    if isinstance(error, ConfigError):
        return error_reply(f"ERR {getattr(error, 'problem', None) or error}")
    return error_reply(f"ERR {type(error).__name__}: {error}")
