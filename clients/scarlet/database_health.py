"""Database health for Scarlet: connections near the limit, a lock chain waiting for more than
a minute, sessions idle in a transaction for long. Found without a model, from the PostgreSQL
servers in Scarlet's pool (every server offering `connections`, `blocking` and `sessions`),
so they run with Scarlet's identity and inside its policy like every other analyzer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.core.output import ParsedTable, parse_table
from autodevops.servers.postgres.tools.args import parse_seconds
from autodevops.servers.postgres.tools.health import parse_connections_note

from .analyzers import SEVERITIES, Evidence, Finding, ProposedAction

TOOLS = ("connections", "blocking", "sessions")
EXCERPT_ROWS = 10


@dataclass(frozen=True)
class Thresholds:
    connections_warning: float = 0.8  # of max_connections
    connections_critical: float = 0.95
    blocked_seconds: int = 60
    idle_in_transaction_seconds: int = 300


async def database_health(
    pool: McpPool, notes: list[str], limits: Thresholds | None = None
) -> list[Finding]:
    """Findings from every PostgreSQL server in the pool; a tool that fails becomes a note."""
    limits = limits or Thresholds()
    servers = sorted(
        {t.server for t in pool.tools() if t.remote_name == "blocking"}
        & {t.server for t in pool.tools() if t.remote_name == "connections"}
    )
    findings: list[Finding] = []
    for server in servers:
        reader = _Tables(pool, server, notes)
        findings += await _connections(reader, limits)
        findings += await _lock_chains(reader, limits)
        findings += await _idle_in_transaction(reader, limits)
    return findings


def by_severity(findings: list[Finding]) -> list[Finding]:
    """Most severe first, in their order otherwise, as the other analyzers' findings are."""
    rank = {name: index for index, name in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: rank.get(f.severity, len(rank)))


class _Tables:
    def __init__(self, pool: McpPool, server: str, notes: list[str]) -> None:
        self.pool = pool
        self.server = server
        self.notes = notes

    def tool(self, name: str) -> str:
        return f"{self.server}__{name}"

    async def table(self, name: str, arguments: dict[str, Any]) -> ParsedTable | None:
        result = await self.pool.call(self.tool(name), arguments)
        if result.outcome != "ok":
            reason = (result.text.strip().splitlines() or [result.outcome])[0]
            self.notes.append(f"{self.server} {name} unavailable: {reason}")
            return None
        if not result.text.startswith(("PID", "DATABASE")):
            return None  # a text answer: nothing of this kind right now
        return parse_table(result.text)

    def evidence(
        self, name: str, arguments: dict[str, Any], table: ParsedTable, rows: list[int]
    ) -> Evidence:
        lines = [table.header, *(table.lines[i] for i in rows[:EXCERPT_ROWS])]
        return Evidence(self.tool(name), arguments, "\n".join(lines))


async def _connections(reader: _Tables, limits: Thresholds) -> list[Finding]:
    table = await reader.table("connections", {})
    usage = parse_connections_note(table.notes) if table else None
    if table is None or usage is None:
        return []
    used, limit = usage
    share = used / max(limit, 1)
    if share < limits.connections_warning:
        return []
    records = table.records()
    biggest = sorted(range(len(records)), key=lambda i: -int(records[i]["COUNT"]))
    top = records[biggest[0]] if biggest else None
    who = f"; most are {top['USER']} from {top['APPLICATION']} ({top['STATE']})" if top else ""
    return [
        Finding(
            analyzer="postgres_connections",
            severity="critical" if share >= limits.connections_critical else "warning",
            subject=f"{reader.server} connections",
            summary=f"{used} of max_connections {limit} in use ({share:.0%}){who}",
            likely_cause=(
                "a client opening connections without a pool or leaking them, or sessions "
                "left idle; new connections are refused once the limit is reached"
            ),
            evidence=[reader.evidence("connections", {}, table, biggest)],
        )
    ]


async def _lock_chains(reader: _Tables, limits: Thresholds) -> list[Finding]:
    table = await reader.table("blocking", {})
    if table is None:
        return []
    records = table.records()
    chains: dict[str, list[int]] = {}
    for index, row in enumerate(records):
        chains.setdefault(row["ROOT"], []).append(index)
    findings = []
    for root, rows in chains.items():
        waits = [
            parse_seconds(records[i]["FOR"]) or 0 for i in rows if records[i]["BLOCKED BY"] != "-"
        ]
        if not waits or max(waits) < limits.blocked_seconds:
            continue
        head = next((records[i] for i in rows if records[i]["PID"] == root), None)
        holder = f"{head['USER']}, {head['STATE']}: {head['QUERY']}" if head else "unknown"
        actions = []
        terminate = reader.tool("terminate_backend")
        if reader.pool.tool(terminate) is not None and root.isdigit():
            actions.append(
                ProposedAction(
                    terminate,
                    {"pid": int(root)},
                    f"end session {root}, the root of the chain, so the {len(waits)} waiting "
                    "sessions get their locks (its transaction is rolled back)",
                )
            )
        idle = head is not None and head["STATE"].startswith("idle in transaction")
        findings.append(
            Finding(
                analyzer="postgres_lock_chain",
                severity="critical",
                subject=f"{reader.server} pid {root}",
                summary=(
                    f"{len(waits)} session(s) waiting for locks behind pid {root} ({holder}), "
                    f"the longest for {max(waits)}s"
                ),
                likely_cause=(
                    "the root session holds its locks in a transaction it does not finish "
                    "(idle in transaction: the application forgot to commit or roll back)"
                    if idle
                    else "the root session's statement holds locks the others need; a slow "
                    "statement or a migration taking a strong lock"
                ),
                evidence=[reader.evidence("blocking", {}, table, rows)],
                proposed_actions=actions,
            )
        )
    return findings


async def _idle_in_transaction(reader: _Tables, limits: Thresholds) -> list[Finding]:
    arguments = {
        "state": "idle in transaction",
        "min_seconds": limits.idle_in_transaction_seconds,
    }
    table = await reader.table("sessions", arguments)
    if table is None:
        return []
    findings = []
    for index, row in enumerate(table.records()):
        findings.append(
            Finding(
                analyzer="postgres_idle_in_transaction",
                severity="warning",
                subject=f"{reader.server} pid {row['PID']}",
                summary=(
                    f"session {row['PID']} of {row['USER']} ({row['APPLICATION']}) has been idle "
                    f"in a transaction for {row['FOR']} (transaction age {row['XACT AGE']})"
                ),
                likely_cause=(
                    "the application opened a transaction and neither committed nor rolled "
                    "back; it holds its locks and keeps vacuum from removing dead rows"
                ),
                evidence=[reader.evidence("sessions", arguments, table, [index])],
            )
        )
    return findings
