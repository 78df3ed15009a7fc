"""Membership changes of the key-value service under load, with real `senate serve`
processes, sockets and disks: the CLI (`senate member`, `senate transfer-leader`) and the
admin commands (`SENATE.MEMBER`, `SENATE.TRANSFERLEADER`) through the client port.

One cluster serves the whole story (a cluster start is the expensive part): three nodes
under writes add a fourth as a learner, promote it and remove an old one; then a killed node
is replaced by the documented procedure (a new id added as a learner, promoted, the old id
removed). Every acknowledged write is read back on every member at the end. Admin commands
need `+@admin`; bad ones get RESP errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from senate.auth import password_hash
from senate.cli import main
from senate.launcher import LocalCluster, free_base_port
from senate.status import parse_info, resp_call
from waiting import wait_until

PASSWORD = "secret"
USERS = [
    "user default on nopass ~* +@all",
    f"user app on {password_hash(PASSWORD.encode())} ~* +@read +@write",
]
REPLY_TIMEOUT_S = 30.0


class Writer(threading.Thread):
    """Writes distinct keys through one node until stopped; keeps the acknowledged ones."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = connect(port)
        self.acknowledged: list[str] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            key = f"k{i}"
            i += 1
            try:
                if self.client.set(key, key):
                    self.acknowledged.append(key)
            except (redis.ResponseError, redis.ConnectionError, redis.TimeoutError):
                self.failures += 1  # TRYAGAIN during an election: not acknowledged

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(REPLY_TIMEOUT_S)
        return self.acknowledged


def connect(port: int, **options: Any) -> Any:
    """A redis-py client (typed Any: redis-py's annotations cover its sync and async clients
    at once)."""
    return redis.Redis(port=port, socket_timeout=REPLY_TIMEOUT_S, **options)


def client_port(cluster: LocalCluster, node_id: int) -> int:
    return int(cluster.config.addresses(node_id).client.rsplit(":", 1)[1])


def senate_cli(cluster: LocalCluster, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--config", str(cluster.config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def info_text(port: int, section: str) -> str:
    text = resp_call(("127.0.0.1", port), "INFO", section, timeout_s=REPLY_TIMEOUT_S)
    assert isinstance(text, bytes)
    return text.decode()


def cluster_info(port: int) -> dict[str, str]:
    return parse_info(info_text(port, "cluster"))["cluster"]


def members_seen(cluster: LocalCluster, node_id: int) -> dict[int, str]:
    """Each member's role as node `node_id` sees them; {} while it does not answer yet."""
    try:
        info = cluster_info(client_port(cluster, node_id))
    except OSError:
        return {}
    return {int(k[6:]): v.split(",")[0][5:] for k, v in info.items() if k[6:].isdigit()}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("membership")
    # Room for the two nodes that join (ids 4 and 5).
    base = free_base_port(5)
    overrides: dict[str, Any] = {"auth": {"users": USERS}, "tick_ms": 10}
    with LocalCluster(nodes=3, data_dir=root, base_port=base, overrides=overrides) as c:
        c.wait_ready(timeout_s=60)
        yield c


def test_members_are_added_promoted_removed_and_replaced_under_writes(local: LocalCluster) -> None:
    writer = Writer(client_port(local, 3))  # node 3 stays a member throughout
    writer.start()
    wait_until("writes acknowledged", lambda: len(writer.acknowledged) >= 50)
    listed = senate_cli(local, "member", "list")
    assert [line.split()[:2] for line in listed.splitlines()] == [
        ["1", "voter"],
        ["2", "voter"],
        ["3", "voter"],
    ]
    # A fourth node joins: started empty with --join, added as a learner, promoted.
    joiner = local.add_node()
    assert joiner == 4
    peer = local.config.addresses(joiner).peer
    assert "added as a learner" in senate_cli(local, "member", "add", "4", peer)
    wait_until("node 4 is a learner everywhere", lambda: members_seen(local, 4).get(4) == "learner")
    senate_cli(local, "member", "promote", "4")
    # An old voter leaves (the leader, if node 1 leads: it hands its leadership over).
    senate_cli(local, "member", "remove", "1")
    local.kill(1)
    wait_until(
        "the configuration 2, 3, 4 at node 4",
        lambda: members_seen(local, 4) == {2: "voter", 3: "voter", 4: "voter"},
    )
    info = cluster_info(client_port(local, 4))
    assert (info["voters"], info["learners"], info["joint"]) == ("2,3,4", "", "0")
    # Node 4 leads: the node that joins next knows it only from the log it has not got, and
    # must take its connection all the same.
    assert "node 4 leads" in senate_cli(local, "transfer-leader", "4")
    # Replacing a dead machine: node 2 is killed; node 5 is added, promoted; 2 is removed.
    local.kill(2)
    before = len(writer.acknowledged)
    replacement = local.add_node()
    senate_cli(local, "member", "add", str(replacement), local.config.addresses(replacement).peer)
    senate_cli(local, "member", "promote", str(replacement))
    senate_cli(local, "member", "remove", "2")
    wait_until("writes go on", lambda: len(writer.acknowledged) > before + 50)
    senate_cli(local, "transfer-leader", str(replacement))
    acknowledged = writer.stop()
    assert writer.failures < len(acknowledged)
    for node_id in (3, 4, replacement):
        assert members_seen(local, node_id) == {3: "voter", 4: "voter", replacement: "voter"}
        store = connect(client_port(local, node_id))
        for start in range(0, len(acknowledged), 500):
            keys = acknowledged[start : start + 500]
            assert store.mget(keys) == [k.encode() for k in keys], f"node {node_id}"
    assert "leader:5" in senate_cli(local, "status", "--json").replace(" ", "").replace('"', "")


def test_admin_commands_need_admin_and_bad_ones_get_errors(local: LocalCluster) -> None:
    port = client_port(local, 3)
    app = connect(port, username="app", password=PASSWORD)
    assert app.set("app-key", "1")
    for command in (("SENATE.MEMBER", "LIST"), ("SENATE.TRANSFERLEADER", "3")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.execute_command(*command)
    admin = connect(port)
    bad: dict[tuple[str, ...], str] = {
        ("SENATE.MEMBER", "FROB"): "syntax error",
        ("SENATE.MEMBER", "ADD", "x", "127.0.0.1:1"): "node id",
        ("SENATE.MEMBER", "ADD", "9", "no port"): "host:port",
        ("SENATE.MEMBER",): "wrong number of arguments",
        ("SENATE.TRANSFERLEADER", "1", "2"): "wrong number of arguments",
    }
    for args, message in bad.items():
        with pytest.raises(redis.ResponseError, match=message):
            admin.execute_command(*args)
    # The leader says why a change does not apply; a follower names the leader.
    senate = parse_info(info_text(port, "senate"))["senate"]
    leader = int(senate["leader"])
    at_leader = connect(client_port(local, leader))
    with pytest.raises(redis.ResponseError, match="node 77 is not a learner"):
        at_leader.execute_command("SENATE.MEMBER", "PROMOTE", "77")
    with pytest.raises(redis.ResponseError, match="node 77 is not a member"):
        at_leader.execute_command("SENATE.MEMBER", "REMOVE", "77")
    follower = next(i for i in local.config.ids if i != leader and members_seen(local, i))
    with pytest.raises(redis.ResponseError, match=f"NOTLEADER leader {leader}"):
        connect(client_port(local, follower)).execute_command("SENATE.MEMBER", "REMOVE", "77")
    rows = admin.execute_command("SENATE.MEMBER", "LIST")
    assert [row[1] for row in rows] == [b"voter"] * 3
