"""Who calls Scarlet's API: bearer tokens mapped to a subject and roles.

`submitter` may post alerts and runs, `approver` may decide actions, `viewer` may read.
Approvals are recorded with the subject, so the token file is also the list of approvers.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from autodevops.servers.core.identity import Principal, TokenEntry, TokenStore
from autodevops.servers.core.policy import PolicyError, format_validation_error

ROLES = frozenset({"submitter", "approver", "viewer"})


def load_api_tokens(path: Path) -> TokenStore:
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = TypeAdapter(list[TokenEntry]).validate_python(raw)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise PolicyError(format_validation_error(source, exc)) from exc
    for index, entry in enumerate(entries):
        unknown = sorted(set(entry.roles) - ROLES)
        if unknown:
            raise PolicyError(
                f"{source}: {index}.roles: unknown role(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(ROLES))})"
            )
    return TokenStore(entries)


def allows(principal: Principal, role: str) -> bool:
    return role in principal.roles
