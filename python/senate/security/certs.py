"""Certificates for a cluster: a CA, and one certificate per node, made with `cryptography`
(a well-kept library: hand-written ASN.1 is how certificate checks go wrong).

Keys are ECDSA P-256: a TLS 1.3 handshake with them costs a fraction of RSA-2048's, and every
TLS stack in use takes them (OpenSSL under Python's `ssl`, hiredis under redis-cli).

A node's certificate serves both ends of a peer connection (it is the server's and the
client's: extended key usage serverAuth and clientAuth) and the node's client port. Its
subject alternative names hold `node-<id>.<cluster_id>`, the identity peers check
(`senate.security.tls_files.node_dns_name`), and the host names and addresses clients
reach it by (`localhost` and `127.0.0.1` always), so that clients that verify host names
(redis-py does) accept it.

Files written by `write_cluster_certs` into one directory: `ca.crt`, `ca.key`,
`node-<id>.crt`, `node-<id>.key`, and `client.crt`, `client.key` for clients when the
servers require certificates; keys are readable by their owner only (mode 0600).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from senate.security.tls_files import TlsFiles, node_dns_name

#: How long certificates of `senate certs` stay valid unless told: one year (a throwaway
#: cluster's are replaced with its data directory).
DEFAULT_VALID_DAYS = 365
#: Certificates start to be valid this long before they are made: a peer whose clock is a
#: little behind accepts them at once.
CLOCK_SKEW_ALLOWANCE = datetime.timedelta(minutes=5)
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CLIENT_NAME = "client"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, in PEM."""

    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _validity(
    valid_days: float, not_before: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - CLOCK_SKEW_ALLOWANCE
    return start, start + datetime.timedelta(days=valid_days)


def make_ca(
    common_name: str,
    valid_days: float = DEFAULT_VALID_DAYS,
    not_before: datetime.datetime | None = None,
) -> Issued:
    """A self-signed CA that may sign certificates (and no further CAs)."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(valid_days, not_before)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def issue(
    ca: Issued,
    common_name: str,
    dns_names: Iterable[str] = (),
    hosts: Iterable[str] = (),
    valid_days: float = DEFAULT_VALID_DAYS,
    not_before: datetime.datetime | None = None,
) -> Issued:
    """A certificate signed by `ca` for both ends of TLS (serverAuth and clientAuth), whose
    alternative names are `dns_names` and `hosts` (addresses become IP entries)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey), "CAs made by make_ca are ECDSA"
    key = _new_key()
    names: list[x509.GeneralName] = []
    for general in [*map(x509.DNSName, dns_names), *map(_alt_name, hosts)]:
        if general not in names:
            names.append(general)
    start, end = _validity(valid_days, not_before)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_node(
    ca: Issued,
    cluster_id: str,
    node_id: int,
    hosts: Iterable[str] = (),
    valid_days: float = DEFAULT_VALID_DAYS,
    not_before: datetime.datetime | None = None,
) -> Issued:
    """Node `node_id`'s certificate: its identity `node-<id>.<cluster_id>`, then `hosts`,
    `localhost` and `127.0.0.1`."""
    name = node_dns_name(cluster_id, node_id)
    return issue(
        ca,
        name,
        dns_names=[name],
        hosts=[*hosts, "localhost", "127.0.0.1"],
        valid_days=valid_days,
        not_before=not_before,
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    # A key is created with mode 0600: never readable by others, not even for an instant.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_issued(directory: Path, stem: str, issued: Issued) -> TlsFiles:
    """Writes `<stem>.crt` and `<stem>.key` into `directory`; their files, with the CA's."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write(cert, issued.cert_pem, private=False)
    _write(key, issued.key_pem, private=True)
    return TlsFiles(str(directory / CA_CERT), str(cert), str(key))


def load_ca(directory: Path) -> Issued:
    """The CA written into `directory` by `write_cluster_certs`."""
    return Issued((directory / CA_CERT).read_bytes(), (directory / CA_KEY).read_bytes())


def write_cluster_certs(
    directory: Path,
    cluster_id: str,
    node_hosts: Mapping[int, Sequence[str]],
    valid_days: float = DEFAULT_VALID_DAYS,
    reuse_ca: bool = True,
) -> dict[int, TlsFiles]:
    """A CA (kept if `directory` has one and `reuse_ca`), a certificate per node of
    `node_hosts` (node id to the hosts clients and peers reach it by), and a client
    certificate; the files of each node."""
    directory.mkdir(parents=True, exist_ok=True)
    if reuse_ca and (directory / CA_CERT).is_file() and (directory / CA_KEY).is_file():
        ca = load_ca(directory)
    else:
        ca = make_ca(f"senate CA of cluster {cluster_id}", valid_days=valid_days)
        _write(directory / CA_KEY, ca.key_pem, private=True)
        _write(directory / CA_CERT, ca.cert_pem, private=False)
    files = {
        node_id: write_issued(
            directory,
            f"node-{node_id}",
            issue_node(ca, cluster_id, node_id, hosts, valid_days=valid_days),
        )
        for node_id, hosts in sorted(node_hosts.items())
    }
    client = issue(ca, CLIENT_NAME, dns_names=[CLIENT_NAME], valid_days=valid_days)
    write_issued(directory, CLIENT_NAME, client)
    return files


def certificate_names(cert_pem: bytes) -> list[str]:
    """The DNS names among a certificate's subject alternative names."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))
