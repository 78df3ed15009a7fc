"""How a client reaches a node's client port: TLS (the CA to verify the server with, and a
certificate of its own when the servers require one) and credentials (`AUTH [user]
password`), as `redis-cli --tls --cacert ... --cert ... --key ... --user ... --pass ...`
takes them.

One `ClientSecurity` serves every client of the package: `senate.Client` (through redis-py's
`ssl_*`, `username` and `password` arguments), `senate status` and the other blocking probes
(`senate.status.connect`), and the load generator (`asyncio`'s `create_connection(ssl=...)`).

Host names are checked by default: a node's certificate names `localhost`, `127.0.0.1` and
the hosts given to `senate certs` (`senate.security.certs`), so a client that connects to an
address the certificate does not name is refused unless `check_hostname=False`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The environment variable redis-cli reads the password from (so it stays out of `ps`).
PASSWORD_ENV = "REDISCLI_AUTH"
#: The oldest TLS version a client offers (the servers take nothing older either).
MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True)
class ClientSecurity:
    """TLS and credentials of a client; the default is plain TCP without AUTH."""

    #: Speak TLS to the servers.
    tls: bool = False
    #: PEM file of the CA that signs the servers' certificates; None: the system's CAs.
    ca_file: str | None = None
    #: The client's own certificate and key (PEM), for servers that ask for one.
    cert_file: str | None = None
    key_file: str | None = None
    #: Whether the server's certificate must name the host connected to.
    check_hostname: bool = True
    #: `AUTH username password`; None: `AUTH password` (the `default` user). Without a
    #: password no AUTH is sent (a spec read back from JSON has no password).
    username: str | None = None
    #: None: no AUTH. Kept out of `repr` and of every file and command line written.
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        if not self.tls and (self.ca_file or self.cert_file):
            raise ValueError("a CA or a client certificate is given without TLS")

    @property
    def plain(self) -> bool:
        """Neither TLS nor AUTH: what a client does by default."""
        return not self.tls and self.password is None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client context (None without TLS): the server's certificate verified against
        `ca_file` (or the system's CAs), its host name checked unless told otherwise."""
        if not self.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        context.minimum_version = MIN_TLS_VERSION
        context.check_hostname = self.check_hostname
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def auth_args(self) -> list[str] | None:
        """The AUTH command to send first on a connection, or None."""
        if self.password is None:
            return None
        user = [] if self.username is None else [self.username]
        return ["AUTH", *user, self.password]

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py's connection arguments for this: the `ssl_*` ones (those of
        `redis.asyncio.SSLConnection`, without `ssl=True`), `username` and `password`."""
        kwargs: dict[str, Any] = {}
        if self.tls:
            kwargs.update(
                ssl_ca_certs=self.ca_file,
                ssl_certfile=self.cert_file,
                ssl_keyfile=self.key_file,
                ssl_check_hostname=self.check_hostname,
                ssl_cert_reqs="required",
            )  # TLS 1.2 at least: Python's default minimum
        if self.password is not None:
            kwargs.update(username=self.username, password=self.password)
        return kwargs

    def to_args(self) -> list[str]:
        """Command-line options that say the same, as `senate status`, `senate bench` and
        `python -m senate.loadgen_process` take them; the password is not among them (pass it in
        `PASSWORD_ENV`, see `environment`)."""
        args: list[str] = []
        if self.tls:
            args.append("--tls")
            for flag, path in (
                ("--cacert", self.ca_file),
                ("--cert", self.cert_file),
                ("--key", self.key_file),
            ):
                if path is not None:
                    args += [flag, path]
            if not self.check_hostname:
                args.append("--no-check-hostname")
        if self.username is not None:
            args += ["--user", self.username]
        return args

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (this process's environment by default) with the password in
        `PASSWORD_ENV`, for a child process given `to_args()`."""
        env = dict(os.environ if base is None else base)
        env.pop(PASSWORD_ENV, None)
        if self.password is not None:
            env[PASSWORD_ENV] = self.password
        return env

    def to_json(self) -> dict[str, Any]:
        """Everything but the password."""
        return {
            "tls": self.tls,
            "ca_file": self.ca_file,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
            "check_hostname": self.check_hostname,
            "username": self.username,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], password: str | None = None) -> ClientSecurity:
        return cls(**data, password=password)
