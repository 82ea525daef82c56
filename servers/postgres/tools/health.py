"""Is the database healthy: connections, long and idle-in-transaction sessions, lock chains,
cache, wraparound, vacuum, replication and the heaviest statements. These read PostgreSQL's
statistics views (the server's role needs pg_monitor) and show only sessions of databases in
the caller's scope."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from autodevops.servers.core.args import Args
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedPostgres, Session
from .args import DatabaseArgs, seconds, size, text, when

QUERY_CHARS = 200
WRAPAROUND_LIMIT = 2**31
CONNECTIONS_NOTE = "{used} of max_connections {limit} in use (this one included)"
_CONNECTIONS_NOTE = re.compile(r"(\d+) of max_connections (\d+) in use \(this one included\)")

_ACTIVITY = (
    "SELECT a.pid, a.datname, a.usename, a.application_name, a.client_addr::text, a.state,"
    " now() - a.xact_start, now() - a.query_start, now() - a.state_change,"
    " a.wait_event_type || ':' || a.wait_event, left(a.query, %s), pg_blocking_pids(a.pid)"
    " FROM pg_stat_activity a"
    " WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
)


class SessionsArgs(Args):
    state: Literal["active", "idle in transaction", "any"] = Field(
        "active", description="active: running queries; idle in transaction: open, doing nothing"
    )
    min_seconds: float = Field(0, ge=0, description="only sessions in that state this long")


class TopArgs(DatabaseArgs):
    order_by: Literal["total_time", "mean_time", "calls", "rows"] = "total_time"


class _Activity:
    """One row of pg_stat_activity, as _ACTIVITY selects it."""

    def __init__(self, row: Sequence[Any]) -> None:
        self.pid: int = row[0]
        self.database: str | None = row[1]
        self.user: str | None = row[2]
        self.application: str | None = row[3]
        self.client: str | None = row[4]
        self.state: str | None = row[5]
        self.xact_age: timedelta | None = row[6]
        self.query_age: timedelta | None = row[7]
        self.state_age: timedelta | None = row[8]
        self.wait: str | None = row[9]
        self.query: str | None = row[10]
        self.blocked_by: list[int] = row[11] or []

    def age(self) -> timedelta | None:
        return self.state_age if self.state != "active" else self.query_age


async def _activity(pg: ScopedPostgres, session: Session) -> list[_Activity]:
    rows = [_Activity(row) for row in await session.rows(_ACTIVITY, [QUERY_CHARS])]
    return [row for row in rows if row.database is None or pg.scope.databases.allows(row.database)]


@tool()
async def health(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Database health at a glance: connections against max_connections, the longest query,
    idle-in-transaction and blocked sessions, cache hit ratio, transaction ID wraparound,
    replication lag and the table most in need of vacuum. Start here, then drill down."""
    async with pg.read(args.database) as session:
        activity = await _activity(pg, session)
        settings = await session.one(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int, version(),"
            " pg_is_in_recovery(),"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
        assert settings is not None
        max_connections, reserved, version, in_recovery, total = settings
        databases = await session.rows(
            "SELECT d.datname, age(d.datfrozenxid), s.blks_hit, s.blks_read"
            " FROM pg_database d LEFT JOIN pg_stat_database s ON s.datid = d.oid"
            " WHERE d.datallowconn"
        )
        replicas = await session.rows(_REPLICAS) if not in_recovery else []
        replay = await session.one(_STANDBY) if in_recovery else None
        dead = await session.rows(_VACUUM + " LIMIT 20")
    lines = [
        f"server: {version.split(',')[0]}{' (standby)' if in_recovery else ''}",
        f"connections: {total} of {max_connections} ({reserved} reserved for superusers)"
        + "".join(f"; {state} {count}" for state, count in _by_state(activity)),
    ]
    active = [a for a in activity if a.state == "active" and a.query_age is not None]
    if active:
        longest = max(active, key=lambda a: a.query_age or timedelta())
        lines.append(
            f"longest running query: pid {longest.pid} ({longest.user}@{longest.database}) for "
            f"{seconds(longest.query_age)}: {_one_line(longest.query)}"
        )
    idle = [a for a in activity if a.state and a.state.startswith("idle in transaction")]
    if idle:
        oldest = max(idle, key=lambda a: a.state_age or timedelta())
        lines.append(
            f"idle in transaction: {len(idle)} session(s), the oldest pid {oldest.pid} "
            f"({oldest.user}) for {seconds(oldest.state_age)}"
        )
    blocked = [a for a in activity if a.blocked_by]
    if blocked:
        lines.append(
            f"blocked: {len(blocked)} session(s) waiting for locks, the longest for "
            f"{seconds(max(a.query_age or timedelta() for a in blocked))}; see blocking"
        )
    in_scope = [d for d in databases if pg.scope.databases.allows(d[0])]
    hits = sum(d[2] or 0 for d in in_scope)
    reads = sum(d[3] or 0 for d in in_scope)
    if hits + reads:
        lines.append(f"cache hit ratio: {hits * 100 / (hits + reads):.2f}% (all databases)")
    if in_scope:
        name, age, _, _ = max(in_scope, key=lambda d: d[1])
        lines.append(
            f"oldest transaction ID: {age} in {name} "
            f"({age * 100 / WRAPAROUND_LIMIT:.1f}% of the way to wraparound)"
        )
    if replay is not None:
        lines.append(f"replication: standby, replay lag {seconds(replay[0])}")
    elif replicas:
        worst = max(replicas, key=lambda r: r[6] or 0)
        lines.append(
            f"replication: {len(replicas)} standby(s), the furthest behind {worst[0]} "
            f"by {size(worst[6])} (replay lag {seconds(worst[5])})"
        )
    else:
        lines.append("replication: no standbys connected")
    dead_in_scope = [row for row in dead if pg.scope.table_allowed(row[0], row[1])]
    if dead_in_scope and dead_in_scope[0][3]:
        schema, table, live, dead_rows, *_ = dead_in_scope[0]
        lines.append(
            f"most dead rows in {session.database}: {schema}.{table} ({dead_rows} dead, "
            f"{live} live); see vacuum"
        )
    return Text("\n".join(lines))


def _by_state(activity: list[_Activity]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in activity:
        counts[row.state or "unknown"] = counts.get(row.state or "unknown", 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


@tool()
async def connections(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Connections against max_connections, grouped by database, user, application and state:
    who is using up the connection slots."""
    async with pg.read(args.database) as session:
        activity = await _activity(pg, session)
        limit = await session.one("SELECT current_setting('max_connections')::int")
    assert limit is not None
    groups: dict[tuple[str, str, str, str], int] = {}
    for row in activity:
        key = (text(row.database), text(row.user), text(row.application), text(row.state))
        groups[key] = groups.get(key, 0) + 1
    rows = [[*key, str(count)] for key, count in sorted(groups.items(), key=lambda i: -i[1])]
    return Table(
        ["DATABASE", "USER", "APPLICATION", "STATE", "COUNT"],
        rows,
        notes=[CONNECTIONS_NOTE.format(used=len(activity) + 1, limit=limit[0])],
    )


@tool()
async def sessions(args: SessionsArgs, pg: ScopedPostgres) -> Output:
    """Client sessions, longest first: long-running queries (state active) or sessions idle in
    a transaction (holding locks and blocking vacuum), with their query, wait and blocker."""
    async with pg.read(None) as session:
        activity = await _activity(pg, session)
    minimum = timedelta(seconds=args.min_seconds)
    chosen = [
        a
        for a in activity
        if (args.state == "any" and a.state != "idle") or (a.state or "").startswith(args.state)
    ]
    chosen = [a for a in chosen if (a.age() or timedelta()) >= minimum]
    chosen.sort(key=lambda a: a.age() or timedelta(), reverse=True)
    rows = [
        [
            str(a.pid),
            text(a.database),
            text(a.user),
            text(a.application),
            text(a.state),
            seconds(a.age()),
            seconds(a.xact_age),
            text(a.wait),
            ",".join(str(pid) for pid in a.blocked_by) or "-",
            _one_line(a.query),
        ]
        for a in chosen
    ]
    return Table(
        ["PID", "DATABASE", "USER", "APPLICATION", "STATE", "FOR", "XACT AGE", "WAIT",
         "BLOCKED BY", "QUERY"],
        rows,
        narrow="Raise min_seconds.",
    )  # fmt: skip


@tool()
async def blocking(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Lock chains: who blocks whom, with the lock waited for and each statement. The root
    of a chain (BLOCKED BY -) is the session to look at, often idle in transaction."""
    async with pg.read(args.database) as session:
        activity = {a.pid: a for a in await _activity(pg, session)}
        waits = await session.rows(
            "SELECT l.pid, l.mode, l.locktype,"
            " CASE WHEN l.relation IS NOT NULL THEN"
            "  coalesce((SELECT c.relname FROM pg_class c WHERE c.oid = l.relation),"
            "   l.relation::text) END"
            " FROM pg_locks l WHERE NOT l.granted"
        )
    lock_of = {pid: (mode, kind, relation) for pid, mode, kind, relation in waits}
    blocked = {pid: a.blocked_by for pid, a in activity.items() if a.blocked_by}
    if not blocked:
        return Text("no session is waiting for a lock")
    in_chain = set(blocked) | {pid for blockers in blocked.values() for pid in blockers}
    rows = []
    for pid in sorted(in_chain, key=lambda p: (_depth(p, blocked), p)):
        a = activity.get(pid)
        mode, kind, relation = lock_of.get(pid, ("", "", None))
        lock = f"{mode} on {kind} {relation or ''}".strip() if mode else "-"
        rows.append(
            [
                str(pid),
                ",".join(str(b) for b in blocked.get(pid, [])) or "-",
                str(_root(pid, blocked)),
                lock,
                text(a.user) if a else "?",
                text(a.state) if a else "?",
                seconds(a.age()) if a else "-",
                seconds(a.xact_age) if a else "-",
                _one_line(a.query) if a else "(outside your scope)",
            ]
        )
    return Table(
        ["PID", "BLOCKED BY", "ROOT", "WAITS FOR", "USER", "STATE", "FOR", "XACT AGE", "QUERY"],
        rows,
    )


def _depth(pid: int, blocked: dict[int, list[int]]) -> int:
    depth, seen = 0, {pid}
    while blocked.get(pid):
        pid = blocked[pid][0]
        if pid in seen:
            break
        seen.add(pid)
        depth += 1
    return depth


def _root(pid: int, blocked: dict[int, list[int]]) -> int:
    seen = {pid}
    while blocked.get(pid):
        following = blocked[pid][0]
        if following in seen:
            break
        seen.add(following)
        pid = following
    return pid


# Sizes from pg_class, not pg_relation_size(): that one takes a lock on the table and would
# wait behind the very lock chain being diagnosed.
_VACUUM = (
    "SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup,"
    " greatest(s.last_vacuum, s.last_autovacuum), age(c.relfrozenxid),"
    " c.relpages::bigint * current_setting('block_size')::int"
    " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " ORDER BY s.n_dead_tup DESC, age(c.relfrozenxid) DESC"
)


@tool()
async def vacuum(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Tables most in need of vacuum in one database: dead rows, their share, last vacuum,
    and transaction ID age (wraparound risk)."""
    async with pg.read(args.database) as session:
        found = await session.rows(_VACUUM + " LIMIT 500")
        freeze = await session.one("SELECT current_setting('autovacuum_freeze_max_age')::bigint")
    assert freeze is not None
    rows = [
        [
            f"{schema}.{table}",
            str(dead),
            f"{dead * 100 / max(live + dead, 1):.0f}%",
            str(live),
            when(vacuumed),
            f"{age} ({age * 100 / freeze[0]:.0f}% of autovacuum_freeze_max_age)",
            size(bytes_),
        ]
        for schema, table, live, dead, vacuumed, age, bytes_ in found
        if pg.scope.table_allowed(schema, table)
    ]
    return Table(
        ["TABLE", "DEAD ROWS", "DEAD %", "LIVE ROWS", "LAST VACUUM", "XID AGE", "HEAP SIZE"],
        rows,
    )


_REPLICAS = (
    "SELECT application_name, client_addr::text, state, sync_state,"
    " write_lag, replay_lag, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
    " FROM pg_stat_replication ORDER BY 1"
)
_STANDBY = "SELECT now() - pg_last_xact_replay_timestamp(), pg_last_wal_replay_lsn()::text"


@tool()
async def replication(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Replication: on a primary, each standby's state and lag (time and bytes) and slots
    holding WAL back; on a standby, how far behind it replays."""
    async with pg.read(args.database) as session:
        in_recovery = await session.one("SELECT pg_is_in_recovery()")
        if in_recovery and in_recovery[0]:
            replay = await session.one(_STANDBY)
            assert replay is not None
            return Text(f"standby: last replayed {replay[1]}, replay lag {seconds(replay[0])}")
        replicas = await session.rows(_REPLICAS)
        slots = await session.rows(
            "SELECT slot_name, slot_type, active,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots"
        )
    rows = [
        [text(name), text(client), text(state), text(sync), seconds(write), seconds(replay),
         size(behind)]
        for name, client, state, sync, write, replay, behind in replicas
    ]  # fmt: skip
    notes = [
        f"slot {name} ({kind}, {'active' if active else 'INACTIVE'}) holds {size(held)} of WAL"
        for name, kind, active, held in slots
    ]
    return Table(
        ["STANDBY", "CLIENT", "STATE", "SYNC", "WRITE LAG", "REPLAY LAG", "BEHIND"],
        rows,
        notes=notes or ["no replication slots"],
    )


@tool()
async def top_queries(args: TopArgs, pg: ScopedPostgres) -> Output:
    """The heaviest statements from pg_stat_statements (where the extension is installed in
    the database): calls, total and mean time, rows, and the normalized query."""
    order = {"total_time": 3, "mean_time": 4, "calls": 2, "rows": 5}[args.order_by]
    async with pg.read(args.database) as session:
        where = await session.one(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_stat_statements'"
        )
        if where is None:
            return Text(
                f"pg_stat_statements is not installed in database {session.database}: add it to "
                "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements there"
            )
        found = await session.rows(
            "SELECT d.datname, r.rolname, s.calls, s.total_exec_time, s.mean_exec_time, s.rows,"
            " left(s.query, %s)"
            f" FROM {_quoted(where[0])}.pg_stat_statements s"
            " LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid"
            # The statements run in this database only: the extension sees the whole cluster.
            " WHERE d.datname = current_database()"
            f" ORDER BY {order + 1} DESC LIMIT 200",
            [QUERY_CHARS],
        )
    rows = [
        [text(db), text(user), str(calls), f"{total:.1f}", f"{mean:.2f}", str(count),
         _one_line(query_)]
        for db, user, calls, total, mean, count, query_ in found
    ]  # fmt: skip
    return Table(["DATABASE", "USER", "CALLS", "TOTAL MS", "MEAN MS", "ROWS", "QUERY"], rows)


def parse_connections_note(notes: list[str]) -> tuple[int, int] | None:
    """(used, max_connections) from the note `connections` writes, if it is there."""
    for note in notes:
        if match := _CONNECTIONS_NOTE.fullmatch(note):
            return int(match.group(1)), int(match.group(2))
    return None


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _one_line(query: str | None) -> str:
    return " ".join((query or "").split()) or "-"
