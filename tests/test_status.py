"""`INFO senate` parsing and `senate status` against nodes that are not there."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from cluster import free_ports
from senate.cli import main
from senate.status import PeerView, RespError, SenateInfo, encode_command, read_reply

INFO = (
    "# Server\r\nredis_version:7.0.0\r\n\r\n"
    "# Senate\r\nnode_id:1\r\npid:1234\r\nrole:leader\r\nterm:3\r\nleader:1\r\n"
    "commit_index:100\r\napplied_index:99\r\nsnapshot_index:0\r\nlast_index:100\r\n"
    "peer2:connected=1,match_index=100\r\npeer3:connected=0,match_index=-1\r\n\r\n"
    "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n"
)


def test_info_senate_is_parsed() -> None:
    info = SenateInfo.parse(INFO)
    assert (info.node_id, info.pid, info.role, info.term, info.leader) == (1, 1234, "leader", 3, 1)
    assert (info.commit_index, info.applied_index, info.last_index) == (100, 99, 100)
    assert info.peers == [PeerView(2, True, 100), PeerView(3, False, None)]
    assert info.peers_connected == 1
    no_leader = SenateInfo.parse(INFO.replace("leader:1", "leader:0"))
    assert no_leader.leader is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# Server\r\nredis_version:7\r\n", "no '# Senate' section"),
        (INFO.replace("term:3\r\n", ""), "lacks 'term'"),
        (INFO.replace("term:3", "term:x"), "term: not an integer"),
        (INFO.replace("connected=0,match_index=-1", "connected=0"), "peer3: cannot read"),
    ],
)
def test_bad_info_is_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SenateInfo.parse(text)


def test_resp_replies_are_read() -> None:
    assert encode_command("INFO", "senate") == b"*2\r\n$4\r\nINFO\r\n$6\r\nsenate\r\n"
    stream = io.BytesIO(b"+PONG\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n+OK\r\n")
    assert [read_reply(stream) for _ in range(5)] == ["PONG", 42, b"abc", None, [1, "OK"]]
    with pytest.raises(RespError, match="ERR no"):
        read_reply(io.BytesIO(b"-ERR no\r\n"))
    with pytest.raises(ConnectionError):
        read_reply(io.BytesIO(b"$10\r\nabc"))


def test_status_of_unreachable_nodes_shows_them_down_and_exits_1() -> None:
    endpoints = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--endpoints", endpoints, "--json", "--timeout", "0.5"])
    assert result.exit_code == 1, result.output
    records = json.loads(result.output)
    assert [r["up"] for r in records] == [False, False]
    assert all(r["error"] for r in records)
    table = runner.invoke(main, ["status", "--endpoints", endpoints])
    assert table.exit_code == 1
    assert table.output.count("down") == 2


def test_status_needs_exactly_one_source() -> None:
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2
    assert "either --config or --endpoints" in result.output
    result = CliRunner().invoke(main, ["status", "--endpoints", "nohost"])
    assert result.exit_code == 2
