"""Credentials of the package's clients (`ClientSecurity`: `AUTH [user] password`) against a
real redis-server with `requirepass` and an ACL user: the blocking probe of `senate status`,
the load generator (AUTH before the warm-up, the password passed to its subprocess in
`REDISCLI_AUTH`, never on its command line), and `senate status --pass` / `REDISCLI_AUTH`;
then against a TLS `senate serve` node whose `[auth]` table turns the default user off:
`senate.Client`, `senate status --config --user` and the load generator, each refused with
a wrong password.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import free_base_port
from redis_server import REDIS_CLI, REDIS_SERVER, RedisServer
from senate import Client, ClientError
from senate.auth import password_hash
from senate.launcher import LocalCluster
from senate.loadgen import LoadError, run_load
from senate.loadgen_process import run_load_subprocess
from senate.loadspec import LoadSpec
from senate.security.client_security import PASSWORD_ENV, ClientSecurity
from senate.status import RespError, probe, resp_call

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None or REDIS_CLI is None, reason="redis-server is not installed"
)

PASSWORD = "default-secret"
USER, USER_PASSWORD = "bench", "bench-secret"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server with an ACL user and, for the default user, `requirepass`."""
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"))
    try:
        server.cli("ACL", "SETUSER", USER, "on", f">{USER_PASSWORD}", "~*", "+@all")
        server.cli("CONFIG", "SET", "requirepass", PASSWORD)  # last: cli() has no password
        yield server
    finally:
        server.stop()


def address(server: RedisServer) -> tuple[str, int]:
    return ("127.0.0.1", server.port)


@pytest.mark.parametrize(
    "security",
    [ClientSecurity(password=PASSWORD), ClientSecurity(username=USER, password=USER_PASSWORD)],
    ids=["requirepass", "acl-user"],
)
def test_the_probe_authenticates_first(guarded: RedisServer, security: ClientSecurity) -> None:
    assert resp_call(address(guarded), "SET", "auth:k", "v", security=security) == "OK"
    assert resp_call(address(guarded), "GET", "auth:k", security=security) == b"v"


def test_without_or_with_wrong_credentials_the_server_refuses(guarded: RedisServer) -> None:
    with pytest.raises(RespError, match="NOAUTH"):
        resp_call(address(guarded), "GET", "auth:k")
    wrong = ClientSecurity(username=USER, password="not-it")
    with pytest.raises(RespError, match="WRONGPASS"):
        resp_call(address(guarded), "GET", "auth:k", security=wrong)


def test_credentials_go_together() -> None:
    assert ClientSecurity(username=USER).auth_args() is None  # no password: no AUTH
    with pytest.raises(ValueError, match="needs its key"):
        ClientSecurity(tls=True, cert_file="client.crt")
    with pytest.raises(ValueError, match="without TLS"):
        ClientSecurity(ca_file="ca.crt")
    assert PASSWORD not in repr(ClientSecurity(password=PASSWORD))


def spec(server: RedisServer, security: ClientSecurity) -> LoadSpec:
    return LoadSpec(
        endpoints=(server.endpoint,),
        clients=2,
        pipeline=4,
        duration_s=0.2,
        warmup_s=0.0,
        security=security,
    )


def test_the_load_generator_authenticates_each_connection(guarded: RedisServer) -> None:
    user = ClientSecurity(username=USER, password=USER_PASSWORD)
    result = run_load(spec(guarded, user))
    assert result.ok, result.error_messages
    assert result.ops > 0
    with pytest.raises(LoadError, match="WRONGPASS"):
        run_load(spec(guarded, dataclasses.replace(user, password="not-it")))


def test_the_load_generator_subprocess_gets_the_password_in_its_environment(
    guarded: RedisServer,
) -> None:
    load = spec(guarded, ClientSecurity(password=PASSWORD))
    assert PASSWORD not in " ".join(load.to_args())
    assert PASSWORD not in json.dumps(load.to_json())
    assert load.security.environment({})[PASSWORD_ENV] == PASSWORD
    result = run_load_subprocess(load)
    assert result.ok, result.error_messages
    assert result.ops > 0
    assert result.spec.security.password is None  # the result does not carry it back
    anonymous = run_load_subprocess(dataclasses.replace(load, security=ClientSecurity()))
    assert not anonymous.ok  # every request answered -NOAUTH
    assert any("NOAUTH" in message for message in anonymous.error_messages)


