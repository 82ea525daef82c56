"""MongoDB through pymongo's async client, with the server's own credentials.

`ScopedMongo` is the only client tools get: every database and collection it hands out has
passed the role's scope, every filter and pipeline has been checked (`pipeline.py`), and every
operation carries the role's ``maxTimeMS``. MongoDB's errors become errors a model can act
on: the backend down or refusing our credentials (naming host:port, never the URI's
password), the time limit reached, a feature this server does not implement, a bad query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import unquote

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import GateError, InvalidArgument

from .pipeline import check_pipeline, check_value, from_json
from .scope import MongoScope

BACKEND = "MongoDB"
_CHECK_RUNNING = "that MongoDB is running and --uri-file (or MONGODB_URL) points at it"
_CHECK_USER = (
    "the server's MongoDB user and its roles (`autodevops policy mongo-roles` prints what the "
    "policy needs)"
)
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_TIME_LIMIT = 50
# Codes MongoDB-compatible servers answer for what they do not implement: CommandNotFound,
# CommandNotSupported, NotImplemented, unknown pipeline stage.
_MISSING = frozenset({59, 115, 238, 40234, 40324})
Doc = dict[str, Any]
T = TypeVar("T")


class TimeLimitExceeded(GateError):
    """MongoDB stopped the operation at the role's maxTimeMS."""

    reason = "timeout"
    denied = False


class Unsupported(GateError):
    """The MongoDB-compatible server does not implement what the tool asked for."""

    reason = "unsupported"
    denied = False


def where(uri: str) -> tuple[str, list[str]]:
    """host:port list of a mongodb:// URI, and the secrets in it; no DNS lookup."""
    rest = uri.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hosts = authority.rpartition("@")
    secrets = [userinfo, unquote(userinfo.partition(":")[2])] if at else []
    return hosts or "127.0.0.1:27017", [s for s in secrets if s]


class MongoBackend:
    name = BACKEND

    def __init__(self, uri: str, connect_timeout_seconds: float = 5.0) -> None:
        self.url, self._secrets = where(uri)
        timeout_ms = int(connect_timeout_seconds * 1000)
        self._client: AsyncMongoClient[Doc] = AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="autodevops-mcp",
            tz_aware=True,
        )

    async def check_ready(self) -> None:
        async with self.errors("ping"):
            await self._client.admin.command("ping")

    def scoped(self, scope: MongoScope) -> ScopedMongo:
        return ScopedMongo(self, scope)

    async def aclose(self) -> None:
        await self._client.close()

    @property
    def client(self) -> AsyncMongoClient[Doc]:
        return self._client

    @asynccontextmanager
    async def errors(self, what: str, field: str = "filter") -> AsyncIterator[None]:
        """MongoDB's errors as errors that say what happened and what to do."""
        try:
            yield
        except OperationFailure as exc:
            raise self._failure(exc, what, field) from exc
        except ConnectionFailure as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"unreachable ({type(exc).__name__}: {_first_line(exc)})",
                _CHECK_RUNNING,
                self._secrets,
            ) from exc
        except PyMongoError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"{what} failed ({type(exc).__name__}: {_first_line(exc)})",
                _CHECK_RUNNING,
                self._secrets,
            ) from exc

    def _failure(self, exc: OperationFailure, what: str, field: str) -> Exception:
        code = exc.code or 0
        message = (exc.details or {}).get("errmsg") or _first_line(exc)
        if code == _AUTH_FAILED:
            return BackendUnavailable(
                BACKEND,
                self.url,
                f"refused our credentials ({message})",
                _CHECK_USER,
                self._secrets,
            )
        if code == _UNAUTHORIZED:
            return BackendUnavailable(
                BACKEND, self.url, f"our user may not run {what} ({message})", _CHECK_USER
            )
        if code == _TIME_LIMIT:
            return TimeLimitExceeded(
                f"MongoDB at {self.url} stopped {what} at your role's time limit (maxTimeMS): "
                f"{message}. Narrow the filter, use an indexed field (see explain), or ask for "
                "fewer documents"
            )
        if code in _MISSING or "not implemented" in message.lower():
            return Unsupported(
                f"this MongoDB-compatible server at {self.url} does not implement {what} "
                f"({message}); MongoDB itself has it"
            )
        return InvalidArgument(field, f"MongoDB refused {what}: {message}")


class ScopedMongo:
    """Databases and collections of one role's scope; every operation checked and time-bound."""

    def __init__(self, backend: MongoBackend, scope: MongoScope) -> None:
        self.backend = backend
        self.scope = scope

    @property
    def max_time_ms(self) -> int:
        return self.scope.max_time_ms

    def database(self, name: str) -> AsyncDatabase[Doc]:
        return self.backend.client[self.scope.check_database(name)]

    def collection(self, database: str, name: str) -> AsyncCollection[Doc]:
        return self.database(database)[self.scope.check_collection(database, name)]

    def value(self, raw: Any, field: str) -> Any:
        """A filter, projection or sort from JSON, refused if it holds JavaScript."""
        if raw is None:
            return None
        value = from_json(raw, field)
        check_value(value, field)
        return value

    def pipeline(self, raw: Any, database: str, field: str = "pipeline") -> list[Doc]:
        value = from_json(raw, field)
        check_pipeline(value, database, self.scope, field)
        result: list[Doc] = value
        return result

    async def run(self, what: str, operation: Awaitable[T], field: str = "filter") -> T:
        async with self.backend.errors(what, field):
            return await operation

    async def command(
        self, database: str, what: str, command: Mapping[str, Any], field: str = "filter"
    ) -> Doc:
        """A command on a database of the scope, within the time limit."""
        return await self._command(self.database(database), what, command, field)

    async def admin(self, what: str, command: Mapping[str, Any]) -> Doc:
        """A server-level command (serverStatus, currentOp): the tool allow-list governs it."""
        return await self._command(self.backend.client.admin, what, command)

    async def _command(
        self, db: AsyncDatabase[Doc], what: str, command: Mapping[str, Any], field: str = "filter"
    ) -> Doc:
        body = {**command, "maxTimeMS": self.max_time_ms}
        return await self.run(what, db.command(body), field)


def _first_line(exc: BaseException) -> str:
    text = str(exc).split(", full error:", 1)[0].split(", Timeout:", 1)[0]
    return text.splitlines()[0] if text else repr(exc)
