"""Client authentication of the key-value service: the cluster file's `[auth]` table.

    [auth]
    # Lines of a Redis ACL file (an existing one can be pasted), passwords as SHA-256 hashes:
    users = [
        "user default off",
        "user app on #<sha256 hex> ~* +@read +@write -@dangerous",
        "user admin on #<sha256 hex> ~* +@all",
    ]
    # Or, for the default user alone (Redis's requirepass):
    requirepass = "#<sha256 hex>"

`senate passwd` prints the `#<hex>` of a password. The rules and what each command needs are
in docs/security.md; the rules are parsed and enforced by the Rust core (`AclUsers`). No
`[auth]` table: every connection is Redis's `nopass` default user, allowed everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from senate._core import AclUsers
from senate.errors import config_error

#: The keys of the `[auth]` table.
AUTH_KEYS = ("users", "requirepass")


def password_hash(password: bytes) -> str:
    """`#` and the SHA-256 of `password` in hex: how the `[auth]` table (and a Redis ACL file)
    stores a password."""
    return "#" + hashlib.sha256(password).hexdigest()


@dataclass(frozen=True)
class AuthConfig:
    """The users of the key-value service: `users` are lines of a Redis ACL file,
    `requirepass` the default user's password hash. Validated when made: a bad line raises
    `ConfigError` naming it (`auth.users[1]`)."""

    users: tuple[str, ...] = ()
    requirepass: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", tuple(self.users))
        self.acl_users()

    def acl_users(self) -> AclUsers:
        """The users, parsed (one `AclUsers` is shared by every session of a server)."""
        return AclUsers(list(self.users), self.requirepass)

    @property
    def configured(self) -> bool:
        return bool(self.users) or self.requirepass is not None

    @classmethod
    def from_dict(cls, data: Any) -> AuthConfig:
        """The `[auth]` table of a parsed cluster file."""
        if not isinstance(data, Mapping):
            raise config_error("auth", "expected a table ([auth])")
        for key in data:
            if key not in AUTH_KEYS:
                raise config_error(
                    f"auth.{key}", f"unknown field {key!r} (known: {', '.join(AUTH_KEYS)})"
                )
        users = data.get("users", [])
        if not isinstance(users, list):
            raise config_error(
                "auth.users", "expected an array of strings (lines of a Redis ACL file)"
            )
        for i, line in enumerate(users):
            if not isinstance(line, str):
                raise config_error(f"auth.users[{i}]", f"expected a string, got {line!r}")
        requirepass = data.get("requirepass")
        if requirepass is not None and not isinstance(requirepass, str):
            raise config_error("auth.requirepass", f"expected a string, got {requirepass!r}")
        return cls(tuple(users), requirepass)

    def to_toml(self, quote: Any) -> list[str]:
        """The `[auth]` table's lines (none when nothing is configured); `quote` writes a TOML
        string."""
        if not self.configured:
            return []
        lines = ["", "[auth]"]
        if self.users:
            lines += ["users = [", *(f"    {quote(line)}," for line in self.users), "]"]
        if self.requirepass is not None:
            lines.append(f"requirepass = {quote(self.requirepass)}")
        return lines
