"""Who calls Scarlet's API: bearer tokens mapped to a subject and roles, and the callers that
act for a person (Jamie) the way the MCP servers let them.

`submitter` may post alerts and runs, `viewer` may read, and an approver role (`approver`, or
those the actions policy names) may decide actions. A caller in the configuration's
`delegates` may send `X-Autodevops-On-Behalf-Of` (the person) and `...-Roles` (theirs): the
person becomes the subject, with the asserted roles that entry lets it hand on. Anyone else
sending those headers is refused: an identity is never taken on a caller's word alone.
Decisions are recorded under the subject. The tokens file is read again when it changes (a
rotated Secret); a broken update keeps the tokens read before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from autodevops.common.config import ConfigError
from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from autodevops.common.identity import (
    DelegationRefused,
    Principal,
    TokenStore,
    acting_for,
    person_from_header,
    read_token_entries,
    split_roles,
)
from autodevops.common.watched import WatchedFile

log = logging.getLogger("autodevops.scarlet.auth")


class Unauthenticated(Exception):
    """No valid bearer token: 401."""


class ApiTokens:
    """`ConfigError` at construction when the file cannot be used; `known` are the roles a
    token may carry."""

    def __init__(self, path: Path, known: Iterable[str]) -> None:
        roles = frozenset(known)
        self._file = WatchedFile(path, lambda p: _read_tokens(p, roles), log)

    def resolve(self, token: str) -> Principal | None:
        return self._file.current().resolve(token)


class Callers:
    """The principal of a request: its token's, or the person its delegate acts for."""

    def __init__(self, tokens: ApiTokens, delegable: Callable[[str], tuple[str, ...]]) -> None:
        self._tokens = tokens
        self._delegable = delegable

    def principal(
        self, authorization: str | None, person: str | None, asserted: str | None
    ) -> Principal:
        """Raises `Unauthenticated`, or `DelegationRefused` (403)."""
        scheme, _, token = (authorization or "").partition(" ")
        caller = self._tokens.resolve(token.strip()) if scheme.lower() == "bearer" else None
        if caller is None:
            raise Unauthenticated("a valid bearer token is required")
        if person is None:
            if asserted is not None:
                raise DelegationRefused(
                    f"{ON_BEHALF_OF_ROLES_HEADER} needs {ON_BEHALF_OF_HEADER}: "
                    "the person they are for"
                )
            return caller
        return acting_for(
            caller,
            person_from_header(person),
            split_roles(asserted or ""),
            self._delegable(caller.subject),
            "no `delegates` entry in Scarlet's configuration names it",
        )


def _read_tokens(path: Path, known: frozenset[str]) -> TokenStore:
    entries = read_token_entries(path)
    for index, entry in enumerate(entries):
        unknown = sorted(set(entry.roles) - known)
        if unknown:
            raise ConfigError(
                f"{path}: {index}.roles: unknown role(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
    return TokenStore(entries)
