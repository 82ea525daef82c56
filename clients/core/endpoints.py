"""Where the MCP servers are: streamable HTTP with the client's own token, or a stdio command.

Each endpoint has a short name; it prefixes the server's tools in the merged catalogue, so it
must be valid inside an Ollama tool name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
from fastmcp.client.transports import ClientTransport, StdioTransport, StreamableHttpTransport

from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER

from .trace_context import TraceHeader

SERVER_NAME = re.compile(r"^[a-zA-Z0-9-]+(?:_[a-zA-Z0-9-]+)*$")


def check_name(name: str) -> None:
    """Names with a double underscore would make prefixed tool names ambiguous."""
    if not SERVER_NAME.fullmatch(name):
        raise ValueError(
            f"server name {name!r}: use letters, digits, '-' and single '_' (it prefixes tools)"
        )


@dataclass(frozen=True)
class HttpEndpoint:
    """A server over streamable HTTP; `token` is this client's own bearer token, or
    `token_file` names the file that holds it, read at every (re)connection so a rotated
    Secret or a refreshed projected ServiceAccount token is used without a restart.

    `on_behalf_of` (person, roles) makes the server treat the person as the subject, within
    the roles its policy lets this client hand on."""

    name: str
    url: str
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    on_behalf_of: tuple[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.token is not None and self.token_file is not None:
            raise ValueError(f"server {self.name}: give token or token_file, not both")

    def transport(self) -> ClientTransport:
        return StreamableHttpTransport(self.url, headers=self._headers(), auth=TraceHeader())

    def describe(self) -> str:
        return self.url

    async def http_refusal(self) -> str | None:
        """The MCP client reports any HTTP error as a generic one; one plain request shows
        the status and the server's own explanation (e.g. a wrong token)."""
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                response = await http.post(self.url, json={}, headers=self._headers())
        except httpx.HTTPError:
            return None
        if response.status_code not in (401, 403, 404):
            return None
        try:
            detail = str(response.json().get("detail", ""))
        except ValueError:
            detail = response.text[:200]
        hint = "check this client's bearer token" if response.status_code == 401 else detail
        return f"HTTP {response.status_code} from {self.url}: {hint or response.reason_phrase}"

    def _headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:
            token = self.token_file.read_text(encoding="utf-8").strip()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self.on_behalf_of is not None:
            person, roles = self.on_behalf_of
            headers[ON_BEHALF_OF_HEADER] = quote(person, safe="")
            headers[ON_BEHALF_OF_ROLES_HEADER] = ", ".join(roles)
        return headers


@dataclass(frozen=True)
class StdioEndpoint:
    """A server the client starts itself and talks to over stdin/stdout."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None

    def __post_init__(self) -> None:
        check_name(self.name)

    def transport(self) -> ClientTransport:
        # keep_alive=False: a dead process must not be reused by the next session.
        return StdioTransport(self.command, list(self.args), env=self.env, keep_alive=False)

    def describe(self) -> str:
        return " ".join([self.command, *self.args][:3]) + (" …" if len(self.args) > 2 else "")


Endpoint = HttpEndpoint | StdioEndpoint
