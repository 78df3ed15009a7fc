"""Membership changes sent to a running cluster through its client ports: the admin commands
of `senate.kv_admin` (`SENATE.MEMBER ...`, `SENATE.TRANSFERLEADER`) made at the leader, and
the documented replacement of a member (docs/membership.md): add a learner under a new id,
promote it, remove the old id.

`call_leader` asks the nodes in turn and follows a `NOTLEADER leader <id>` reply to that
node; `senate member`, `senate cluster add-node|remove-node`, `senate chaos` (the
"replace" fault) and benches/replace_under_load.py go through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from senate.runtime.transport import parse_host_port
from senate.security.client_security import ClientSecurity
from senate.status import RespError, RespValue, resp_call

#: The pause between rounds of asking the nodes (no leader known, none answering).
RETRY_PAUSE_S = 0.1
#: Error replies that mean "ask again later": a change under way or one whose outcome the
#: node could not wait for (the leadership moved), an overloaded node.
TRANSIENT_PREFIXES: tuple[str, ...] = ("TRYAGAIN", "BUSY")


class MemberCallError(Exception):
    """A node refused the command (`final`: an error reply that asking again will not
    change), or no node answered it within the deadline."""

    def __init__(
        self, message: str, final: bool, address: str | None = None, retried: bool = False
    ) -> None:
        super().__init__(message)
        self.final = final
        #: The node that answered the error reply (the leader, for a change it refused).
        self.address = address
        #: Whether the command was sent again after a TRYAGAIN or BUSY before this reply.
        self.retried = retried


def call_leader(
    addresses: Sequence[str],
    *args: str,
    by_id: Mapping[int, str] | None = None,
    timeout_s: float = 30.0,
    security: ClientSecurity | None = None,
    retry_transient: bool = False,
) -> tuple[str, RespValue]:
    """Sends `args` to the client `addresses` until one answers other than NOTLEADER
    (following the leader it names, by its address in `by_id`), in rounds until `timeout_s`
    passed (an election may be under way); returns that node's address and its reply.

    An error reply other than NOTLEADER raises `MemberCallError(final=True)` at once, unless
    `retry_transient` and it is a TRYAGAIN (a change under way, the leadership moved) or a
    BUSY: then it is asked again. No answer in time raises `MemberCallError(final=False)`
    naming the last problem."""
    by_id = dict(by_id or {})
    deadline = time.monotonic() + timeout_s
    problem = "no node answered"
    retried = False
    while True:
        queue = list(addresses)
        tried: set[str] = set()
        while queue:
            address = queue.pop(0)
            if address in tried:
                continue
            tried.add(address)
            remaining_s = max(0.01, deadline - time.monotonic())
            try:
                reply = resp_call(
                    parse_host_port(address), *args, timeout_s=remaining_s, security=security
                )
                return address, reply
            except RespError as e:
                message = str(e)
                problem = f"{address}: {message}"
                if message.startswith("NOTLEADER"):
                    leader = message.rsplit(" ", 1)[-1]
                    if leader.isdigit() and int(leader) in by_id:
                        queue.insert(0, by_id[int(leader)])
                elif retry_transient and message.startswith(TRANSIENT_PREFIXES):
                    retried = True
                else:
                    raise MemberCallError(problem, True, address, retried) from None
            except OSError as e:
                problem = f"{address}: {e}"
        if time.monotonic() >= deadline:
            raise MemberCallError(problem, final=False)
        time.sleep(RETRY_PAUSE_S)


@dataclass
class Replacement:
    """What `replace_member` did: the seconds each step ended at (from its start), by step:
    "add", "promote", "remove" (and "transfer" when the old member led and `transfer_first`)."""

    old_id: int
    new_id: int
    step_end_s: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return max(self.step_end_s.values(), default=0.0)


#: The changes `change_member` makes: the admin command of each, by step name.
CHANGE_COMMANDS: dict[str, tuple[str, ...]] = {
    "add": ("SENATE.MEMBER", "ADD"),
    "promote": ("SENATE.MEMBER", "PROMOTE"),
    "remove": ("SENATE.MEMBER", "REMOVE"),
    "transfer": ("SENATE.TRANSFERLEADER",),
}


def change_member(
    members: Mapping[int, str],
    step: str,
    node_id: int,
    peer: str | None = None,
    timeout_s: float = 60.0,
    security: ClientSecurity | None = None,
) -> str:
    """One change at the leader (`step` among `CHANGE_COMMANDS`; `peer` the address of a
    node added), asked again on TRYAGAIN (an election, a change under way) until `timeout_s`.
    A change asked again (after a TRYAGAIN) that the leader refuses because it is in force
    already (`ADD` of a member, `PROMOTE` of a voter, `REMOVE` of a non-member) is done: a
    removed Multi-Paxos leader, for one, answers TRYAGAIN as it does not apply its own
    removal. Returns the address of the node that answered (the leader); raises
    `MemberCallError` otherwise."""
    args = (*CHANGE_COMMANDS[step], str(node_id), *([peer] if peer is not None else []))
    try:
        address, _reply = call_leader(
            list(members.values()),
            *args,
            by_id=members,
            timeout_s=timeout_s,
            security=security,
            retry_transient=True,
        )
    except MemberCallError as e:
        if not e.retried or e.address is None:
            raise
        if not _in_force(step, e.address, node_id, security):
            raise
        return e.address
    return address


def _in_force(step: str, leader: str, node_id: int, security: ClientSecurity | None) -> bool:
    """Whether `step` of `node_id` is in force in the configuration at `leader` (the node
    that refused it: only the leader checks a change)."""
    roles = member_roles({0: leader}, security=security)
    if step == "add":
        return node_id in roles
    if step == "promote":
        return roles.get(node_id) == "voter"
    if step == "remove":
        return node_id not in roles
    return False


def replace_member(
    members: Mapping[int, str],
    old_id: int,
    new_id: int,
    new_peer: str,
    timeout_s: float = 60.0,
    security: ClientSecurity | None = None,
    transfer_to: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Replacement:
    """Replaces member `old_id` by `new_id` (started with `--join`, listening for peers at
    `new_peer`) as docs/membership.md says: add it as a learner, promote it, remove the old
    id (each step by `change_member`). `members` maps the ids to ask to their client
    addresses. With `transfer_to`, the leadership moves to that voter first (when the old
    member leads, before stopping it); without, a removed leader hands it over by itself.
    The whole takes `timeout_s` at most. `on_step(name)` is called as each step ends."""
    done = Replacement(old_id, new_id)
    started = time.monotonic()
    steps: list[tuple[str, int, str | None]] = [
        ("add", new_id, new_peer),
        ("promote", new_id, None),
    ]
    if transfer_to is not None:
        steps.append(("transfer", transfer_to, None))
    steps.append(("remove", old_id, None))
    for name, node_id, peer in steps:
        remaining_s = max(0.01, timeout_s - (time.monotonic() - started))
        change_member(members, name, node_id, peer, remaining_s, security)
        done.step_end_s[name] = time.monotonic() - started
        if on_step is not None:
            on_step(name)
    return done


def member_roles(
    members: Mapping[int, str], timeout_s: float = 10.0, security: ClientSecurity | None = None
) -> dict[int, str]:
    """The configuration in force at the first node that answers (the leader when the
    first address is the leader's): {id: role}, roles as `SENATE.MEMBER LIST` names them."""
    _address, reply = call_leader(
        list(members.values()),
        "SENATE.MEMBER",
        "LIST",
        by_id=members,
        timeout_s=timeout_s,
        security=security,
        retry_transient=True,
    )
    assert isinstance(reply, list)
    roles = {}
    for row in reply:
        assert isinstance(row, list)
        node_id, role = row[0], row[1]
        roles[int(node_id)] = role.decode() if isinstance(role, bytes) else str(role)
    return roles
