"""Who a caller is (a subject and roles) and the static bearer-token files that say so, for
the servers and for Scarlet's own API alike."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .config import ConfigError, format_validation_error, read_yaml
from .headers import ON_BEHALF_OF_HEADER

MAX_PERSON_LENGTH = 256


@dataclass(frozen=True)
class Principal:
    """`actor` is the authenticated caller when it acts for `subject`, a person."""

    subject: str
    roles: tuple[str, ...]
    transport: str
    actor: str | None = None


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, description="the bearer secret; at least 16 characters")
    subject: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)


def read_token_entries(path: Path) -> list[TokenEntry]:
    """The `{token, subject, roles}` list shared by the servers' and Scarlet's token files."""
    try:
        return TypeAdapter(list[TokenEntry]).validate_python(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc


class TokenStore:
    """Static bearer tokens, kept only as SHA-256 digests so a dump of memory or logs is useless."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._by_digest = {
            token_digest(entry.token): Principal(entry.subject, tuple(entry.roles), "http")
            for entry in entries
        }

    def resolve(self, token: str) -> Principal | None:
        return self._by_digest.get(token_digest(token))

    async def authenticate(self, token: str) -> Principal | None:
        return self.resolve(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def person_name_problem(person: str) -> str:
    """Why `person` cannot name someone to the servers (empty when it can): Jamie refuses such a
    name at sign-in, and a server refuses it in `X-Autodevops-On-Behalf-Of`."""
    if not person:
        return "the person's name is empty"
    if len(person) > MAX_PERSON_LENGTH:
        return f"the person's name is longer than {MAX_PERSON_LENGTH} characters"
    if any(char.isspace() for char in person):
        return "the person's name contains whitespace; send the account name, not a display name"
    if not person.isprintable():
        return "the person's name contains a non-printable character"
    return ""


class DelegationRefused(Exception):
    """The caller may not act for anyone, or named the person unusably: the request gets 403."""


def acting_for(
    caller: Principal,
    person: str,
    asserted_roles: Sequence[str],
    delegable: Sequence[str],
    why_not: str,
) -> Principal:
    """The person as the subject, with the asserted roles the caller may hand on (`delegable`,
    from the callee's own configuration; none: the caller may not act for anyone, `why_not`).

    Other asserted roles are dropped silently: a client sends a person's roles to every
    service, and each honours only those it lets the caller delegate.
    """
    if not delegable:
        raise DelegationRefused(f"{caller.subject} may not act on behalf of others: {why_not}")
    problem = person_name_problem(person)
    if problem:
        raise DelegationRefused(f"{ON_BEHALF_OF_HEADER}: {problem}")
    roles = tuple(dict.fromkeys(role for role in asserted_roles if role in delegable))
    return Principal(person, roles, caller.transport, actor=caller.subject)


def person_from_header(value: str) -> str:
    """The person an `X-Autodevops-On-Behalf-Of` header names (percent-encoded UTF-8)."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise DelegationRefused(f"{ON_BEHALF_OF_HEADER}: not percent-encoded UTF-8") from None


def split_roles(value: str) -> tuple[str, ...]:
    """The roles of an `X-Autodevops-On-Behalf-Of-Roles` header: comma separated."""
    return tuple(role for item in value.split(",") if (role := item.strip()))
