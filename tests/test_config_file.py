"""The TOML cluster file: what `to_toml` writes `load` reads back equal; every bad file is
refused with a `ConfigError` naming its field."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from senate.config import ClusterConfig, NodeAddresses, ServerConfig
from senate.errors import ConfigError
from senate.server_limits import ServerLimits

EXAMPLE = """
cluster_id = "senate"
data_dir = "senate-data"
tick_ms = 10
election_timeout_ticks = 15
heartbeat_interval_ticks = 2
fsync = true
snapshot_entries = 100000
snapshot_bytes = 67108864
call_timeout_s = 5.0
max_value_bytes = 536870912
max_clients = 10000

[[nodes]]
id = 1
peer = "127.0.0.1:7101"
client = "127.0.0.1:6401"
metrics = "127.0.0.1:9101"

[[nodes]]
id = 2
peer = "127.0.0.1:7102"
client = "127.0.0.1:6402"
"""


def test_the_example_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(EXAMPLE)
    cluster = ClusterConfig.load(path)
    assert cluster.ids == [1, 2]
    server = cluster.server_config(2)
    assert server.node.id == 2
    assert server.client_address == "127.0.0.1:6402"
    assert server.metrics_address is None
    assert server.max_value_bytes == 536870912
    assert server.node.peers == {1: "127.0.0.1:7101", 2: "127.0.0.1:7102"}
    assert server.node.tick_ms == 10.0
    # The data directory is relative to the file's directory.
    assert server.node.data_dir == str(tmp_path / "senate-data" / "node-2")
    assert cluster.server_config(1).metrics_address == "127.0.0.1:9101"
    with pytest.raises(ConfigError) as e:
        cluster.node_config(3)
    assert e.value.field == "id"


# --- roundtrip -------------------------------------------------------------------------------

strings = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
hosts = st.sampled_from(["127.0.0.1", "localhost", "10.0.0.7", "[::1]"])


@st.composite
def clusters(draw: st.DrawFn) -> ClusterConfig:
    ids = draw(st.lists(st.integers(1, 2**32), min_size=1, max_size=7, unique=True))
    ports = draw(st.lists(st.integers(1, 65535), min_size=3 * len(ids), unique=True, max_size=30))
    host = draw(hosts)
    nodes = [
        NodeAddresses(
            id=node_id,
            peer=f"{host}:{ports[3 * i]}",
            client=f"{host}:{ports[3 * i + 1]}",
            metrics=draw(st.sampled_from([None, f"{host}:{ports[3 * i + 2]}"])),
        )
        for i, node_id in enumerate(ids)
    ]
    election = draw(st.integers(2, 1000))
    options: dict[str, Any] = {
        "cluster_id": draw(strings.filter(lambda s: len(s.encode()) <= 255)),
        "tick_ms": draw(st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False)),
        "election_timeout_ticks": election,
        "heartbeat_interval_ticks": draw(st.integers(1, election - 1)),
        "pre_vote": draw(st.booleans()),
        "fsync": draw(st.booleans()),
        "snapshot_entries": draw(st.integers(1, 2**62)),
        "call_timeout_s": draw(st.floats(1e-9, 1e9)),
    }
    return ClusterConfig(
        nodes,
        data_dir=draw(strings.filter(bool)),
        node_options=options,
        max_value_bytes=draw(st.integers(1, 2**40)),
        max_clients=draw(st.integers(1, 10**6)),
        max_batch_commands=draw(st.integers(1, 10**6)),
        limits=ServerLimits(
            maxmemory_bytes=draw(st.integers(0, 2**50)),
            clients_memory_bytes=draw(st.none() | st.integers(1, 2**50)),
            client_idle_timeout_s=draw(st.floats(0, 1e6)),
            client_request_timeout_s=draw(st.floats(0, 1e6)),
            client_eviction_timeout_s=draw(st.floats(1e-3, 1e6)),
        ),
    )


@given(clusters())
def test_to_toml_then_load_is_the_same_cluster(cluster: ClusterConfig) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.toml"
        path.write_text(cluster.to_toml(), encoding="utf-8")
        loaded = ClusterConfig.load(path)
        assert loaded.base_dir == Path(tmp).resolve()
        loaded.base_dir = cluster.base_dir
        assert loaded == cluster


# --- bad files -------------------------------------------------------------------------------

NODE = '[[nodes]]\nid = 1\npeer = "127.0.0.1:7101"\nclient = "127.0.0.1:6401"\n'
NODE2 = '[[nodes]]\nid = 2\npeer = "127.0.0.1:7102"\nclient = "127.0.0.1:6402"\n'

BAD_FILES = [
    # (file text, field, words of the problem)
    ("fsyncc = true\n" + NODE, "fsyncc", "unknown field 'fsyncc' (did you mean 'fsync'?)"),
    ('tick_ms = "10"\n' + NODE, "tick_ms", "expected a number, got '10'"),
    ("tick_ms = 0\n" + NODE, "tick_ms", "must be positive"),
    ("tick_ms = inf\n" + NODE, "tick_ms", "must be finite"),
    ("fsync = 1\n" + NODE, "fsync", "expected a boolean, got 1"),
    ("snapshot_entries = true\n" + NODE, "snapshot_entries", "expected an integer, got True"),
    ("snapshot_entries = 1.5\n" + NODE, "snapshot_entries", "expected an integer"),
    ("election_timeout_ticks = 2\n" + NODE, "heartbeat_interval_ticks", "must be below"),
    ("max_clients = 0\n" + NODE, "max_clients", "must be positive"),
    ("max_reply_buffer_bytes = -1\n" + NODE, "max_reply_buffer_bytes", "must be positive"),
    ("cluster_id = 7\n" + NODE, "cluster_id", "expected a string"),
    ("maxmemory_bytes = -1\n" + NODE, "maxmemory_bytes", "must not be negative"),
    ("clients_memory_bytes = 0\n" + NODE, "clients_memory_bytes", "must be positive"),
    ('client_idle_timeout_s = "1"\n' + NODE, "client_idle_timeout_s", "expected a number"),
    (
        "unauthenticated_query_buffer_bytes = 2048\nclient_query_buffer_bytes = 1024\n" + NODE,
        "unauthenticated_query_buffer_bytes",
        "must be at most client_query_buffer_bytes (1024)",
    ),
    (f'cluster_id = "{"x" * 256}"\n' + NODE, "cluster_id", "longer than 255 bytes"),
    ('data_dir = ""\n' + NODE, "data_dir", "must not be empty"),
    ("tick_ms = 10\n", "nodes", "missing"),
    ("nodes = []\n", "nodes", "at least one"),
    ("nodes = [1, 2]\n", "nodes", "array of tables"),
    (
        NODE + NODE2.replace('"127.0.0.1:6402"', '"x"'),
        "nodes[1].client",
        "expected host:port, got 'x'",
    ),
    (NODE + NODE2.replace('"127.0.0.1:7102"', "7102"), "nodes[1].peer", "expected a string"),
    (NODE + 'metrics = "h"\n', "nodes[0].metrics", "expected host:port, got 'h'"),
    (NODE + NODE2.replace("id = 2", "id = 1"), "nodes[1].id", "duplicate id 1"),
    (NODE + NODE2.replace("7102", "7101"), "nodes[1].peer", "127.0.0.1:7101 is also nodes[0].peer"),
    (NODE + NODE2.replace("6402", "7101"), "nodes[1].client", "is also nodes[0].peer"),
    (NODE.replace("id = 1", "id = 0"), "nodes[0].id", "must be at least 1"),
    (NODE.replace("id = 1\n", ""), "nodes[0].id", "missing"),
    (NODE.replace("client", "clients"), "nodes[0].clients", "did you mean 'client'?"),
    (NODE.replace("id = 1", 'id = "1"'), "nodes[0].id", "expected an integer, got '1'"),
]


@pytest.mark.parametrize(("text", "field", "problem"), BAD_FILES)
def test_a_bad_file_names_its_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        ClusterConfig.load(path)
    assert e.value.field == field
    assert e.value.problem is not None
    assert problem in e.value.problem
    assert str(e.value).startswith(f"invalid config: {field}: ")


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(NODE + "tick_ms 10\n")
    with pytest.raises(ConfigError) as e:
        ClusterConfig.load(path)
    assert e.value.field == str(path)
    assert e.value.problem is not None
    assert "line 5" in e.value.problem
    with pytest.raises(ConfigError) as e:
        ClusterConfig.load(tmp_path / "missing.toml")
    assert e.value.problem is not None
    assert "cannot read" in e.value.problem


def test_server_config_checks_its_own_fields() -> None:
    cluster = ClusterConfig.from_dict(
        {"nodes": [{"id": 1, "peer": "127.0.0.1:7101", "client": "127.0.0.1:6401"}]}
    )
    node = cluster.node_config(1)
    assert ServerConfig(node, "127.0.0.1:6401").max_reply_buffer_bytes == 64 * 1024 * 1024
    with pytest.raises(ConfigError) as e:
        ServerConfig(node, "nope")
    assert e.value.field == "client_address"
    with pytest.raises(ConfigError) as e:
        ServerConfig(node, "127.0.0.1:6401", max_batch_commands=0)
    assert e.value.field == "max_batch_commands"
