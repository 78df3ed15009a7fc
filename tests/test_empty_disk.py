"""A node process restarted with an empty data directory under its old id (a machine that lost
its disk, `senate_core::raft::empty_disk`): it does not vote in an election it could swing,
it is reported, and it gets the log back from the leader."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from test_cluster_processes import TICK_MS, ProcCluster, add_many, wait_for

#: The longest election timeout of the node processes: [15, 30) ticks of 10 ms.
ELECTION_TIMEOUT_MAX_S = 30 * TICK_MS / 1000


def recovered(c: ProcCluster, node_id: int) -> bool:
    return bool(c.status(node_id)["empty_disk"] == "recovered")


def test_a_node_back_with_an_empty_disk_does_not_vote_until_it_has_the_log(
    tmp_path: Path,
) -> None:
    c = ProcCluster(tmp_path)
    try:
        for i in c.ids:
            c.start(i)
        leader = wait_for("a leader", c.leader)
        acked: list[str] = []
        add_many(c, leader, [f"a{k}" for k in range(10)], acked)
        wiped, other = (i for i in c.ids if i != leader)
        c.kill(wiped)
        shutil.rmtree(tmp_path / f"data{wiped}")
        c.kill(leader)  # now `other` can win only with the wiped node's vote
        c.start(wiped)
        wait_for("the wiped node to abstain", lambda: c.status(wiped)["empty_disk"] == "abstaining")
        wait_for("the other node to campaign", lambda: c.status(other)["role"] != "follower")
        # An election takes one election timeout; for ten, nobody may win. (A window, not a
        # wait: it fails as soon as a leader is seen.)
        window_end = time.monotonic() + 10 * ELECTION_TIMEOUT_MAX_S
        while time.monotonic() < window_end:
            assert c.status(other)["role"] != "leader", "elected with the wiped node's vote"
            assert c.status(wiped)["role"] == "follower", "the wiped node campaigned"
            time.sleep(0.05)
        assert "empty disk" in c.log_text(wiped)

        c.start(leader)
        new_leader = wait_for("a leader", c.leader)
        assert new_leader != wiped
        wait_for("the wiped node to get the log", lambda: len(c.tags(wiped)) >= len(acked))
        assert c.tags(wiped) == c.tags(new_leader)
        # The runtime reads the core's empty-disk state at its next tick: wait for it.
        wait_for("the wiped node to report it recovered", lambda: recovered(c, wiped))
    finally:
        c.stop_all()


def test_the_leader_reports_a_follower_that_lost_its_log_and_sends_it_again(
    tmp_path: Path,
) -> None:
    c = ProcCluster(tmp_path)
    try:
        for i in c.ids:
            c.start(i)
        leader = wait_for("a leader", c.leader)
        acked: list[str] = []
        add_many(c, leader, [f"a{k}" for k in range(10)], acked)
        wiped = next(i for i in c.ids if i != leader)
        term = c.status(leader)["term"]
        c.kill(wiped)
        shutil.rmtree(tmp_path / f"data{wiped}")
        c.start(wiped)
        # No new write: the leader's heartbeats alone reveal the loss.
        wait_for("the wiped node to get the log", lambda: len(c.tags(wiped)) >= len(acked))
        assert c.tags(wiped) == c.tags(leader)
        if c.status(leader)["term"] == term:  # (a new leader knows of no acknowledgement)
            # Logged at the leader's next tick after its core saw the loss, which may come
            # after the wiped node already has the log again: wait for it.
            reported = f"peer {wiped} lost entries it had acknowledged"
            wait_for("the leader to report the loss", lambda: reported in c.log_text(leader))
        wait_for("the wiped node to report it recovered", lambda: recovered(c, wiped))
        wait_for("the leader to list no lost log", lambda: c.status(leader)["lost_log_peers"] == [])
    finally:
        c.stop_all()
