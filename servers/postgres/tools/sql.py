"""A caller's own SQL: one read-only query, or its plan summarized."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedPostgres
from ..statement import MAX_SQL_CHARS
from .args import DatabaseArgs

# A sequential scan over this many rows is worth an index.
LARGE_TABLE_ROWS = 10_000
COSTLIEST = 5
MAX_TREE_LINES = 40

Param = str | int | float | bool | None


class SqlArgs(DatabaseArgs):
    sql: str = Field(
        min_length=1,
        max_length=MAX_SQL_CHARS,
        description="one SELECT, VALUES, TABLE or WITH ... SELECT; $1, $2 for params",
    )
    params: list[Param] = Field(default_factory=list, max_length=100, description="$1, $2, …")


class QueryArgs(SqlArgs):
    max_rows: int = Field(100, ge=1, le=10_000, description="rows to read at most")


class ExplainArgs(SqlArgs):
    analyze: bool = Field(False, description="run it to get actual rows and times")


@tool()
async def query(args: QueryArgs, pg: ScopedPostgres) -> Output:
    """Run one read-only SQL query and get a table of rows. It runs in a read-only
    transaction under a statement timeout; only tables in your scope may be read (checked
    on PostgreSQL's own plan), no function that changes state may be called. Pass values as
    params ($1, $2) instead of pasting them into the SQL. Add WHERE/LIMIT: at most max_rows
    rows are read."""
    result = await pg.query(args.database, args.sql, args.params, args.max_rows)
    if not result.columns:
        return Text("the statement returned no columns")
    notes = []
    if result.more:
        notes.append(
            f"more rows exist: reading stopped at {result.why_stopped}. Add WHERE or LIMIT, "
            "or aggregate."
        )
    return Table(result.columns, result.rows, narrow="Add WHERE or LIMIT.", notes=notes)


@tool()
async def explain(args: ExplainArgs, pg: ScopedPostgres) -> Output:
    """Show how PostgreSQL would run a query (EXPLAIN), summarized: total cost and rows,
    the costliest steps, sequential scans on large tables, misestimated rows, and the plan
    tree. analyze=true runs it for real times (only where your role allows, still
    read-only and under the timeout)."""
    plan, table_rows = await pg.explain(args.database, args.sql, args.params, args.analyze)
    return Text(summarize(plan, table_rows), narrow="Explain a smaller query.")


def summarize(plan: dict[str, Any], table_rows: dict[tuple[str, str], float]) -> str:
    root = plan["Plan"]
    analyzed = "Actual Total Time" in root
    head = f"total cost {root['Total Cost']:.2f}, estimated rows {root['Plan Rows']}"
    if analyzed:
        head += (
            f"; actual {root['Actual Total Time']:.3f} ms, rows {root['Actual Rows']}"
            f" (planning {plan.get('Planning Time', 0):.3f} ms,"
            f" execution {plan.get('Execution Time', 0):.3f} ms)"
        )
    nodes = list(_walk(root))
    lines = [head, "", "costliest steps (own cost, without their inputs):"]
    total = max(float(root["Total Cost"]), 0.01)
    ranked = sorted(nodes, key=lambda item: _own_cost(item[1]), reverse=True)
    for _, node in ranked[:COSTLIEST]:
        own = _own_cost(node)
        lines.append(f"  {_label(node)}  cost {own:.2f} ({own * 100 / total:.0f}%){_rows(node)}")
    warnings = _warnings(nodes, table_rows)
    if warnings:
        lines += ["", "worth a look:"] + [f"  {warning}" for warning in warnings]
    lines += ["", "plan:"]
    for depth, node in nodes[:MAX_TREE_LINES]:
        lines.append(f"  {'  ' * depth}{_label(node)}{_rows(node)}")
    if len(nodes) > MAX_TREE_LINES:
        lines.append(f"  … {len(nodes) - MAX_TREE_LINES} more steps")
    return "\n".join(lines)


def _walk(node: dict[str, Any], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    found = [(depth, node)]
    for child in node.get("Plans", []):
        found += _walk(child, depth + 1)
    return found


def _own_cost(node: dict[str, Any]) -> float:
    children = sum(float(child["Total Cost"]) for child in node.get("Plans", []))
    return max(float(node["Total Cost"]) - children, 0.0)


def _label(node: dict[str, Any]) -> str:
    label = str(node["Node Type"])
    if "Relation Name" in node:
        label += f" on {node.get('Schema', '')}.{node['Relation Name']}"
    if "Index Name" in node:
        label += f" using {node['Index Name']}"
    if "Function Name" in node:
        label += f" on {node['Function Name']}()"
    return label


def _rows(node: dict[str, Any]) -> str:
    text = f"  rows est {node['Plan Rows']}"
    if "Actual Rows" in node:
        text += f" actual {node['Actual Rows']}x{node.get('Actual Loops', 1)}"
    return text


def _warnings(
    nodes: list[tuple[int, dict[str, Any]]], table_rows: dict[tuple[str, str], float]
) -> list[str]:
    found = []
    for _, node in nodes:
        relation = (str(node.get("Schema", "")), str(node.get("Relation Name", "")))
        rows = table_rows.get(relation, 0.0)
        if node["Node Type"] == "Seq Scan" and rows >= LARGE_TABLE_ROWS:
            where = f" filtering {node['Filter']}" if "Filter" in node else ""
            found.append(
                f"sequential scan on {relation[0]}.{relation[1]} (~{rows:.0f} rows){where}: "
                "an index on the filtered columns may help"
            )
        if "Actual Rows" in node:
            estimated = max(float(node["Plan Rows"]), 1.0)
            actual = max(float(node["Actual Rows"]), 1.0)
            if max(estimated, actual) / min(estimated, actual) >= 10:
                found.append(
                    f"{_label(node)}: estimated {node['Plan Rows']} rows, got "
                    f"{node['Actual Rows']}: statistics may be stale (ANALYZE the table)"
                )
    return found
