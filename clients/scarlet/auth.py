"""Who calls Scarlet's API: bearer tokens mapped to a subject and roles.

`submitter` may post alerts and runs, `approver` may decide actions, `viewer` may read.
Approvals are recorded with the subject, so the token file is also the list of approvers.
"""

from __future__ import annotations

from pathlib import Path

from autodevops.common.config import ConfigError
from autodevops.common.identity import Principal, TokenStore, read_token_entries

ROLES = frozenset({"submitter", "approver", "viewer"})


def load_api_tokens(path: Path) -> TokenStore:
    entries = read_token_entries(path)
    for index, entry in enumerate(entries):
        unknown = sorted(set(entry.roles) - ROLES)
        if unknown:
            raise ConfigError(
                f"{path}: {index}.roles: unknown role(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(ROLES))})"
            )
    return TokenStore(entries)


def allows(principal: Principal, role: str) -> bool:
    return role in principal.roles
