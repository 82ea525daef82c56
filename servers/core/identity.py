"""Who is calling: a subject and roles, from a bearer token over HTTP or the local user on stdio.

Over HTTP a token goes through a chain of authenticators: the static tokens first (no network),
then TokenReview when it is enabled. A caller the policy names in `delegates` (Jamie) may then
act for a person: the person becomes the subject, bounded by the roles the caller may hand on.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from autodevops.common.config import ConfigError
from autodevops.common.headers import ON_BEHALF_OF_HEADER
from autodevops.common.identity import (
    Principal,
    TokenStore,
    person_name_problem,
    read_token_entries,
)

from .policy import Policy


class DelegationRefused(Exception):
    """The caller may not act for anyone, or named the person unusably: the request gets 403."""


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The caller the token proves, or None when this authenticator does not accept it."""
        ...


class AuthUnavailable(Exception):
    """The authority that verifies tokens cannot answer: the caller gets 503, not 401."""


class AuthenticatorChain:
    """The first authenticator that accepts the token decides who the caller is."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = tuple(authenticators)

    async def authenticate(self, token: str) -> Principal | None:
        for authenticator in self._authenticators:
            principal = await authenticator.authenticate(token)
            if principal is not None:
                return principal
        return None


def load_token_store(path: Path, policy: Policy) -> TokenStore:
    """A server's static tokens; every role a token names must exist in the server's policy."""
    source = str(path)
    entries = read_token_entries(path)
    for index, entry in enumerate(entries):
        unknown = [role for role in entry.roles if role not in policy.roles]
        if unknown:
            raise ConfigError(
                f"{source}: {index}.roles: unknown role(s) {', '.join(unknown)} "
                f"(the policy for {policy.server} has {', '.join(sorted(policy.roles))})"
            )
    return TokenStore(entries)


def act_for(
    policy: Policy, caller: Principal, person: str, asserted_roles: Sequence[str]
) -> Principal:
    """The person as the subject, with the asserted roles the caller may hand on.

    Other asserted roles are dropped silently: a client sends a person's roles to every server,
    and each server honours only those its policy lets the caller delegate.
    """
    delegable = policy.delegable_roles(caller.subject)
    if not delegable:
        raise DelegationRefused(
            f"{caller.subject} may not act on behalf of others: "
            f"no `delegates` entry in the {policy.server} policy names it"
        )
    problem = person_name_problem(person)
    if problem:
        raise DelegationRefused(f"{ON_BEHALF_OF_HEADER}: {problem}")
    roles = tuple(dict.fromkeys(role for role in asserted_roles if role in delegable))
    return Principal(person, roles, caller.transport, actor=caller.subject)


def split_roles(value: str) -> tuple[str, ...]:
    """The roles of an `X-Autodevops-On-Behalf-Of-Roles` header: comma separated."""
    return tuple(role for item in value.split(",") if (role := item.strip()))


def stdio_principal(policy: Policy) -> Principal:
    """The local user runs the process, so stdio needs no token; the policy still bounds it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    roles = (policy.stdio_role,) if policy.stdio_role else ()
    return Principal(f"local:{user}", roles, "stdio")
