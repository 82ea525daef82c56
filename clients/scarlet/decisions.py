"""`autodevops scarlet waiting | approve | reject`: the approvals queue from a terminal, over
Scarlet's agent API with an approver's token (so the decision is recorded under its subject).

The token comes from `--token-file` or `$SCARLET_TOKEN`, never from the command line, where
other users of the machine could read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from autodevops.clients.core.config import read_secret
from autodevops.common.config import ConfigError


class Refused(Exception):
    """Scarlet answered with an error, or could not be reached: the message says which."""


def api_token(token_file: Path | None) -> str:
    if token_file is not None:
        return read_secret(token_file, "--token-file")
    token = os.environ.get("SCARLET_TOKEN", "").strip()
    if not token:
        raise ConfigError("give --token-file FILE or set SCARLET_TOKEN: an approver's API token")
    return token


def waiting(url: str, token: str) -> list[dict[str, Any]]:
    return list(_call("GET", url, "/v1/actions", token))


def decide(
    url: str, token: str, run: int, action: int, approve: bool, reason: str
) -> dict[str, Any]:
    verb = "approve" if approve else "reject"
    body = {"run": run, "reason": reason}
    return dict(_call("POST", url, f"/v1/actions/{action}/{verb}", token, body))


def table(actions: list[dict[str, Any]]) -> str:
    """What waits, one line each, in the order to decide it (oldest run first)."""
    if not actions:
        return "nothing waits for approval"
    lines = [f"{'RUN':>6} {'ACTION':>6}  {'EXPIRES':25} TOOL ARGUMENTS"]
    for action in sorted(actions, key=lambda a: (a["run"], a["id"])):
        arguments = json.dumps(action["arguments"], sort_keys=True)
        expires = action["expires_at"] or "-"
        lines.append(
            f"{action['run']:>6} {action['id']:>6}  {expires:25} {action['tool']} {arguments}"
        )
        lines.append(f"{'':15}why: {action['why']}")
    return "\n".join(lines)


def _call(method: str, url: str, path: str, token: str, body: Any = None) -> Any:
    try:
        response = httpx.request(
            method,
            url.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise Refused(
            f"Scarlet's API at {url} did not answer ({type(exc).__name__}): is Scarlet running, "
            "and is --url (or $SCARLET_URL) its agent API port?"
        ) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise Refused(f"Scarlet refused ({response.status_code}): {detail}")
    return response.json()
