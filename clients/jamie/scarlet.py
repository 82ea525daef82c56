"""Scarlet's agent API for the console's runs and approvals pages, called for a person.

Jamie presents its own token and names the person and their roles in the same headers it
sends the MCP servers; Scarlet keeps the roles its `delegates` entry lets Jamie hand on, then
decides what the person may see and decide. Jamie adds no rights of its own: Scarlet's
refusals (403, 404, 409, 422) reach the page with Scarlet's own words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from autodevops.common.unavailable import BackendUnavailable

from .config import Scarlet
from .people import Person


class ScarletRefused(Exception):
    """Scarlet answered with an error the person should read; `status` is Scarlet's."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ScarletApi:
    def __init__(self, config: Scarlet) -> None:
        self._config = config
        self._where = urlsplit(config.url).netloc.rsplit("@", 1)[-1]
        self._http = httpx.AsyncClient(
            base_url=config.url.rstrip("/"), timeout=config.timeout_seconds
        )

    async def get(self, person: Person, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._call(person, "GET", path, params=params)

    async def post(self, person: Person, path: str, body: dict[str, Any]) -> Any:
        return await self._call(person, "POST", path, json=body)

    @asynccontextmanager
    async def events(self, person: Person, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """A run's event stream, as Scarlet sends it; no read timeout, the stream waits."""
        timeout = httpx.Timeout(self._config.timeout_seconds, read=None)
        request = self._http.build_request(
            "GET", path, headers=self._headers(person), timeout=timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _refused(response)
            yield response.aiter_raw()
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, person: Person, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(
                method, path, headers=self._headers(person), **kwargs
            )
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code >= 400:
            raise _refused(response)
        return response.json()

    def _headers(self, person: Person) -> dict[str, str]:
        token = self._config.token_file.read_text(encoding="utf-8").strip()
        return {
            "Authorization": f"Bearer {token}",
            ON_BEHALF_OF_HEADER: quote(person.user, safe=""),
            ON_BEHALF_OF_ROLES_HEADER: ", ".join(person.roles),
        }

    def _unavailable(self, exc: httpx.HTTPError) -> BackendUnavailable:
        happened = (
            "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "unreachable"
        )
        return BackendUnavailable(
            "Scarlet's API",
            self._where,
            f"{happened} ({type(exc).__name__})",
            "that Scarlet runs and that scarlet.url in Jamie's configuration is its agent "
            "API port (8001)",
        )


def _refused(response: httpx.Response) -> ScarletRefused:
    try:
        detail = response.json().get("detail", "")
    except ValueError:
        detail = ""
    if not isinstance(detail, str):
        detail = "; ".join(str(item.get("msg", item)) for item in detail) if detail else ""
    if response.status_code == 401:
        # Jamie's own token was refused: the person can do nothing about it.
        return ScarletRefused(
            502,
            "Scarlet refused Jamie's own token: check scarlet.token_file and Scarlet's "
            "API tokens file",
        )
    return ScarletRefused(response.status_code, detail or response.reason_phrase)
