"""Who calls Scarlet's API: bearer tokens mapped to a subject and roles.

`submitter` may post alerts and runs, `approver` may decide actions, `viewer` may read.
Approvals are recorded with the subject, so the token file is also the list of approvers.
The file is read again when it changes (a rotated Secret); a broken update keeps the tokens
read before.
"""

from __future__ import annotations

import logging
from pathlib import Path

from autodevops.common.config import ConfigError
from autodevops.common.identity import Principal, TokenStore, read_token_entries
from autodevops.common.watched import WatchedFile

ROLES = frozenset({"submitter", "approver", "viewer"})
log = logging.getLogger("autodevops.scarlet.auth")


class ApiTokens:
    """`ConfigError` at construction when the file cannot be used."""

    def __init__(self, path: Path) -> None:
        self._file = WatchedFile(path, _read_tokens, log)

    def resolve(self, token: str) -> Principal | None:
        return self._file.current().resolve(token)


def _read_tokens(path: Path) -> TokenStore:
    entries = read_token_entries(path)
    for index, entry in enumerate(entries):
        unknown = sorted(set(entry.roles) - ROLES)
        if unknown:
            raise ConfigError(
                f"{path}: {index}.roles: unknown role(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(ROLES))})"
            )
    return TokenStore(entries)
