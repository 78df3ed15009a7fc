"""ACL users on the client port, over real sockets: a `senate serve` node whose cluster file has
an `[auth]` table, asked by redis-py, redis-cli and raw RESP; and a redis-server 7.0 with the
same users, asked the same commands, must answer the same bytes.

AUTH and HELLO argument shapes are also drawn by hypothesis against a `RespSession` alone.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import free_base_port
from redis_server import RedisServer
from senate import ConfigError
from senate._core import GROUP_CLOSE, GROUP_REPLY, AclUsers, RespSession, encode_command
from senate.auth import AuthConfig, password_hash
from senate.config import ClusterConfig
from senate.launcher import LocalCluster
from senate.resp import read_reply_bytes
from waiting import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("redis-cli") is None or shutil.which("redis-server") is None,
    reason="redis-tools and redis-server not installed; .ci/run installs them",
)

PASSWORD = "secret"
HASH = password_hash(PASSWORD.encode())
#: The users of both servers (lines of a Redis ACL file).
USERS = [
    f"user default on {HASH} ~* +@all",
    f"user app on {HASH} ~* +@read +@write -@dangerous",
    f"user ro on {HASH} ~* +@read",
    f"user gone off {HASH} ~* +@all",
    f"user ops on {HASH} ~* +@all -@dangerous",
]
REPLY_TIMEOUT_S = 30.0


class RawClient:
    """A socket that sends one command and reads its whole reply as bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S)
        self.stream = self.sock.makefile("rb")

    def ask(self, *args: str) -> bytes:
        self.sock.sendall(encode_command([a.encode() for a in args]))
        return read_reply_bytes(self.stream)[1]

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def connect(port: int, **options: Any) -> Any:
    """A redis-py client (typed Any: redis-py's annotations cover its sync and async clients
    at once)."""
    return redis.Redis(port=port, socket_timeout=REPLY_TIMEOUT_S, **options)


