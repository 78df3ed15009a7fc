"""TLS on a node's client port and metrics endpoint: the server contexts, and taking new
certificate files without a restart.

A server context offers TLS 1.2 and 1.3 (`redis-cli` and every redis-py build speak one of
them), presents the node's certificate chain and verifies client certificates against the
cluster's CA as `client_certs` says (Redis's `tls-auth-clients`):

    "none"      no certificate asked for
    "optional"  asked for; one that is shown must verify, a client showing none is taken
    "required"  a client without a certificate the CA signed is refused in the handshake

`ServerTls.reload` re-reads the files into the contexts in use: connections accepted after it
get the new certificate, connections open keep theirs (as Redis does after
`CONFIG SET tls-cert-file`). The files are first loaded into a scratch context, so a
half-written or mismatched pair is refused with the old certificate kept. `reload_if_changed`
does it when a file's inode, size or modification time changed: `senate serve` calls it
every `CERT_POLL_INTERVAL_S`, and on SIGHUP `tls_files.reload_all` (with the peers' reload,
`senate.security.peer_tls`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from senate.security.tls_files import CERT_POLL_INTERVAL_S, CLIENT_CERT_MODES, TlsFiles, register

log = logging.getLogger("senate.security")

#: The oldest TLS version the client port takes: redis-cli and redis-py speak TLS 1.2 at
#: least; anything older has known breaks.
MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2
#: `client_certs` as an `ssl` verify mode.
VERIFY_MODES = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}
assert tuple(VERIFY_MODES) == CLIENT_CERT_MODES


def server_context(files: TlsFiles, client_certs: str = "none") -> ssl.SSLContext:
    """A server context presenting `files`' certificate chain, verifying client
    certificates against `files.ca_file` as `client_certs` says. Raises `ssl.SSLError` or
    OSError if the files cannot be read or the key does not match the certificate."""
    if client_certs not in VERIFY_MODES:
        raise ValueError(f"client_certs must be one of {', '.join(CLIENT_CERT_MODES)}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_TLS_VERSION
    context.load_cert_chain(files.cert_file, files.key_file)
    context.load_verify_locations(files.ca_file)
    context.verify_mode = VERIFY_MODES[client_certs]
    return context


@dataclass(eq=False)  # identity: kept in a WeakSet
class ServerTls:
    """The TLS of one server: its files, and the contexts serving them. Without `contexts`
    it makes one (`context`); given them (made elsewhere from the same files, such as the
    metrics endpoint's), it reloads those."""

    files: TlsFiles
    client_certs: str = "none"
    #: The contexts in use, not empty; `reload` loads the new files into each, in place.
    contexts: list[ssl.SSLContext] = field(default_factory=list)
    #: How many reloads took new files.
    reloads: int = 0

    def __post_init__(self) -> None:
        self._stamps = self.files.stamps()
        if not self.contexts:
            self.contexts.append(server_context(self.files, self.client_certs))
        register(self)

    @property
    def context(self) -> ssl.SSLContext:
        return self.contexts[0]

    def reload(self) -> bool:
        """Re-reads the files into every context; False (the old certificate kept, the
        reason logged) if they cannot be read or do not fit together."""
        stamps = self.files.stamps()
        try:
            server_context(self.files, self.client_certs)  # all of it loads, or nothing changes
            for context in self.contexts:
                context.load_cert_chain(self.files.cert_file, self.files.key_file)
                context.load_verify_locations(self.files.ca_file)
        except (OSError, ssl.SSLError) as error:
            log.warning("TLS files %s not taken, the old ones kept: %s", self.files, error)
            return False
        self._stamps = stamps
        self.reloads += 1
        log.info("TLS: took the certificate %s", self.files.cert_file)
        return True

    def reload_if_changed(self) -> bool:
        """`reload` if a file changed since the last load; whether new files were taken."""
        if self.files.stamps() == self._stamps:
            return False
        return self.reload()


async def watch_files(
    servers: Sequence[ServerTls], interval_s: float = CERT_POLL_INTERVAL_S
) -> None:
    """Calls `reload_if_changed` on each of `servers` every `interval_s`, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        for server in servers:
            server.reload_if_changed()
