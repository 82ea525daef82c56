"""What is there: databases, schemas, tables, and one table in full. Only what the caller's
scope allows is shown."""

from __future__ import annotations

from pydantic import Field

from autodevops.servers.core.errors import NotFound, OutOfScope
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedPostgres
from ..scope import SYSTEM_SCHEMAS
from .args import DatabaseArgs, size, text, when

_KINDS = {
    "r": "table",
    "p": "partitioned",
    "v": "view",
    "m": "matview",
    "f": "foreign",
}
_CONSTRAINTS = {"p": "primary key", "u": "unique", "c": "check", "x": "exclusion", "t": "trigger"}


class TablesArgs(DatabaseArgs):
    schema_name: str | None = Field(
        None, alias="schema", min_length=1, max_length=63, description="only this schema"
    )


class DescribeArgs(DatabaseArgs):
    table: str = Field(
        min_length=1,
        max_length=130,
        pattern=r"^[^.]+(\.[^.]+)?$",
        description="table, view or schema.table",
    )


@tool()
async def list_databases(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Databases you may read, with size, open connections and owner. Start here to choose
    the database argument of the other tools."""
    async with pg.read(args.database) as session:
        found = await session.rows(
            "SELECT d.datname,"
            " CASE WHEN has_database_privilege(d.datname, 'CONNECT')"
            "  THEN pg_database_size(d.oid) END,"
            " s.numbackends, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding)"
            " FROM pg_database d LEFT JOIN pg_stat_database s ON s.datid = d.oid"
            " WHERE d.datallowconn ORDER BY 1"
        )
    rows = [
        [name, size(bytes_), text(backends), owner, encoding]
        for name, bytes_, backends, owner, encoding in found
        if pg.scope.databases.allows(name)
    ]
    return Table(["DATABASE", "SIZE", "CONNECTIONS", "OWNER", "ENCODING"], rows)


@tool()
async def list_schemas(args: DatabaseArgs, pg: ScopedPostgres) -> Output:
    """Schemas of a database you may read, with owner, table count and total size."""
    async with pg.read(args.database) as session:
        found = await session.rows(
            "SELECT n.nspname, pg_get_userbyid(n.nspowner),"
            " count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p')),"
            " sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'p', 'm'))"
            " FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid"
            " WHERE n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
            "   AND n.nspname <> ALL (%s)"
            " GROUP BY 1, 2 ORDER BY 1",
            [list(SYSTEM_SCHEMAS)],
        )
    rows = [
        [name, owner, str(tables), size(bytes_ or 0)]
        for name, owner, tables, bytes_ in found
        if pg.scope.schemas.allows(name)
    ]
    return Table(["SCHEMA", "OWNER", "TABLES", "SIZE"], rows)


@tool()
async def list_tables(args: TablesArgs, pg: ScopedPostgres) -> Output:
    """Tables, views and materialized views you may read, largest first: size with indexes,
    estimated rows, dead rows, last vacuum and analyze (manual or auto)."""
    async with pg.read(args.database) as session:
        found = await session.rows(
            "SELECT n.nspname, c.relname, c.relkind, pg_total_relation_size(c.oid),"
            " c.reltuples::bigint, s.n_dead_tup,"
            " greatest(s.last_vacuum, s.last_autovacuum),"
            " greatest(s.last_analyze, s.last_autoanalyze)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            "   AND n.nspname <> ALL (%s) AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
            "   AND (%s::text IS NULL OR n.nspname = %s)"
            " ORDER BY 4 DESC, 1, 2 LIMIT 10000",
            [list(SYSTEM_SCHEMAS), args.schema_name, args.schema_name],
        )
    rows = [
        [
            f"{schema}.{name}",
            _KINDS.get(kind, kind),
            size(bytes_) if kind != "v" else "-",
            "?" if estimate is None or estimate < 0 or kind == "v" else str(estimate),
            text(dead),
            when(vacuumed) if kind in "rpm" else "-",
            when(analyzed) if kind in "rpm" else "-",
        ]
        for schema, name, kind, bytes_, estimate, dead, vacuumed, analyzed in found
        if pg.scope.table_allowed(schema, name)
    ]
    return Table(
        ["TABLE", "KIND", "SIZE", "ROWS (EST)", "DEAD ROWS", "LAST VACUUM", "LAST ANALYZE"],
        rows,
        narrow="Pass schema.",
    )


@tool()
async def describe_table(args: DescribeArgs, pg: ScopedPostgres) -> Output:
    """One table in full: columns (type, nullability, default), indexes (size, scans),
    constraints, and foreign keys out of it and into it."""
    schema, _, name = args.table.rpartition(".")
    async with pg.read(args.database) as session:
        target = await session.one(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint,"
            " pg_total_relation_size(c.oid), obj_description(c.oid, 'pg_class')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            "   AND (n.nspname = %s OR (%s = '' AND n.nspname = ANY (current_schemas(true))))"
            " ORDER BY array_position(current_schemas(true), n.nspname::name) LIMIT 1",
            [name, schema, schema],
        )
        if target is None:
            raise NotFound(f"no table, view or materialized view '{args.table}'; see list_tables")
        oid, schema, name, kind, estimate, total, comment = target
        if not pg.scope.table_allowed(schema, name):
            raise OutOfScope(f"table {schema}.{name} is outside your scope")
        columns = await session.rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)"
            " FROM pg_attribute a LEFT JOIN pg_attrdef d"
            "  ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [oid],
        )
        indexes = await session.rows(
            "SELECT i.relname, pg_relation_size(x.indexrelid), s.idx_scan,"
            " pg_get_indexdef(x.indexrelid), x.indisvalid"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid"
            " WHERE x.indrelid = %s ORDER BY 1",
            [oid],
        )
        constraints = await session.rows(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s AND contype <> 'f' ORDER BY 1",
            [oid],
        )
        keys = await session.rows(
            "SELECT 'out', conname, confrelid::regclass::text, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND conrelid = %s"
            " UNION ALL"
            " SELECT 'in', conname, conrelid::regclass::text, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND confrelid = %s ORDER BY 1, 2",
            [oid, oid],
        )
    lines = [
        f"{_KINDS.get(kind, kind)} {schema}.{name}: "
        + ("" if kind == "v" else f"{size(total)} with indexes, ~{max(estimate, 0)} rows")
        + (f" — {comment}" if comment else ""),
        "",
        "columns:",
    ]
    for column, type_, not_null, default, note in columns:
        detail = type_ + (" not null" if not_null else "")
        detail += f" default {default}" if default is not None else ""
        lines.append(f"  {column}  {detail}" + (f"  -- {note}" if note else ""))
    if indexes:
        lines += ["", "indexes:"]
        for index, bytes_, scans, definition, valid in indexes:
            state = "" if valid else " INVALID"
            lines.append(f"  {index}  {size(bytes_)}  scans {text(scans)}{state}  {definition}")
    if constraints:
        lines += ["", "constraints:"]
        for constraint, kind_, definition in constraints:
            lines.append(f"  {constraint}  {_CONSTRAINTS.get(kind_, kind_)}  {definition}")
    if keys:
        lines += ["", "foreign keys:"]
        for direction, constraint, other, definition in keys:
            arrow = "->" if direction == "out" else "<- from"
            lines.append(f"  {arrow} {other}  {constraint}  {definition}")
    return Text("\n".join(lines), narrow="Describe one table at a time.")