def client_port(cluster: LocalCluster) -> int:
    return int(cluster.config.nodes[0].client.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One `senate serve` node with the users; its client port once it takes writes."""
    root = tmp_path_factory.mktemp("kv_acl")
    overrides = {"auth": {"users": USERS}}
    with LocalCluster(
        nodes=1, data_dir=root, base_port=free_base_port(1), overrides=overrides
    ) as c:
        port = client_port(c)

        def takes_writes() -> bool:
            try:
                admin = connect(port, password=PASSWORD)
                return bool(admin.set("ready", "1"))
            except (redis.ConnectionError, redis.ResponseError, OSError):
                return False

        wait_until("the node to take an authenticated write", takes_writes, deadline_s=60)
        yield port


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server 7.0 with the same users (an ACL file)."""
    root = tmp_path_factory.mktemp("redis_acl")
    acl_file = root / "users.acl"
    acl_file.write_text("\n".join(USERS) + "\n")
    server = RedisServer(root, extra_options=["--aclfile", str(acl_file)])
    try:
        yield server.port
    finally:
        server.stop()


#: One connection's commands, in order: both servers must answer each with the same bytes.
SCENARIO = [
    ("PING",),
    ("GET", "k"),
    ("HELLO", "3"),
    ("NOSUCH", "x"),
    ("GET",),
    ("AUTH", "wrong"),
    ("AUTH", "gone", PASSWORD),
    ("AUTH", "app", "nope"),
    ("AUTH", "a", "b", "c"),
    ("AUTH", "app", PASSWORD),
    ("SET", "k", "v"),
    ("GET", "k"),
    ("FLUSHDB",),
    ("KEYS", "*"),
    ("CLIENT", "LIST"),
    ("CONFIG", "GET", "save"),
    ("ACL", "WHOAMI"),
    ("ACL", "LIST"),
    ("INFO",),
    ("PING",),
    ("AUTH", "ro", PASSWORD),
    ("SET", "k", "w"),
    ("GET", "k"),
    ("MGET", "k", "nope"),
    ("AUTH", PASSWORD),
    ("ACL", "WHOAMI"),
    ("ACL", "USERS"),
    ("ACL", "CAT"),
    ("ACL", "CAT", "nope"),
    ("ACL", "WHOAMI", "x"),
    ("DEL", "k"),
    ("PING",),
    ("QUIT",),
]


#: AUTH and RESET in and around transactions: AUTH queued runs at EXEC, and the commands
#: after it are checked again against the new user's permissions (Redis 7.0's NOPERM "ACLs
#: rules changed"); RESET runs at once, even unauthenticated, and drops the user, the name,
#: the transaction.
TRANSACTION_SCENARIO = [
    ("RESET",),
    ("GET", "k"),
    ("AUTH", "app", PASSWORD),
    ("CLIENT", "SETNAME", "a"),
    ("MULTI",),
    ("CLIENT", "SETNAME", "b"),
    ("AUTH", "ro", "nope"),
    ("AUTH", "ro", PASSWORD),
    ("SET", "k", "v"),
    ("GET", "k"),
    ("CLIENT", "GETNAME"),
    ("ACL", "WHOAMI"),
    ("EXEC",),
    ("ACL", "WHOAMI"),
    ("GET", "k"),
    ("RESET",),
    ("GET", "k"),
    ("AUTH", "ops", PASSWORD),
    ("CLIENT", "GETNAME"),
    ("MULTI",),
    ("CONFIG", "GET", "save"),
    ("EXEC",),
    ("MULTI",),
    ("SET", "k", "w"),
    ("RESET",),
    ("EXEC",),
    ("GET", "k"),
]


@pytest.mark.parametrize("scenario", [SCENARIO, TRANSACTION_SCENARIO], ids=["plain", "transaction"])
def test_the_same_scenario_gets_the_same_replies_as_redis_server(
    node: int, redis_port: int, scenario: list[tuple[str, ...]]
) -> None:
    ours, theirs = RawClient(node), RawClient(redis_port)
    try:
        for args in scenario:
            assert ours.ask(*args) == theirs.ask(*args), args
    finally:
        ours.close()
        theirs.close()


def test_redis_py_sees_noauth_wrongpass_and_noperm(node: int) -> None:
    anonymous = connect(node)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        anonymous.get("k")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        connect(node, username="app", password="nope").ping()
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        connect(node, username="gone", password=PASSWORD).ping()
    app = connect(node, username="app", password=PASSWORD)
    assert app.set("py:k", "v")
    assert app.get("py:k") == b"v"
    with pytest.raises(redis.exceptions.NoPermissionError, match="'flushdb' command"):
        app.flushdb()
    # SENATE.EXEC wraps a write run at most once: the wrapped command is checked too.
    session = app.execute_command("SENATE.SESSION", "OPEN")
    with pytest.raises(redis.exceptions.NoPermissionError, match="'flushdb' command"):
        app.execute_command("SENATE.EXEC", session, 1, 0, "FLUSHDB")
    assert app.execute_command("SENATE.EXEC", session, 1, 0, "SET", "py:k", "w") == b"OK"
    ro = connect(node, username="ro", password=PASSWORD)
    assert ro.get("py:k") == b"w"
    with pytest.raises(redis.exceptions.NoPermissionError, match=r"'senate\.exec' command"):
        ro.execute_command("SENATE.EXEC", session, 2, 1, "SET", "py:k", "x")
    admin = connect(node, password=PASSWORD)
    assert admin.acl_whoami() == "default"
    listed = admin.execute_command("ACL", "LIST")
    assert f"user app on {HASH} ~* -@all +@read +@write -@dangerous".encode() in listed
    ops = connect(node, username="ops", password=PASSWORD)
    assert b" user=ops " in ops.execute_command("CLIENT", "INFO")


def test_hello_3_auth_authenticates_and_switches_protocol(node: int) -> None:
    c = RawClient(node)
    try:
        reply = c.ask("HELLO", "3", "AUTH", "ops", PASSWORD, "SETNAME", "worker")
        assert reply.startswith(b"%7\r\n$6\r\nserver\r\n$6\r\nsenate\r\n"), reply
        assert c.ask("GET", "hello:none") == b"_\r\n"  # RESP3's null
        assert b" name=worker db=0 user=ops " in c.ask("CLIENT", "INFO")
        assert c.ask("HELLO", "3", "AUTH", "app", "nope").startswith(b"-WRONGPASS")
    finally:
        c.close()
    resp3 = connect(node, protocol=3, username="app", password=PASSWORD)
    assert resp3.set("hello:k", "v")
    assert resp3.get("hello:k") == b"v"


def redis_cli(port: int, *args: str) -> str:
    """What redis-cli prints, on both its streams (a failed AUTH goes to stderr)."""
    command = ["redis-cli", "-p", str(port), "--no-auth-warning", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return (done.stderr + done.stdout).strip()


def test_redis_cli_authenticates_with_user_and_password(node: int) -> None:
    assert redis_cli(node, "PING") == "NOAUTH Authentication required."
    assert redis_cli(node, "-a", PASSWORD, "PING") == "PONG"
    assert redis_cli(node, "--user", "app", "--pass", PASSWORD, "SET", "cli:k", "v") == "OK"
    assert redis_cli(node, "--user", "app", "--pass", PASSWORD, "FLUSHDB") == (
        "NOPERM this user has no permissions to run the 'flushdb' command"
    )
    wrong = redis_cli(node, "--user", "app", "--pass", "nope", "PING")
    assert wrong == (
        "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n"
        "NOAUTH Authentication required."
    )
    assert redis_cli(node, "--user", "app", "--pass", PASSWORD, "-3", "GET", "cli:k") == "v"
    assert redis_cli(node, "-a", PASSWORD, "ACL", "WHOAMI") == "default"


# --- the cluster file and its errors -------------------------------------------------------


def test_auth_errors_name_the_field(tmp_path: Path) -> None:
    nodes = [{"id": 1, "peer": "127.0.0.1:7001", "client": "127.0.0.1:7002"}]
    cases: list[tuple[Any, str, str]] = [
        ({"users": ["user a on >plain"]}, "auth.users[0]", "senate passwd"),
        ({"users": [USERS[1], "user b on ~app:* +@all"]}, "auth.users[1]", "only all keys"),
        ({"users": ["user b on +lpush"]}, "auth.users[0]", "unknown command 'lpush'"),
        ({"users": ["nope"]}, "auth.users[0]", "expected 'user <name>"),
        ({"users": [USERS[1], USERS[1]]}, "auth.users[1]", "duplicate user 'app'"),
        ({"users": [3]}, "auth.users[0]", "expected a string"),
        ({"requirepass": "plain"}, "auth.requirepass", "#<sha256 hex>"),
        ({"requirepass": HASH, "users": [USERS[0]]}, "auth.requirepass", "default user too"),
        ({"passwords": []}, "auth.passwords", "unknown field"),
        ("users", "auth", "expected a table"),
    ]
    for auth, field, problem in cases:
        with pytest.raises(ConfigError) as raised:
            ClusterConfig.from_dict({"nodes": nodes, "auth": auth})
        assert raised.value.field == field, auth
        assert problem in str(raised.value.problem), (auth, raised.value.problem)


def test_the_auth_table_is_written_back_and_read_again(tmp_path: Path) -> None:
    nodes = [{"id": 1, "peer": "127.0.0.1:7001", "client": "127.0.0.1:7002"}]
    config = ClusterConfig.from_dict({"nodes": nodes, "auth": {"users": USERS}})
    path = tmp_path / "cluster.toml"
    path.write_text(config.to_toml())
    again = ClusterConfig.load(path)
    assert again.auth == config.auth
    assert again.server_config(1).auth.acl_users().auth_required
    plain = ClusterConfig.from_dict({"nodes": nodes})
    assert "[auth]" not in plain.to_toml()
    assert not plain.server_config(1).auth.acl_users().auth_required
    requirepass = AuthConfig(requirepass=HASH).acl_users()
    assert requirepass.auth_required
    assert len(requirepass) == 1


def test_senate_passwd_prints_the_hash_redis_acl_files_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "senate", "passwd"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == HASH
    assert HASH == "#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    empty = subprocess.run(
        [sys.executable, "-m", "senate", "passwd"], input="\n", capture_output=True, text=True
    )
    assert empty.returncode != 0
    assert "empty" in empty.stderr


# --- AUTH and HELLO shapes, against a session alone ----------------------------------------

SHARED_USERS = AclUsers(USERS)
words = st.sampled_from(
    [b"app", b"default", b"gone", b"ro", b"secret", b"nope", b"", b"AUTH", b"3", b"2", b"SETNAME"]
)
args = st.lists(st.one_of(words, st.binary(max_size=8)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(command=st.sampled_from([b"AUTH", b"auth", b"HELLO"]), arguments=args)
def test_auth_and_hello_shapes_answer_once_and_only_a_right_pair_authenticates(
    command: bytes, arguments: list[bytes]
) -> None:
    session = RespSession(users=SHARED_USERS)
    groups = session.feed(encode_command([command, *arguments]), 0)
    assert [kind for kind, _ in groups] == [GROUP_REPLY]
    reply = groups[0][1]
    assert reply.count(b"\r\n") >= 1
    assert reply.startswith((b"-", b"+", b"*", b"%"))
    pairs = [
        (arguments[i + 1], arguments[i + 2])
        for i in range(len(arguments) - 2)
        if command == b"HELLO" and arguments[i].lower() == b"auth"
    ]
    if command != b"HELLO":
        if len(arguments) == 1:
            pairs = [(b"default", arguments[0])]
        elif len(arguments) == 2:
            pairs = [(arguments[0], arguments[1])]
    right = {(name, PASSWORD.encode()) for name in (b"default", b"app", b"ro", b"ops")}
    if session.authenticated:
        assert any(pair in right for pair in pairs), (command, arguments)
        assert reply.startswith((b"+OK", b"*", b"%"))
    else:
        assert session.user == "default"
        assert reply.startswith(b"-")
    assert not session.closed
    follow = session.feed(encode_command([b"QUIT"]), 0)
    assert follow == [(GROUP_CLOSE, b"+OK\r\n")]
