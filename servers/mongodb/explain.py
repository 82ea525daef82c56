"""An explain result in a few lines: the plan as a chain of stages, what it examined, and the
one hint that matters most (a collection scan). Reads MongoDB's classic and slot-based plans,
aggregation explains (stages, ``$cursor``) and FerretDB's (its backend plan, pushdowns)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_CHAIN = 12
# SQLite's plan words for reading a whole table (`SCAN t`), as FerretDB's backend reports.
_SQL_SCAN = re.compile(r"\bSCAN\b")


def summarize(result: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    scans = False
    planner, stats = _planner_and_stats(result)
    if planner:
        if "namespace" in planner:
            lines.append(f"namespace: {planner['namespace']}")
        winning = planner.get("winningPlan")
        if isinstance(winning, Mapping):
            chain = _chain(winning.get("queryPlan", winning))
            scans = "COLLSCAN" in chain
            lines.append(f"winning plan: {chain}")
            lines.append(f"rejected plans: {len(planner.get('rejectedPlans') or [])}")
        if isinstance(planner.get("Plan"), list):  # FerretDB: its SQL backend's own plan
            steps = [str(p) for p in planner["Plan"]]
            scans = any(_SQL_SCAN.search(s) and "INDEX" not in s for s in steps)
            lines.append("backend plan: " + "; ".join(steps))
    stages = result.get("stages")
    if isinstance(stages, list):
        names = [next(iter(s), "?") for s in stages if isinstance(s, Mapping)]
        lines.append("pipeline stages: " + " → ".join(names))
    if stats:
        examined = [
            f"{label} {stats[key]}"
            for key, label in (
                ("nReturned", "returned"),
                ("totalKeysExamined", "keys"),
                ("totalDocsExamined", "documents"),
                ("executionTimeMillis", "ms"),
            )
            if key in stats
        ]
        lines.append("examined: " + ", ".join(examined))
    pushdowns = [k for k in ("filterPushdown", "sortPushdown", "limitPushdown") if k in result]
    if pushdowns:
        done = [f"{k.removesuffix('Pushdown')} {'yes' if result[k] else 'no'}" for k in pushdowns]
        lines.append("pushed down to the backend: " + ", ".join(done))
    if scans:
        lines.append("hint: a full collection scan; an index on the filtered fields would help")
    return lines or ["the server returned an explain result this tool cannot read"]


def _planner_and_stats(result: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    planner = result.get("queryPlanner")
    stats = result.get("executionStats")
    for stage in result.get("stages") or []:
        cursor = stage.get("$cursor") if isinstance(stage, Mapping) else None
        if isinstance(cursor, Mapping):
            planner = planner or cursor.get("queryPlanner")
            stats = stats or cursor.get("executionStats")
    return planner or {}, stats or {}


def _chain(plan: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = plan
    while isinstance(node, Mapping) and len(parts) < MAX_CHAIN:
        part = str(node.get("stage", "?"))
        if "indexName" in node:
            part += f" {node['indexName']} {_keys(node.get('keyPattern'))}"
        parts.append(part)
        inputs = node.get("inputStages")
        node = node.get("inputStage") or (
            inputs[0] if isinstance(inputs, list) and inputs else None
        )
    return " ← ".join(parts)


def _keys(pattern: Any) -> str:
    if not isinstance(pattern, Mapping):
        return ""
    return "{" + ", ".join(f"{k}: {v}" for k, v in pattern.items()) + "}"
