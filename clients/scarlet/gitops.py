"""Scarlet's Argo CD analyzer: applications that are degraded or out of sync, naming the
resources to blame and the last failed operation's message.

It reads Argo CD only through the pool's `argocd` server, as Scarlet's own identity inside its
policy; without that server in the pool it has nothing to say. It lists with the server's
filters and reads each application's state as JSON, so no text is scraped.
"""

from __future__ import annotations

import json
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.core.output import parse_table

from .analyzers import SEVERITIES, AnalyzerScope, Evidence, Finding, ProposedAction

SERVER = "argocd"
LIST = f"{SERVER}__list_applications"
GET = f"{SERVER}__get_application"
SYNC = f"{SERVER}__sync_application"
MAX_APPLICATIONS = 20
EXCERPT_LINES = 12


async def with_argocd_findings(
    pool: McpPool, scope: AnalyzerScope, findings: list[Finding], notes: list[str]
) -> tuple[list[Finding], list[str]]:
    """The other analyzers' findings and notes with Argo CD's added, most severe first."""
    found, more = await argocd_findings(pool, scope)
    merged = findings + found
    merged.sort(key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 3)
    return merged, list(dict.fromkeys(notes + more))


async def argocd_findings(pool: McpPool, scope: AnalyzerScope) -> tuple[list[Finding], list[str]]:
    if not any(server.name == SERVER for server in pool.status()):
        return [], []
    candidates: dict[str, tuple[dict[str, Any], str, str]] = {}
    for filters in ({"health": "Degraded"}, {"sync_status": "OutOfSync"}):
        arguments = {**filters, "limit": 100}
        result = await pool.call(LIST, arguments)
        if result.outcome != "ok":
            return [], [f"Argo CD applications unavailable: {_first_line(result.text)}"]
        table = parse_table(result.text)
        for record, line in zip(table.records(), table.lines, strict=True):
            namespace = record.get("DESTINATION", "").rsplit("/", 1)[-1]
            if scope.namespaces is not None and namespace not in scope.namespaces:
                continue
            candidates.setdefault(record["NAME"], (arguments, table.header, line))
    findings, notes = [], []
    for name, listed in list(candidates.items())[:MAX_APPLICATIONS]:
        arguments = {"name": name, "output": "json"}
        result = await pool.call(GET, arguments)
        if result.outcome != "ok":
            notes.append(f"Argo CD application {name} unavailable: {_first_line(result.text)}")
            continue
        findings.append(_finding(json.loads(result.text), listed, arguments, result.text))
    if len(candidates) > MAX_APPLICATIONS:
        notes.append(
            f"{len(candidates)} Argo CD applications need attention; the first "
            f"{MAX_APPLICATIONS} were analysed"
        )
    return findings, notes


def _finding(
    state: dict[str, Any],
    listed: tuple[dict[str, Any], str, str],
    arguments: dict[str, Any],
    text: str,
) -> Finding:
    list_arguments, header, line = listed
    operation = state.get("last_operation") or {}
    failed = operation.get("phase") in ("Failed", "Error")
    degraded = state["health"] == "Degraded"
    blamed = [_resource_text(r) for r in state["problem_resources"]]
    summary = (
        f"{state['name']} (project {state['project']}, {state['destination']}) is "
        f"{state['sync']} and {state['health']} at {state['revision'] or '-'}"
        + (": " + "; ".join(blamed[:5]) if blamed else "")
        + (f" (and {len(blamed) - 5} more)" if len(blamed) > 5 else "")
    )
    if failed:
        cause = f"the last {operation['kind']} failed: {operation['message']}" + "".join(
            f"; {r['kind']} {r['namespace']}/{r['name']}: {r['message']}"
            for r in operation["failed"][:3]
        )
    elif degraded:
        cause = state["health_message"] or "resources are unhealthy: " + "; ".join(blamed[:3])
    else:
        cause = "the live state drifted from git (no failed operation)"
    actions = []
    if not degraded and not failed and state["sync"] == "OutOfSync" and not state["auto_sync"]:
        actions.append(
            ProposedAction(
                SYNC,
                {"name": state["name"], "prune": False},
                "bring the application back to git, prune off",
            )
        )
    lines = text.splitlines()[:EXCERPT_LINES]
    return Finding(
        analyzer="argocd",
        severity="critical" if degraded else "warning" if failed else "info",
        subject=f"Application {state['name']}",
        summary=summary,
        likely_cause=cause,
        evidence=[
            Evidence(LIST, list_arguments, f"{header}\n{line}"),
            Evidence(GET, arguments, "\n".join(lines)),
        ],
        proposed_actions=actions,
    )


def _resource_text(resource: dict[str, Any]) -> str:
    where = f"{resource['namespace']}/" if resource["namespace"] else ""
    state = ", ".join(x for x in (resource["sync"], resource["health"]) if x)
    text = f"{resource['kind']} {where}{resource['name']} {state}"
    return text + (f" ({resource['message']})" if resource["message"] else "")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no answer"])[0]
