"""Every catalog and SQL tool through a real MCP client, as the login role `policy sql` made,
against the shop database on the stack's PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autodevops.servers.core.output import parse_cut, parse_table
from tests.mcp_helpers import call_text
from tests.servers.postgres.conftest import Shop, postgres_mcp

READ_TOOLS = {
    "list_databases",
    "list_schemas",
    "list_tables",
    "describe_table",
    "query",
    "explain",
    "health",
    "connections",
    "sessions",
    "blocking",
    "vacuum",
    "replication",
    "top_queries",
}


async def test_catalogue_is_read_only_for_the_viewer_and_signals_are_destructive(
    viewer: Any, dba: Any
) -> None:
    tools = await viewer.list_tools()
    assert {t.name for t in tools} == READ_TOOLS
    assert all(t.annotations.read_only_hint for t in tools)
    assert not any(t.annotations.destructive_hint for t in tools)
    assert all(len(t.description) <= 600 for t in tools)
    writes = {t.name: t for t in await dba.list_tools()}
    for name in ("cancel_query", "terminate_backend"):
        assert writes[name].annotations.read_only_hint is False
        assert writes[name].annotations.destructive_hint is True


async def test_list_databases_shows_only_those_in_scope(viewer: Any, shop: Shop) -> None:
    text, error = await call_text(viewer, "list_databases", {})
    assert not error
    table = parse_table(text)
    assert [row["DATABASE"] for row in table.records()] == [shop.name]
    assert table.records()[0]["SIZE"].endswith(("kB", "MB"))
    text, error = await call_text(viewer, "list_tables", {"database": "postgres"})
    assert error and "database 'postgres' is outside your scope" in text


async def test_list_schemas_and_tables_with_sizes_rows_and_vacuum(viewer: Any) -> None:
    text, _ = await call_text(viewer, "list_schemas", {})
    schemas = {row["SCHEMA"]: row for row in parse_table(text).records()}
    assert set(schemas) == {"public", "billing"}
    assert schemas["billing"]["TABLES"] == "1"
    text, _ = await call_text(viewer, "list_tables", {})
    tables = {row["TABLE"]: row for row in parse_table(text).records()}
    assert "public.api_credentials" not in tables  # denied by the role's scope
    assert tables["public.events"]["ROWS (EST)"] == "30000"
    assert tables["public.events"]["KIND"] == "table"
    assert tables["public.order_totals"]["KIND"] == "view"
    assert tables["public.orders"]["LAST ANALYZE"] != "never"
    assert next(iter(tables)) == "public.events"  # largest first
    text, _ = await call_text(viewer, "list_tables", {"schema": "billing"})
    assert [row["TABLE"] for row in parse_table(text).records()] == ["billing.invoices"]


async def test_describe_table_shows_columns_indexes_constraints_and_keys(viewer: Any) -> None:
    text, error = await call_text(viewer, "describe_table", {"table": "orders"})
    assert not error, text
    assert text.startswith("table public.orders: ")
    assert "~1000 rows" in text
    assert "  status  text not null default 'new'::text" in text
    assert "orders_customer_idx" in text and "USING btree (customer_id)" in text
    assert "orders_pkey  primary key  PRIMARY KEY (id)" in text
    assert "-> customers  orders_customer_id_fkey" in text
    assert "<- from order_items  order_items_order_id_fkey" in text
    assert "<- from billing.invoices" in text
    text, _ = await call_text(viewer, "describe_table", {"table": "customers"})
    assert "people who bought something" in text
    text, error = await call_text(viewer, "describe_table", {"table": "api_credentials"})
    assert error and "outside your scope" in text
    text, error = await call_text(viewer, "describe_table", {"table": "nope"})
    assert error and "no table" in text and "list_tables" in text


async def test_query_with_params_redacts_secret_columns_and_values(viewer: Any) -> None:
    text, error = await call_text(
        viewer,
        "query",
        {
            "sql": "SELECT id, email, password_hash, 'token=abcd1234efgh' AS note"
            " FROM customers WHERE id <= $1 AND email LIKE $2 ORDER BY id",
            "params": [2, "user%"],
        },
    )
    assert not error, text
    records = parse_table(text).records()
    assert [r["id"] for r in records] == ["1", "2"]
    assert records[0]["email"] == "user1@example.com"
    assert {r["password_hash"] for r in records} == {"[REDACTED]"}
    assert "abcd1234efgh" not in text


async def test_query_is_cut_at_max_rows_and_says_so(viewer: Any) -> None:
    text, error = await call_text(
        viewer, "query", {"sql": "SELECT id FROM orders ORDER BY id", "max_rows": 10}
    )
    assert not error
    table = parse_table(text)
    assert [r[0] for r in table.rows] == [str(n) for n in range(1, 11)]
    assert "more rows exist: reading stopped at 10 rows (max_rows)" in text


async def test_role_row_and_byte_caps_cut_the_answer(shop: Shop, tmp_path: Path) -> None:
    async with postgres_mcp(shop, "analyst", tmp_path) as (client, _):
        text, error = await call_text(client, "query", {"sql": "SELECT id FROM orders"})
        assert not error
        cut = parse_cut(text)
        assert cut is not None and cut.shown == 5 and cut.limit == 5
        text, _ = await call_text(
            client,
            "query",
            {
                "sql": "SELECT repeat('x', 290) AS a, repeat('y', 290) AS b FROM orders",
                "max_rows": 5,
            },
        )
        cut = parse_cut(text)
        assert cut is not None and cut.max_bytes == 2000


async def test_query_of_a_view_and_an_empty_result(viewer: Any) -> None:
    text, error = await call_text(
        viewer, "query", {"sql": "SELECT count(*) AS n FROM order_totals"}
    )
    assert not error and parse_table(text).records() == [{"n": "200"}]
    text, error = await call_text(viewer, "query", {"sql": "SELECT id FROM orders WHERE false"})
    assert not error and parse_table(text).rows == []


async def test_invalid_sql_names_the_field_and_the_reason(viewer: Any) -> None:
    text, error = await call_text(viewer, "query", {"sql": "SELEC 1"})
    assert error and text.startswith("invalid argument 'sql': not valid SQL: syntax error")
    text, error = await call_text(viewer, "query", {"sql": "SELECT nope FROM orders"})
    assert error and 'column "nope" does not exist' in text
    text, error = await call_text(viewer, "query", {"sql": "SELECT 1", "bogus": 1})
    assert error and "bogus" in text


async def test_explain_summarizes_cost_seq_scans_and_the_tree(viewer: Any) -> None:
    text, error = await call_text(
        viewer,
        "explain",
        {"sql": "SELECT e.kind, count(*) FROM events e JOIN orders o ON o.id = e.id % 1000"
         " WHERE e.kind = $1 GROUP BY 1", "params": ["click"]},
    )  # fmt: skip
    assert not error, text
    assert text.startswith("total cost ")
    assert "costliest steps" in text
    assert "sequential scan on public.events (~30000 rows)" in text
    assert "plan:" in text and "Seq Scan on public.events" in text
    text, error = await call_text(
        viewer, "explain", {"sql": "SELECT * FROM orders", "analyze": True}
    )
    assert error and "analyze" in text


async def test_explain_analyze_where_the_role_allows_it(dba: Any) -> None:
    text, error = await call_text(
        dba,
        "explain",
        {"sql": "SELECT * FROM orders WHERE status = 'refunded'", "analyze": True},
    )
    assert not error, text
    assert "actual" in text and "rows 100" in text
    assert "execution" in text


async def test_top_queries_reads_pg_stat_statements_where_installed(
    viewer: Any, shop: Shop
) -> None:
    with shop.admin() as conn:
        conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    text, error = await call_text(viewer, "top_queries", {})
    assert not error and "pg_stat_statements is not installed" in text
    with shop.admin() as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        for _ in range(3):
            conn.execute("SELECT count(*) FROM order_items WHERE quantity > 1")
    try:
        text, error = await call_text(viewer, "top_queries", {"order_by": "calls"})
        assert not error, text
        rows = parse_table(text).records()
        mine = [r for r in rows if "FROM order_items WHERE quantity >" in r["QUERY"]]
        assert mine and int(mine[0]["CALLS"]) >= 3 and mine[0]["USER"] == "postgres"
    finally:
        with shop.admin() as conn:
            conn.execute("DROP EXTENSION pg_stat_statements")
