"""Who a person is: a local user with a password, or a name an authenticating proxy vouches for.

Passwords are stored as scrypt hashes only. The users file is re-read when it changes, so an
updated Secret or ConfigMap applies without a restart. Proxy headers are believed only from the
proxy's own addresses: anyone else could set them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from autodevops.common.config import ConfigError, format_validation_error, read_yaml
from autodevops.common.identity import person_name_problem
from autodevops.common.watched import WatchedFile

from .config import Proxy

log = logging.getLogger("autodevops.jamie.people")

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# A hash asking for more scrypt memory than this is refused rather than computed.
_MAX_SCRYPT_MEMORY = 2**28


@dataclass(frozen=True)
class Person:
    user: str
    display_name: str
    roles: tuple[str, ...]
    auth: Literal["password", "proxy"]


def hash_password(password: str) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>``, base64; the parameters travel with the hash so they
    can be raised later without invalidating old ones."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, digest)]
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), *encoded])


def check_password(encoded: str, password: str) -> bool:
    """Whether `password` matches; a malformed hash matches nothing."""
    parsed = _parse_hash(encoded)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL needs 128 * r * (n + p + 2) bytes; its default limit (32 MiB) is just below n=2**15.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length
    )


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, digest = (base64.b64decode(part, validate=True) for part in parts[4:6])
    except ValueError:
        return None
    sane = n >= 2 and n & (n - 1) == 0 and r >= 1 and 1 <= p <= 16
    if not sane or 128 * r * n > _MAX_SCRYPT_MEMORY or len(salt) < 8 or len(digest) < 16:
        return None
    return n, r, p, salt, digest


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown users, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def _account_name(value: str) -> str:
    # The name goes to the MCP servers as X-Autodevops-On-Behalf-Of: checked as they check it.
    problem = person_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _role_name(value: str) -> str:
    # Roles go to the MCP servers comma-separated in one header.
    if not value or "," in value or any(char.isspace() for char in value):
        raise ValueError("a role name cannot be empty or contain a comma or whitespace")
    return value


def _scrypt_hash(value: str) -> str:
    if _parse_hash(value) is None:
        raise ValueError(
            "not a scrypt hash of the form scrypt$n$r$p$salt$hash; "
            "make one with `autodevops jamie hash-password`"
        )
    return value


class _User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, AfterValidator(_account_name)]
    password_hash: Annotated[str, AfterValidator(_scrypt_hash)]
    roles: list[Annotated[str, AfterValidator(_role_name)]]
    display_name: str | None = Field(default=None, min_length=1)


_USERS = TypeAdapter(list[_User])


def _read_users(path: Path) -> dict[str, _User]:
    raw = read_yaml(path)
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: (top level): expected a list of users")
    try:
        users = _USERS.validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    by_name: dict[str, _User] = {}
    first: dict[str, int] = {}
    problems = []
    for index, user in enumerate(users):
        if user.username in first:
            problems.append(
                f"{path}: {index}.username: {user.username!r} is already entry "
                f"{first[user.username]}"
            )
        else:
            first[user.username] = index
            by_name[user.username] = user
    if problems:
        raise ConfigError("\n".join(problems))
    return by_name


class UsersFile:
    """Local users; `verify` re-reads the file when it changed."""

    def __init__(self, path: Path) -> None:
        """Reads the file; `ConfigError` naming the file, the entry's index and the field."""
        self._file = WatchedFile(path, _read_users, log)

    def verify(self, username: str, password: str) -> Person | None:
        """The person when the password is right; an unknown name takes as long as a known one."""
        user = self._file.current().get(username)
        if user is None:
            check_password(_dummy_hash(), password)
            return None
        if not check_password(user.password_hash, password):
            return None
        display_name = user.display_name or user.username
        return Person(user.username, display_name, tuple(user.roles), "password")


class Networks:
    """Whether a peer address is in one of some CIDRs (an IPv4-mapped IPv6 counts as IPv4)."""

    def __init__(self, cidrs: list[str]) -> None:
        self._networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]

    def __call__(self, peer: str | None) -> bool:
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


class ProxyRefused(Exception):
    """A trusted proxy sent identity headers that name nobody usable: the request gets 401."""


class ProxyIdentity:
    """The person an authenticating proxy names in its headers, when the request came from it."""

    def __init__(self, proxy: Proxy) -> None:
        self._proxy = proxy
        self.trusts = Networks(proxy.trusted_proxies)

    def person(self, peer: str | None, headers: Sequence[tuple[bytes, bytes]]) -> Person | None:
        """None unless `peer` is a trusted proxy and it named a user; roles are the default
        roles, then those of each group in the order the proxy listed them, each once.

        `headers` are the raw ones: values are UTF-8 (not Latin-1, as HTTP libraries decode
        them), and a header sent twice is refused rather than letting one copy win.
        Raises `ProxyRefused` for a name the servers would refuse.
        """
        if not self.trusts(peer):
            return None
        user = self._one(headers, self._proxy.user_header).strip()
        if not user:
            return None
        problem = person_name_problem(user)
        if problem:
            raise ProxyRefused(f"{self._proxy.user_header}: {problem}")
        groups = self._one(headers, self._proxy.groups_header).split(",")
        roles = list(self._proxy.default_roles)
        for group in (group.strip() for group in groups):
            roles += self._proxy.group_roles.get(group, [])
        return Person(user, user, tuple(dict.fromkeys(roles)), "proxy")

    @staticmethod
    def _one(headers: Sequence[tuple[bytes, bytes]], name: str) -> str:
        wanted = name.lower().encode("latin-1")
        values = [value for key, value in headers if key.lower() == wanted]
        if len(values) > 1:
            raise ProxyRefused(f"{name}: sent {len(values)} times; the proxy must send it once")
        try:
            return values[0].decode("utf-8") if values else ""
        except UnicodeDecodeError:
            raise ProxyRefused(f"{name}: not UTF-8") from None
