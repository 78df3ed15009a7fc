"""The calls that change a running cluster, made at its leader: add a learner, promote it,
remove a member (`Node.add_learner`, `promote`, `remove`) and hand the leadership over
(`Node.transfer_leader`). Each proposes through the core and waits, with a deadline, for
the configuration in force (`Members`) or the leader this node hears to show it done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from senate._core import NodeDriver, NotLeader, PaxosStatus, Status
from senate.errors import CallTimeout, Overloaded, config_error
from senate.runtime.driver import ReadyDriver
from senate.runtime.members import Members, Membership

#: Calls of `transfer_leader` that may wait at once for their target to lead (each leaves
#: when its target leads or its timeout fires); more are refused with `Overloaded`.
MAX_TRANSFER_WAITERS = 64


async def add_learner(
    members: Members,
    core: NodeDriver,
    node_id: int,
    address: str,
    parse_address: Callable[[str], object],
    timeout_s: float,
) -> Membership:
    """Adds `node_id` listening at `address` as a learner; the configuration once in force."""
    try:
        parse_address(address)
    except ValueError as e:
        raise config_error("address", str(e)) from None
    return await members.change(
        core,
        [("add-learner", node_id, address)],
        lambda m: node_id in m.learners or node_id in m.voters,
        f"add learner {node_id}",
        timeout_s,
    )


async def promote(
    members: Members, core: NodeDriver, node_id: int, timeout_s: float, tick_s: float
) -> Membership:
    """Makes learner `node_id` a voter once it holds what is committed now, all within
    `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    require_leader(core, members.node_id)
    if node_id not in members.current.learners:
        raise config_error("promote", f"node {node_id} is not a learner")
    await caught_up(core, node_id, members.node_id, deadline, tick_s)
    return await members.change(
        core,
        [("add-voter", node_id, "")],
        lambda m: node_id in m.voters and not m.joint,
        f"promote {node_id}",
        max(0.0, deadline - loop.time()),
    )


async def remove(members: Members, core: NodeDriver, node_id: int, timeout_s: float) -> Membership:
    """Removes member `node_id`; the configuration once in force and no longer joint."""
    return await members.change(
        core,
        [("remove", node_id, "")],
        lambda m: node_id not in m.members and not m.joint,
        f"remove {node_id}",
        timeout_s,
    )


def transfer_leader(
    core: NodeDriver,
    driver: ReadyDriver,
    loop: asyncio.AbstractEventLoop,
    to: int,
    timeout_s: float,
    wake: Callable[[], None],
) -> asyncio.Future[None]:
    """Asks the core to hand the leadership to `to`; the future completes when the driver
    hears `to` lead (it takes the entry out of its `leader_waiters`), or fails with
    `CallTimeout`."""
    if len(driver.leader_waiters) >= MAX_TRANSFER_WAITERS:
        raise Overloaded(f"{MAX_TRANSFER_WAITERS} calls wait for a leadership transfer")
    core.transfer_leader(to)
    wake()
    fut: asyncio.Future[None] = loop.create_future()
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # awaiting is optional
    if driver.leader == to:
        fut.set_result(None)
        return fut
    entry = (to, fut)
    driver.leader_waiters.append(entry)

    def expire() -> None:
        # The driver replaces its list as it completes waiters: look it up now.
        with contextlib.suppress(ValueError):  # the driver took it: `to` leads
            driver.leader_waiters.remove(entry)
        if not fut.done():
            fut.set_exception(CallTimeout(f"node {to} did not take the leadership in time"))

    timer = loop.call_later(timeout_s, expire)
    fut.add_done_callback(lambda _f: timer.cancel())
    return fut


def require_leader(core: NodeDriver, node_id: int) -> None:
    """Raises `NotLeader` (naming the leader when known) unless node `node_id` leads."""
    if core.role != "leader":
        err = NotLeader(f"node {node_id} is not the leader")
        err.leader_hint = core.leader
        raise err


async def caught_up(
    core: NodeDriver, learner: int, node_id: int, deadline: float, tick_s: float
) -> None:
    """Waits (checking once a tick, until the loop time `deadline`) until leader `node_id`
    knows `learner` holds the entries committed now: its match index (Raft) or matched slot
    (Multi-Paxos) in the leader's status reaches the commit index (chosen slot)."""
    target = committed(core.status())
    loop = asyncio.get_running_loop()
    while True:
        require_leader(core, node_id)
        match = {p[0]: p[1] for p in core.status().peers}.get(learner)
        if match is not None and match >= target:
            return
        if loop.time() >= deadline:
            raise CallTimeout(f"node {learner} did not catch up to index {target} in time")
        await asyncio.sleep(tick_s)


def committed(status: Status | PaxosStatus) -> int:
    """The commit index (Raft) or the highest slot known chosen (Multi-Paxos)."""
    return status.chosen if isinstance(status, PaxosStatus) else status.commit
