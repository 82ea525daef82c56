"""Schema of Scarlet's operations database, as ordered migrations.

A migration is never edited once released: a change is a new, higher version. `apply` runs
the missing ones before the store serves a query, each in its own transaction under an advisory
lock, so replicas starting together apply each exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg import AsyncConnection

# Advisory lock key (classid, objid) that serialises migrations across replicas.
_LOCK_CLASS = 0x5CA7
_MIGRATION_LOCK = 0


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: LiteralString


_INITIAL = """
CREATE TABLE runs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('alert', 'manual', 'schedule')),
    status text NOT NULL CHECK (status IN
        ('queued', 'running', 'waiting_approval', 'completed', 'failed', 'closed')),
    question text NOT NULL,
    fingerprint text,
    alert jsonb,
    report jsonb,
    reason text,
    attempts integer NOT NULL DEFAULT 0,
    claimed_by text,
    heartbeat_at timestamptz,
    alert_resolved boolean NOT NULL DEFAULT false,
    alert_count integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX runs_status_created ON runs (status, created_at);
CREATE INDEX runs_fingerprint ON runs (fingerprint, created_at) WHERE fingerprint IS NOT NULL;
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE steps (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind text NOT NULL,
    detail jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX steps_run ON steps (run_id, id);
CREATE INDEX steps_created ON steps (created_at);

CREATE TABLE tool_calls (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tool text NOT NULL,
    arguments jsonb NOT NULL,
    outcome text NOT NULL,
    duration_ms double precision NOT NULL,
    result_bytes bigint NOT NULL,
    approved_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_calls_run ON tool_calls (run_id, id);
CREATE INDEX tool_calls_created ON tool_calls (created_at);

CREATE TABLE actions (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tool text NOT NULL,
    arguments jsonb NOT NULL,
    why text NOT NULL,
    decision text NOT NULL CHECK (decision IN ('auto', 'approval', 'deny')),
    status text NOT NULL CHECK (status IN ('proposed', 'waiting', 'approved', 'rejected',
        'expired', 'denied', 'executing', 'executed', 'failed')),
    decided_by text,
    decided_at timestamptz,
    reason text,
    result text,
    expires_at timestamptz,
    executed_by text,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX actions_run ON actions (run_id, id);
CREATE INDEX actions_status ON actions (status, created_at);

-- The audit trail outlives the operation rows (2 years against 90 days), so it copies what was
-- decided instead of referencing rows that the retention purge deletes.
CREATE TABLE approvals (
    id bigserial PRIMARY KEY,
    action_id bigint NOT NULL,
    run_id bigint NOT NULL,
    tool text NOT NULL,
    arguments jsonb NOT NULL,
    decision text NOT NULL CHECK (decision IN ('approved', 'rejected', 'expired', 'denied')),
    decided_by text NOT NULL,
    reason text NOT NULL DEFAULT '',
    decided_at timestamptz NOT NULL DEFAULT now(),
    outcome text,
    outcome_at timestamptz
);
CREATE INDEX approvals_action ON approvals (action_id);
CREATE INDEX approvals_run ON approvals (run_id);
CREATE INDEX approvals_decided ON approvals (decided_at);
"""

# A run whose analyzers could not read all their evidence ends "partial", never "completed".
_PARTIAL = """
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN
    ('queued', 'running', 'waiting_approval', 'completed', 'partial', 'failed', 'closed'));
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, steps, tool calls, actions, approvals", _INITIAL),
    Migration(2, "runs may end partial", _PARTIAL),
)


async def apply(conn: AsyncConnection[Any]) -> None:
    """Applies each missing migration once, in its own transaction; the advisory lock makes a
    replica starting at the same moment wait, then find the work done."""
    for migration in MIGRATIONS:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _MIGRATION_LOCK)
            )
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            cur = await conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            )
            if await cur.fetchone() is not None:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
