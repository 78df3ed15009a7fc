"""Mutual TLS between peers: the contexts, the identity check, and the files re-read without
a restart.

Both ends of a peer connection speak TLS 1.3 (Python's `ssl`, that is OpenSSL) and both show
a certificate: the dialer's is verified by the accepting node (`CERT_REQUIRED` on the server
context), the answering node's by the dialer. A chain must end at the cluster's CA. Then the
identity: a certificate names the node it was made for (`node_dns_name`, a DNS entry of its
subject alternative names), and a peer may claim only that id in the transport's hello
(`identity_problem`): a valid certificate of node 3 cannot speak as node 1.

`PeerTls` holds a node's two contexts (one to accept with, one to dial with) and makes new
ones when its files change: on `reload` (SIGHUP in `senate serve`: `reload_all`), and when a
poll every `CERT_POLL_INTERVAL_S` sees a file's inode, size or modification time change. New
connections use the new contexts; established ones keep theirs (as etcd does). A file that
cannot be loaded (half written, a key that does not match, a certificate of another node) is
logged, and the contexts in use are kept.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from senate._core import ConfigError
from senate.security.tls_files import CERT_POLL_INTERVAL_S, TlsFiles, node_dns_name, register

log = logging.getLogger("senate.tls")

#: Peers speak TLS 1.3 only: a shorter handshake (one round trip), no renegotiation, no
#: cipher suites with known weaknesses to configure away.
TLS_MIN_VERSION = ssl.TLSVersion.TLSv1_3

#: Why a peer connection was refused: the label of `senate_peer_connections_refused_total`.
#: TLS handshake failures first, then the transport's hello.
REFUSAL_REASONS = (
    "no_certificate",  # the dialer showed none
    "unknown_ca",  # a chain that does not end at the cluster's CA
    "expired",  # a certificate past its end, or before its start
    "bad_certificate",  # any other verification failure
    "not_tls",  # bytes that are no TLS 1.3 handshake
    "tls_timeout",  # no TLS handshake within the transport's handshake_timeout_s
    "tls_error",  # any other TLS failure
    "closed",  # the peer closed during the TLS handshake
    "busy",  # too many TLS handshakes under way (`MAX_TLS_HANDSHAKES` of the transport)
    "identity",  # the certificate does not name the node id claimed
    "bad_hello",  # not the transport's hello (magic, version)
    "wrong_cluster",  # a hello naming another cluster
    "wrong_node",  # a hello for another node, or the wrong node answering
    "unknown_peer",  # a hello from an id that is no member (or should not dial this node)
    "timeout",  # no hello within handshake_timeout_s
)

#: OpenSSL's X509_V_ERR_* codes (`ssl.SSLCertVerificationError.verify_code`) we name.
_X509_EXPIRED = {9, 10}  # not yet valid, expired
_X509_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}  # no issuer, self-signed (in chain), unknown local


def _config_error(field_name: str, problem: str) -> ConfigError:
    err = ConfigError(f"invalid config: {field_name}: {problem}")
    err.field = field_name
    err.problem = problem
    return err


def certificate_dns_names(peercert: Mapping[str, Any] | None) -> list[str]:
    """The DNS names among the subject alternative names of a verified peer certificate, as
    `ssl.SSLSocket.getpeercert()` (or a TLS transport's `peercert`) gives it."""
    if not peercert:
        return []
    return [value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"]


def identity_problem(
    peercert: Mapping[str, Any] | None, cluster_id: str, claimed_id: int
) -> str | None:
    """Why a peer showing `peercert` may not speak as node `claimed_id` of `cluster_id`; None
    when its certificate names that node."""
    names = certificate_dns_names(peercert)
    wanted = node_dns_name(cluster_id, claimed_id)
    if wanted in names:
        return None
    nodes = [name for name in names if name.startswith("node-")]  # host names left out
    if not nodes:
        return f"its certificate names no node, but it claims node {claimed_id} ({wanted})"
    return f"its certificate names {', '.join(nodes)}, but it claims node {claimed_id} ({wanted})"


def classify_handshake_error(error: BaseException) -> tuple[str, str]:
    """A failed TLS handshake as `(reason, message)`: `reason` one of `REFUSAL_REASONS`."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code, message = error.verify_code, error.verify_message
        if code in _X509_EXPIRED:
            return "expired", f"certificate {message}"
        if code in _X509_UNKNOWN_ISSUER:
            return "unknown_ca", f"certificate not signed by the cluster's CA ({message})"
        return "bad_certificate", f"certificate refused ({message})"
    if isinstance(error, ssl.SSLError):
        what = str(error.reason or error)
        if what in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
            return "no_certificate", "no certificate shown"
        if what in ("TLSV1_ALERT_UNKNOWN_CA",):
            return "unknown_ca", "the other end does not know our CA"
        if what in ("SSLV3_ALERT_CERTIFICATE_EXPIRED",):
            return "expired", "the other end finds our certificate expired"
        if what in (
            "WRONG_VERSION_NUMBER",
            "HTTP_REQUEST",
            "UNSUPPORTED_PROTOCOL",
            "UNKNOWN_PROTOCOL",
            "PACKET_LENGTH_TOO_LONG",
            "RECORD_LAYER_FAILURE",
            "TLSV1_ALERT_PROTOCOL_VERSION",
            "NO_PROTOCOLS_AVAILABLE",
        ):
            return "not_tls", f"not a TLS 1.3 handshake ({what})"
        return "tls_error", f"TLS handshake failed ({what})"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)) or (
        # how asyncio's and uvloop's start_tls end a handshake past ssl_handshake_timeout
        isinstance(error, ConnectionAbortedError) and "longer than" in str(error)
    ):
        return "tls_timeout", "no TLS handshake in time"
    if isinstance(error, (ConnectionError, EOFError)):
        return "closed", f"closed during the TLS handshake ({error or type(error).__name__})"
    return "tls_error", f"TLS handshake failed ({type(error).__name__}: {error})"


# --- the files and the contexts made of them ------------------------------------------------


@dataclass(frozen=True)
class PeerContexts:
    """The contexts of one generation of a node's files."""

    #: For connections this node accepts: requires the dialer's certificate.
    server: ssl.SSLContext
    #: For connections this node dials: verifies the answering node's certificate.
    client: ssl.SSLContext
    #: This node's certificate's serial number and end of validity, for logs.
    serial: int
    not_after: datetime.datetime


def _context(purpose: int, files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = TLS_MIN_VERSION
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The identity is the node name checked against the hello (`identity_problem`), on both
    # ends alike: the dialer checks the answering node's before it sends a byte.
    ctx.check_hostname = False
    try:
        ctx.load_verify_locations(cafile=files.ca_file)
    except (OSError, ssl.SSLError) as e:
        raise _config_error("tls.ca_file", f"{files.ca_file}: cannot load the CA: {e}") from None
    try:
        ctx.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ssl.SSLError) as e:
        raise _config_error(
            "tls.cert_file",
            f"{files.cert_file} with {files.key_file}: cannot load the certificate and its "
            f"key (do they match?): {e}",
        ) from None
    return ctx


def load_peer_contexts(files: TlsFiles, cluster_id: str, node_id: int) -> PeerContexts:
    """A node's contexts from `files`; `ConfigError` naming the file and problem when they
    cannot be loaded or the certificate does not name node `node_id` of `cluster_id`."""
    from cryptography import x509  # only nodes with TLS pay for importing it

    try:
        with open(files.cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as e:
        raise _config_error("tls.cert_file", f"{files.cert_file}: {e}") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    wanted = node_dns_name(cluster_id, node_id)
    if wanted not in names:
        nodes = ", ".join(name for name in names if name.startswith("node-")) or "no node"
        raise _config_error(
            "tls.cert_file", f"{files.cert_file} names {nodes}, not this node ({wanted})"
        )
    server = _context(ssl.PROTOCOL_TLS_SERVER, files)
    client = _context(ssl.PROTOCOL_TLS_CLIENT, files)
    return PeerContexts(server, client, cert.serial_number, cert.not_valid_after_utc)


class PeerTls:
    """The peer TLS of node `node_id` of `cluster_id`, from `files`, re-read when they change.

    The constructor loads the files, raising `ConfigError` when it cannot (a node does not
    start with bad files); later failures are logged and the contexts in use kept.
    """

    def __init__(self, files: TlsFiles, cluster_id: str, node_id: int) -> None:
        self.files = files
        self.cluster_id = cluster_id
        self.node_id = node_id
        self._signatures = self.files.stamps()
        self.contexts = load_peer_contexts(files, cluster_id, node_id)
        #: Times new files were taken, and times a change could not be loaded.
        self.reloads = 0
        self.reload_failures = 0
        self._warn_if_expiring()
        register(self)

    @property
    def server_context(self) -> ssl.SSLContext:
        return self.contexts.server

    @property
    def client_context(self) -> ssl.SSLContext:
        return self.contexts.client

    def changed(self) -> bool:
        """Whether a file changed since it was last loaded (or tried)."""
        return self.files.stamps() != self._signatures

    def reload(self) -> bool:
        """Loads the files again; True if they loaded (new connections use them). On failure
        logs why and keeps the contexts in use."""
        self._signatures = self.files.stamps()
        try:
            contexts = load_peer_contexts(self.files, self.cluster_id, self.node_id)
        except ConfigError as e:
            self.reload_failures += 1
            log.error(
                "node %d: new TLS files not taken, keeping certificate serial %x: %s",
                self.node_id,
                self.contexts.serial,
                e.problem,
            )
            return False
        old, self.contexts = self.contexts, contexts
        self.reloads += 1
        log.info(
            "node %d: TLS files reloaded: certificate serial %x (was %x), valid until %s",
            self.node_id,
            contexts.serial,
            old.serial,
            contexts.not_after.isoformat(),
        )
        self._warn_if_expiring()
        return True

    def _warn_if_expiring(self) -> None:
        if self.contexts.not_after <= datetime.datetime.now(datetime.timezone.utc):
            log.warning(
                "node %d: certificate serial %x expired at %s: peers refuse it",
                self.node_id,
                self.contexts.serial,
                self.contexts.not_after.isoformat(),
            )

    async def watch(self, interval_s: float = CERT_POLL_INTERVAL_S) -> None:
        """Reloads whenever a file changes, checking every `interval_s`; runs until
        cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            if self.changed():
                self.reload()