def senate_status(server: RedisServer, *args: str, env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "senate", "status", "--json", "--endpoints", server.endpoint]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, env=env)
    (report,) = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


def test_senate_status_sends_the_credentials(guarded: RedisServer, tmp_path: Path) -> None:
    """redis-server has no `INFO senate`: a node that answers it at all got past AUTH."""
    env = ClientSecurity().environment()
    refused = senate_status(guarded, env=env)
    assert "NOAUTH" in str(refused["error"])
    by_option = senate_status(guarded, "--user", USER, "--pass", USER_PASSWORD, env=env)
    assert "NOAUTH" not in str(by_option["error"])
    assert "no '# Senate' section" in str(by_option["error"])
    by_environment = senate_status(guarded, env=ClientSecurity(password=PASSWORD).environment())
    assert "no '# Senate' section" in str(by_environment["error"])


# --- against senate: a TLS cluster whose [auth] table lets no anonymous client in -----------

APP_PASSWORD = "app-secret"


@pytest.fixture(scope="module")
def senate_with_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    users = [
        "user default off",
        f"user app on {password_hash(APP_PASSWORD.encode())} ~* +@read +@write +@connection +info",
    ]
    with LocalCluster(
        1,
        data_dir=tmp_path_factory.mktemp("senate-auth") / "cluster",
        base_port=free_base_port(1),
        fsync=False,
        overrides={"auth": {"users": users}},
        tls=True,
        credentials=("app", APP_PASSWORD),
    ) as cluster:
        cluster.wait_ready(60)  # its probes authenticate as app
        yield cluster


def as_app(cluster: LocalCluster, password: str = APP_PASSWORD) -> ClientSecurity:
    security = cluster.client_security
    assert security is not None
    assert security.tls
    return dataclasses.replace(security, password=password)


def test_senate_client_authenticates_over_tls(senate_with_users: LocalCluster) -> None:
    endpoints = [node.client for node in senate_with_users.nodes]

    async def main(password: str) -> bytes | None:
        security = as_app(senate_with_users, password)
        async with Client(endpoints, security=security, timeout_s=3) as client:
            await client.set("auth:client", "v")
            return await client.get("auth:client")

    assert asyncio.run(main(APP_PASSWORD)) == b"v"
    with pytest.raises(ClientError) as refused:
        asyncio.run(main("not-it"))
    assert "WRONGPASS" in str(refused.value.last_error) or "invalid username-password" in str(
        refused.value.last_error
    )


def test_senate_status_and_the_load_generator_authenticate_over_tls(
    senate_with_users: LocalCluster,
) -> None:
    node = senate_with_users.nodes[0]
    anonymous = dataclasses.replace(as_app(senate_with_users), username=None, password=None)
    assert "NOAUTH" in str(probe(node.client, 10, security=anonymous).error)
    assert probe(node.client, 10, security=as_app(senate_with_users)).up
    env = ClientSecurity().environment()
    command = [sys.executable, "-m", "senate", "status", "--json", "--timeout", "10"]
    config = ["--config", str(senate_with_users.config_path), "--user", "app"]
    done = subprocess.run(
        [*command, *config], capture_output=True, text=True, timeout=60,
        env=as_app(senate_with_users).environment(env),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [report["up"] for report in json.loads(done.stdout)] == [True]
    load = dataclasses.replace(spec_of(senate_with_users), security=as_app(senate_with_users))
    result = run_load_subprocess(load)
    assert result.ok, result.error_messages
    assert result.ops > 0
    with pytest.raises(LoadError, match="WRONGPASS"):
        run_load_subprocess(dataclasses.replace(load, security=as_app(senate_with_users, "not-it")))


def spec_of(cluster: LocalCluster) -> LoadSpec:
    endpoints = tuple(node.client for node in cluster.nodes)
    return LoadSpec(endpoints=endpoints, clients=2, pipeline=2, duration_s=0.2, warmup_s=0.0)
