"""An intruder on a peer port, for the peer TLS tests: it dials with whatever certificate it
is given (or none), and if the TLS handshake lets it through it says the transport's hello and
sends frames a member would (a vote request and an append at a high term), so that a node
that let it in would show it in its term."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from cluster import Cluster
from senate.runtime.transport import encode_hello

#: The term of the intruder's frames: far above any a test cluster reaches.
INTRUDER_TERM = 1000
#: How long the intruder waits on a socket, in seconds.
SOCKET_TIMEOUT_S = 5.0


def high_term_frames(from_id: int, to_id: int, term: int = INTRUDER_TERM) -> bytes:
    """Frames from node `from_id` to `to_id` above `term`, made by real cores: the vote
    request of `from_id`'s campaign, then the appends and heartbeats it sends once it leads
    (a follower within its leader's lease ignores a vote request, not an append)."""
    cluster = Cluster(3, pre_vote=False, check_quorum=False)
    node = cluster.nodes[from_id]
    for _ in range(term):  # each campaign without pre-vote takes the next term
        node.campaign()
        cluster.handle_ready(from_id)
        cluster.inflight.clear()
    node.campaign()
    cluster.handle_ready(from_id)
    frames = [m.frames for m in cluster.inflight if m.dst == to_id]
    cluster.deliver_all()
    assert cluster.leader() == from_id
    for _ in range(10):
        node.tick()
        cluster.handle_ready(from_id)
        frames += [m.frames for m in cluster.inflight if m.dst == to_id]
        cluster.deliver_all()
    return b"".join(frames)


@dataclass(frozen=True)
class Intrusion:
    #: Whether the TLS handshake completed on the intruder's side (TLS 1.3: a server refuses
    #: a client certificate after that), and whether the node answered the hello.
    handshake_done: bool
    answered: bool
    error: str | None


def intrude(
    address: tuple[str, int],
    context: ssl.SSLContext | None,
    claimed_id: int,
    to_id: int,
    frames: bytes,
    cluster_id: str = "senate",
) -> Intrusion:
    """Dials `address` (with TLS when `context` is given), claims to be `claimed_id` in the
    hello, sends `frames`, and reads until the node closes the connection."""
    raw = socket.create_connection(address, timeout=SOCKET_TIMEOUT_S)
    sock: socket.socket = raw
    handshake_done = False
    answer = b""
    try:
        if context is not None:
            sock = context.wrap_socket(raw, server_hostname=None)
        handshake_done = True
        sock.sendall(encode_hello(cluster_id, claimed_id, to_id) + frames)
        while chunk := sock.recv(4096):
            answer += chunk
    except (OSError, ssl.SSLError) as e:
        return Intrusion(handshake_done, bool(answer), f"{type(e).__name__}: {e}")
    finally:
        sock.close()
    return Intrusion(handshake_done, bool(answer), None)


def client_context(ca_file: str, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    """A TLS 1.3 client context trusting `ca_file`, showing `cert_file` when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(ca_file)
    if cert_file is not None:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def presented_serial(address: tuple[str, int], context: ssl.SSLContext) -> int:
    """The serial number of the certificate a node presents to a new connection."""
    from cryptography import x509

    with (
        socket.create_connection(address, timeout=SOCKET_TIMEOUT_S) as raw,
        context.wrap_socket(raw) as sock,
    ):
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number
