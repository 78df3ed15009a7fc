"""Certificates for a cluster (`senate.security.certs`, `senate certs`) and the cluster file's
`[tls]` table: what OpenSSL (Python's `ssl`) makes of the certificates, and every bad table
refused with a `ConfigError` naming its field."""

from __future__ import annotations

import contextlib
import datetime
import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from senate.cli import main
from senate.config import ClusterConfig
from senate.errors import ConfigError
from senate.security.certs import (
    certificate_names,
    issue_node,
    make_ca,
    write_cluster_certs,
    write_issued,
)
from senate.security.tls_files import node_dns_name

CLUSTER = """
cluster_id = "prod"

[[nodes]]
id = 1
peer = "127.0.0.1:7101"
client = "10.1.2.3:6401"

[[nodes]]
id = 2
peer = "127.0.0.1:7102"
client = "db2.example:6402"
"""


def _with_tls(table: str) -> str:
    """`CLUSTER` with `table` after its top-level keys (TOML puts them before any table)."""
    return CLUSTER.replace("\n[[nodes]]", f"\n{table}\n\n[[nodes]]", 1)


def _verify(ca_file: str, cert_pem: bytes) -> None:
    """Raises `x509.verification.VerificationError` unless `cert_pem` chains to `ca_file`
    and is valid now (cryptography's verifier, as a client-certificate check)."""
    ca = x509.load_pem_x509_certificate(Path(ca_file).read_bytes())
    cert = x509.load_pem_x509_certificate(cert_pem)
    store = x509.verification.Store([ca])
    builder = x509.verification.PolicyBuilder().store(store)
    verifier = builder.build_client_verifier()
    verifier.verify(cert, [])


def test_node_certificates_name_their_node_and_hosts(tmp_path: Path) -> None:
    files = write_cluster_certs(tmp_path, "prod", {1: ["10.1.2.3"], 2: ["db2.example"]})
    assert sorted(files) == [1, 2]
    names = certificate_names(Path(files[2].cert_file).read_bytes())
    assert names[0] == node_dns_name("prod", 2) == "node-2.prod"
    assert "db2.example" in names
    assert "localhost" in names
    cert = x509.load_pem_x509_certificate(Path(files[1].cert_file).read_bytes())
    addresses = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(a) for a in addresses.get_values_for_type(x509.IPAddress)} == {
        "10.1.2.3",
        "127.0.0.1",
    }
    _verify(files[1].ca_file, Path(files[1].cert_file).read_bytes())
    # Keys are the owner's only.
    for node_files in files.values():
        assert stat.S_IMODE(Path(node_files.key_file).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_the_certificates_serve_a_real_tls_handshake(tmp_path: Path) -> None:
    """Python's `ssl` loads the chain and key, and a client context trusting the CA accepts
    the server by its identity name (in memory, through BIOs: no socket needed)."""
    files = write_cluster_certs(tmp_path, "prod", {1: []})[1]
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert_file, files.key_file)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(files.ca_file)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="node-1.prod")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    c.do_handshake()
    peer = c.getpeercert()
    assert peer is not None
    assert ("DNS", "node-1.prod") in peer["subjectAltName"]


def test_an_existing_ca_signs_renewed_certificates(tmp_path: Path) -> None:
    first = write_cluster_certs(tmp_path, "prod", {1: []})[1]
    ca_before = Path(first.ca_file).read_bytes()
    cert_before = Path(first.cert_file).read_bytes()
    again = write_cluster_certs(tmp_path, "prod", {1: []})[1]
    assert Path(again.ca_file).read_bytes() == ca_before
    assert Path(again.cert_file).read_bytes() != cert_before
    _verify(again.ca_file, Path(again.cert_file).read_bytes())
    write_cluster_certs(tmp_path, "prod", {1: []}, reuse_ca=False)
    assert Path(first.ca_file).read_bytes() != ca_before


def test_another_ca_and_an_expired_certificate_do_not_verify(tmp_path: Path) -> None:
    ours = write_cluster_certs(tmp_path / "ours", "prod", {1: []})[1]
    theirs = make_ca("another CA")
    stranger = issue_node(theirs, "prod", 1)
    with pytest.raises(x509.verification.VerificationError):
        _verify(ours.ca_file, stranger.cert_pem)
    ca = make_ca("expired", not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    old = issue_node(
        ca,
        "prod",
        1,
        valid_days=1,
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    )
    write_issued(tmp_path / "old", "ca", ca)
    with pytest.raises(x509.verification.VerificationError):
        _verify(str(tmp_path / "old" / "ca.crt"), old.cert_pem)


def test_senate_certs_from_a_cluster_file(tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text(CLUSTER)
    out = tmp_path / "certs"
    result = CliRunner().invoke(main, ["certs", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[tls]" in result.output
    assert certificate_names((out / "node-2.crt").read_bytes())[:2] == [
        "node-2.prod",
        "db2.example",
    ]
    # The file with a [tls] table pointing at them loads, and each node gets its files.
    config.write_text(_with_tls('[tls]\nca = "certs/ca.crt"'))
    cluster = ClusterConfig.load(config)
    node = cluster.node_config(2)
    assert node.tls is not None
    assert node.tls.cert_file == str(out / "node-2.crt")
    server = cluster.server_config(1)
    assert server.client_tls == server.metrics_tls == cluster.tls_files(1)
    assert server.client_certs == "none"


def test_senate_certs_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["certs", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--cluster-id" in result.output
    result = runner.invoke(
        main, ["certs", "--cluster-id", "x", "--nodes", "0,1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "at least 1" in result.output


@pytest.mark.parametrize(
    ("table", "field", "problem"),
    [
        ("[tls]\npeers = true", "tls.ca", "missing"),
        ('[tls]\nca = "nowhere/ca.crt"', "tls.ca", "no such file"),
        ('[tls]\nca = "certs/ca.crt"\nclient_certs = "yes"', "tls.client_certs", "must be one of"),
        ('[tls]\nca = "certs/ca.crt"\npeer = true', "tls.peer", "did you mean 'peers'"),
        ('[tls]\nca = "certs/ca.crt"\npeers = "yes"', "tls.peers", "expected a boolean"),
        ('tls = "on"', "tls", "expected a table"),
    ],
)
def test_bad_tls_tables_name_their_field(
    tmp_path: Path, table: str, field: str, problem: str
) -> None:
    write_cluster_certs(tmp_path / "certs", "prod", {1: []})
    config = tmp_path / "cluster.toml"
    config.write_text(_with_tls(table))
    with pytest.raises(ConfigError) as e:
        ClusterConfig.load(config)
    assert e.value.field == field
    assert problem in str(e.value)


def test_a_node_without_its_certificate_is_named(tmp_path: Path) -> None:
    write_cluster_certs(tmp_path / "certs", "prod", {1: []})  # none for node 2
    config = tmp_path / "cluster.toml"
    config.write_text(_with_tls('[tls]\nca = "certs/ca.crt"'))
    with pytest.raises(ConfigError) as e:
        ClusterConfig.load(config)
    assert e.value.field == "nodes[1].cert"
