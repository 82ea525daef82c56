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
from autodevops.common.identity import (
    Principal,
    TokenStore,
    acting_for,
    read_token_entries,
)

from .policy import Policy


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
    """The person as the subject, with the asserted roles the policy lets the caller hand on."""
    return acting_for(
        caller,
        person,
        asserted_roles,
        policy.delegable_roles(caller.subject),
        f"no `delegates` entry in the {policy.server} policy names it",
    )


def stdio_principal(policy: Policy) -> Principal:
    """The local user runs the process, so stdio needs no token; the policy still bounds it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    roles = (policy.stdio_role,) if policy.stdio_role else ()
    return Principal(f"local:{user}", roles, "stdio")
