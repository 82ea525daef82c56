"""The only code that talks to PostgreSQL, as the server's own login role.

Each database gets a small pool (psycopg_pool, bounded); every statement runs inside
`BEGIN READ ONLY` with `SET LOCAL statement_timeout` and `lock_timeout` from the caller's
scope, and a connection is reset (`DISCARD ALL`: settings, advisory locks, temporary state)
before it is used again. `ScopedPostgres` is the only client a tool gets: it checks databases
and the relations PostgreSQL resolves for a statement against the role's scope.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from autodevops.common.redact import REDACTED, redact_value
from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import GateError, InvalidArgument, NotFound, OutOfScope

from .scope import PostgresScope
from .statement import HARMLESS_VOLATILE, Statement, StatementRefused, check_statement

BACKEND = "PostgreSQL"
APPLICATION_NAME = "autodevops-postgres"
MAX_DATABASES = 8
FETCH_BATCH = 200
MAX_FETCH_BYTES = 2_000_000
_CHECK = "that PostgreSQL runs there and accepts this server's role (--dsn-file, DATABASE_URL)"
# Column names whose values are hidden whatever they hold, beyond the secret-looking names the
# shared redaction knows (password, token, secret, api_key, ...): `key`, `ssh_key`, `*_hash`.
_SECRET_COLUMN = re.compile(r"(?:^|_)(?:key|hash|salt)$")


class DatabaseRefused(GateError):
    """PostgreSQL itself refused the statement (privileges, read-only transaction)."""

    reason = "database_refused"


class StatementTimeout(GateError):
    """The statement ran past its timeout, or waited past its lock timeout, and was cancelled."""

    reason = "timeout"
    denied = False


@dataclass
class Rows:
    columns: list[str]
    rows: list[list[str]]
    more: bool
    why_stopped: str = ""


class PostgresBackend:
    """The server's connection to one PostgreSQL server; pools per database, made on use."""

    name = BACKEND

    def __init__(self, conninfo: str, pool_size: int = 4, connect_timeout: float = 5.0) -> None:
        params = conninfo_to_dict(conninfo)
        self._conninfo = conninfo
        self._secrets = [str(params["password"])] if params.get("password") else []
        self.url = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
        self.default_database = str(params.get("dbname") or params.get("user") or "postgres")
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._pools: dict[str, AsyncConnectionPool[psycopg.AsyncConnection[Any]]] = {}
        self._lock = asyncio.Lock()

    async def check_ready(self) -> None:
        # Short: a readiness probe waits seconds, and a failed attempt is retried to say why.
        async with self.connection(self.default_database, wait=1.0) as conn:
            await conn.execute("SELECT 1")

    def scoped(self, scope: PostgresScope) -> ScopedPostgres:
        return ScopedPostgres(self, scope)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    def unavailable(self, problem: str, check: str = _CHECK) -> BackendUnavailable:
        return BackendUnavailable(BACKEND, self.url, problem, check, secrets=self._secrets)

    @asynccontextmanager
    async def connection(
        self, database: str, wait: float | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; when none comes within `wait` (default: the connect timeout),
        one direct attempt finds out why."""
        pool = await self._pool(database)
        try:
            async with pool.connection(timeout=wait) as conn:
                yield conn
        except PoolTimeout as exc:
            raise await self._why_unreachable(database) from exc
        except psycopg.OperationalError as exc:
            raise self.unavailable(f"the connection failed ({_first_line(exc)})") from exc

    async def _pool(self, database: str) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        async with self._lock:
            pool = self._pools.get(database)
            if pool is None:
                if len(self._pools) >= MAX_DATABASES:
                    raise OutOfScope(
                        f"this server reads at most {MAX_DATABASES} databases at once "
                        f"({', '.join(sorted(self._pools))})"
                    )
                pool = AsyncConnectionPool(
                    self._database_conninfo(database),
                    min_size=0,
                    max_size=self.pool_size,
                    open=False,
                    kwargs={"autocommit": True, "prepare_threshold": None},
                    configure=_configure,
                    reset=_reset,
                    timeout=self.connect_timeout,
                    max_idle=60,
                    name=f"postgres-{database}",
                )
                await pool.open(wait=False)
                self._pools[database] = pool
            return pool

    def _database_conninfo(self, database: str) -> str:
        return make_conninfo(
            self._conninfo,
            dbname=database,
            connect_timeout=max(1, round(self.connect_timeout)),
            application_name=APPLICATION_NAME,
        )

    async def _why_unreachable(self, database: str) -> BackendUnavailable:
        """The pool only says it timed out; one direct attempt tells why."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._database_conninfo(database))
        except psycopg.Error as exc:
            return self.unavailable(f"cannot connect to database '{database}': {_first_line(exc)}")
        await conn.close()
        return self.unavailable(
            f"no connection to database '{database}' was free within "
            f"{self.connect_timeout:g}s (pool of {self.pool_size})",
            "the load on this server, or raise --pool-size",
        )


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_read_only(True)


async def _reset(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("DISCARD ALL")


class ScopedPostgres:
    """The client a tool gets: one role's scope, enforced on every database and statement."""

    def __init__(self, backend: PostgresBackend, scope: PostgresScope) -> None:
        self._backend = backend
        self.scope = scope

    def database(self, name: str | None) -> str:
        chosen = name or self._backend.default_database
        self.scope.check_database(chosen)
        return chosen

    @asynccontextmanager
    async def read(self, database: str | None) -> AsyncIterator[Session]:
        """A read-only transaction in a database of the scope, under the scope's timeouts."""
        name = self.database(database)
        async with self._backend.connection(name) as conn:
            try:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT set_config('statement_timeout', %s, true),"
                        " set_config('lock_timeout', %s, true),"
                        " set_config('idle_in_transaction_session_timeout', %s, true)",
                        [
                            _ms(self.scope.statement_timeout_seconds),
                            _ms(self.scope.lock_timeout_seconds),
                            _ms(self.scope.statement_timeout_seconds * 2),
                        ],
                    )
                    yield Session(conn, name, self.scope)
            except psycopg.Error as exc:
                if _connection_lost(exc):
                    raise
                raise _translate(exc, self.scope) from exc

    async def query(
        self, database: str | None, sql: str, params: Sequence[Any], max_rows: int
    ) -> Rows:
        statement = check_statement(sql)
        async with self.read(database) as session:
            await session.check(statement, params)
            return await session.fetch(statement, params, max_rows)

    async def explain(
        self, database: str | None, sql: str, params: Sequence[Any], analyze: bool
    ) -> tuple[dict[str, Any], dict[tuple[str, str], float]]:
        """The JSON plan and the estimated rows of every table it reads."""
        statement = check_statement(sql)
        if analyze and not self.scope.explain_analyze:
            raise OutOfScope(
                "explain with analyze runs the statement, which your role may not do; "
                "ask without analyze"
            )
        async with self.read(database) as session:
            plan = await session.check(statement, params)
            if analyze:
                plan = await session.plan(statement, params, analyze=True)
            return plan, await session.table_rows(relations_of(plan))

    async def signal(self, pid: int, terminate: bool) -> str:
        """Cancel a query or end a session of a role the scope names; never a superuser's nor
        this server's own. The signalling statement checks the session's role again, so a pid
        reused since the check is not signalled."""
        action = "pg_terminate_backend" if terminate else "pg_cancel_backend"
        async with self.read(None) as session:
            target = await session.one(
                "SELECT a.usename, a.datname, r.rolsuper, a.usename = current_user"
                " FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid"
                " WHERE a.pid = %s",
                [pid],
            )
            if target is None:
                raise NotFound(f"no session with pid {pid}; see sessions for live pids")
            role, database, superuser, own = target
            if superuser or own or not self.scope.may_signal(role):
                who = "a superuser" if superuser else "this server's own role" if own else role
                raise OutOfScope(
                    f"pid {pid} is a session of {who}; your role may signal only sessions of "
                    f"{', '.join(self.scope.signal_roles) or 'no role'}"
                )
            if database is not None:
                self.scope.check_database(database)
            done = await session.one(
                f"SELECT {action}(a.pid) FROM pg_stat_activity a"
                " JOIN pg_roles r ON r.oid = a.usesysid"
                " WHERE a.pid = %s AND a.usename = %s AND NOT r.rolsuper",
                [pid, role],
            )
        if done is None or not done[0]:
            return f"pid {pid} ({role}) was gone before it could be signalled"
        verb = "terminated" if terminate else "asked to cancel its query"
        return f"pid {pid} ({role}, database {database}) {verb}"


class Session:
    """One read-only transaction; its own SQL is trusted, a caller's goes through `check`."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], database: str, scope: PostgresScope
    ) -> None:
        self.conn = conn
        self.database = database
        self.scope = scope

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchall()

    async def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchone()

    async def check(self, statement: Statement, params: Sequence[Any]) -> dict[str, Any]:
        """Refuse state-changing functions it names, then the relations of its plan that are
        outside the scope, as PostgreSQL resolved them. Returns the plan."""
        await self._check_functions(statement)
        plan = await self.plan(statement, params)
        self.scope.check_relations(relations_of(plan))
        return plan

    async def plan(
        self, statement: Statement, params: Sequence[Any], analyze: bool = False
    ) -> dict[str, Any]:
        options = "FORMAT JSON, VERBOSE" + (", ANALYZE, BUFFERS" if analyze else "")
        cur = psycopg.AsyncRawCursor(self.conn)
        # Binary results go over the extended protocol, which takes one statement only.
        await cur.execute(f"EXPLAIN ({options}) {statement.sql}", list(params), binary=True)
        row = await cur.fetchone()
        assert row is not None
        document = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        plan: dict[str, Any] = document[0]
        return plan

    async def _check_functions(self, statement: Statement) -> None:
        if not statement.functions:
            return
        functions = sorted(statement.functions, key=str)
        found = await self.rows(
            "SELECT DISTINCT p.oid::regprocedure::text, p.proname"
            " FROM unnest(%s::text[], %s::text[]) AS f(nsp, name)"
            " JOIN pg_proc p ON p.proname = f.name"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.provolatile = 'v'"
            "   AND (n.nspname = f.nsp"
            "        OR (f.nsp IS NULL AND n.nspname = ANY (current_schemas(true))))"
            " ORDER BY 1",
            [[f.schema for f in functions], [f.name for f in functions]],
        )
        refused = [signature for signature, name in found if name not in HARMLESS_VOLATILE]
        if refused:
            raise StatementRefused(
                f"the statement calls {', '.join(refused)}, which PostgreSQL marks volatile (it "
                "may change state or reach outside the database); only functions that read the "
                "database are allowed"
            )

    async def fetch(self, statement: Statement, params: Sequence[Any], max_rows: int) -> Rows:
        """At most `max_rows` rows and about MAX_FETCH_BYTES of text, read from a server-side
        cursor in batches: a huge result is never transferred whole."""
        async with psycopg.AsyncRawServerCursor(self.conn, "autodevops_query") as cur:
            await cur.execute(statement.sql, list(params))
            columns = [c.name for c in cur.description or []]
            hidden = [_secret_column(name) for name in columns]
            rows: list[list[str]] = []
            size = 0
            while len(rows) < max_rows and size <= MAX_FETCH_BYTES:
                batch = await cur.fetchmany(min(FETCH_BATCH, max_rows - len(rows)))
                for record in batch:
                    cells = [
                        REDACTED if secret and value is not None else _text(value)
                        for value, secret in zip(record, hidden, strict=True)
                    ]
                    size += sum(len(cell) for cell in cells)
                    rows.append(cells)
                if len(batch) < FETCH_BATCH and len(rows) < max_rows:
                    return Rows(columns, rows, more=False)
            more = (await cur.fetchone()) is not None
            why = f"{max_rows} rows (max_rows)" if len(rows) >= max_rows else "2 MB of text"
            return Rows(columns, rows, more=more, why_stopped=why)

    async def table_rows(self, relations: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
        if not relations:
            return {}
        items = sorted(relations)
        found = await self.rows(
            "SELECT n.nspname, c.relname, c.reltuples"
            " FROM unnest(%s::text[], %s::text[]) AS r(nsp, name)"
            " JOIN pg_namespace n ON n.nspname = r.nsp"
            " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.name",
            [[s for s, _ in items], [t for _, t in items]],
        )
        return {(s, t): float(rows) for s, t, rows in found}


def relations_of(plan: Any) -> set[tuple[str, str]]:
    """Every (schema, relation) a JSON plan scans, at any depth (subplans, CTEs, inlined
    functions, the tables behind views)."""
    found = set()
    for node in _plan_nodes(plan):
        if "Relation Name" in node:
            found.add((str(node.get("Schema", "")), str(node["Relation Name"])))
    return found


def _plan_nodes(plan: Any) -> Iterator[dict[str, Any]]:
    stack = [plan]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(item)


def _secret_column(name: str) -> bool:
    lowered = name.lower()
    return redact_value("x", lowered) == REDACTED or _SECRET_COLUMN.search(lowered) is not None


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | Decimal):
        return str(value)
    return str(value)


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connection_lost(exc: psycopg.Error) -> bool:
    """No SQLSTATE, a connection exception (08) or a shutdown (57P): the backend's problem."""
    state = exc.sqlstate or ""
    return not state or state.startswith(("08", "57P"))


def _translate(exc: psycopg.Error, scope: PostgresScope) -> Exception:
    """PostgreSQL's refusal of a statement in the gate's terms, saying what to change."""
    message = _first_line(exc)
    if isinstance(exc, pg_errors.LockNotAvailable):
        return StatementTimeout(
            f"the statement waited longer than the lock timeout "
            f"({scope.lock_timeout_seconds:g}s) for a lock another session holds; "
            "see blocking for who holds it"
        )
    if isinstance(exc, pg_errors.QueryCanceled):
        return StatementTimeout(
            f"the statement ran longer than the statement timeout "
            f"({scope.statement_timeout_seconds:g}s) and PostgreSQL cancelled it; "
            "narrow it (WHERE, LIMIT) or check its plan with explain"
        )
    if isinstance(
        exc,
        pg_errors.InsufficientPrivilege
        | pg_errors.ReadOnlySqlTransaction
        | pg_errors.FeatureNotSupported,
    ):
        return DatabaseRefused(f"PostgreSQL refused the statement: {message}")
    if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedFunction):
        return InvalidArgument("sql", f"{message}; see list_tables")
    return InvalidArgument("sql", message)
