"""Reading Argo CD: compact tables of applications, one application's state, its history,
its unhealthy resources and its events."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

from pydantic import Field

from autodevops.servers.core.args import Args
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..apps import ROW_COLUMNS, AppView, short_revision, source_text, when
from ..client import ScopedArgo
from .args import AppArgs

Health = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
SyncStatus = Literal["Synced", "OutOfSync", "Unknown"]
MAX_PAGE = 500


class ListArgs(Args):
    project: str | None = Field(None, max_length=253, description="only this Argo CD project")
    health: Health | None = None
    sync_status: SyncStatus | None = None
    selector: str | None = Field(
        None, max_length=1000, description="label selector, e.g. team=payments,tier!=db"
    )
    offset: int = Field(0, ge=0, description="rows to skip (pagination)")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="rows to return")


class TreeArgs(AppArgs):
    all: bool = Field(False, description="every node, not only those not healthy")


@tool()
async def list_applications(args: ListArgs, argo: ScopedArgo) -> Output:
    """List Argo CD applications in your scope, one row each (name, project, sync status,
    health, revision, destination, last sync), with totals. Filter by project, health,
    sync_status or label selector; page with offset/limit. Start here for "is it in sync?"."""
    apps = await argo.list_apps(args.project, args.selector)
    chosen = [
        a
        for a in apps
        if (args.health is None or a.health == args.health)
        and (args.sync_status is None or a.sync_status == args.sync_status)
    ]
    page = chosen[args.offset : args.offset + args.limit]
    several = len({a.namespace for a in page}) > 1
    columns = (["APP NAMESPACE"] if several else []) + ROW_COLUMNS
    rows = [([a.namespace] if several else []) + a.row() for a in page]
    notes = [_totals(chosen)]
    if args.offset + len(page) < len(chosen):
        notes.append(
            f"rows {args.offset + 1}-{args.offset + len(page)} of {len(chosen)}; "
            f"next page: offset={args.offset + len(page)}"
        )
    return Table(
        columns,
        rows,
        narrow="Filter by project, health, sync_status or selector, or page with offset/limit.",
        notes=notes,
    )


def _totals(apps: list[AppView]) -> str:
    sync = Counter(a.sync_status for a in apps)
    health = Counter(a.health for a in apps)
    if not apps:
        return "0 applications"
    synced = ", ".join(f"{n} {s}" for s, n in sorted(sync.items()))
    healthy = ", ".join(f"{n} {h}" for h, n in sorted(health.items()))
    return f"{len(apps)} applications; sync: {synced}; health: {healthy}"


class GetArgs(AppArgs):
    output: Literal["text", "json"] = Field("text", description="json: for programs")


@tool()
async def get_application(args: GetArgs, argo: ScopedArgo) -> Output:
    """One application's state: sources, destination, sync and health summary, conditions,
    the resources that are out of sync or not healthy (kind, namespace, name, status,
    message), and the last operation with its result. Use after list_applications."""
    app = await argo.get_app(args.name, args.app_namespace)
    state = state_of(app)
    narrow = "Use application_diff or resource_tree for one part."
    if args.output == "json":
        return Text(json.dumps(state, indent=1), narrow=narrow)
    return Text(describe(state), narrow=narrow)


def state_of(app: AppView) -> dict[str, Any]:
    """What get_application says, as data: its text and its JSON are both made from this."""
    automated = (app.spec.get("syncPolicy") or {}).get("automated") or {}
    resources = app.resources()
    return {
        "name": app.name,
        "app_namespace": app.namespace,
        "project": app.project,
        "sources": [source_text(s) for s in app.sources()],
        "destination": app.dest_text,
        "sync": app.sync_status,
        "revision": app.revision,
        "auto_sync": app.auto_sync,
        "auto_prune": bool(automated.get("prune")),
        "self_heal": bool(automated.get("selfHeal")),
        "health": app.health,
        "health_message": app.health_message,
        "conditions": [
            {
                "type": c.get("type", "?"),
                "time": when(c.get("lastTransitionTime")),
                "message": c.get("message", ""),
            }
            for c in app.status.get("conditions") or []
        ],
        "resources": len(resources),
        "problem_resources": [_resource(r) for r in resources if not _resource_ok(r)],
        "last_operation": _operation(app.operation_state),
    }


def describe(state: dict[str, Any]) -> str:
    auto = (
        f"auto-sync on (prune {'on' if state['auto_prune'] else 'off'}, self-heal "
        f"{'on' if state['self_heal'] else 'off'})"
        if state["auto_sync"]
        else "auto-sync off"
    )
    lines = [f"Application {state['app_namespace']}/{state['name']}  project {state['project']}"]
    lines += [f"source: {s}" for s in state["sources"]]
    lines.append(f"destination: {state['destination']}")
    lines.append(f"sync: {state['sync']} at {state['revision'] or '-'}; {auto}")
    message = state["health_message"]
    lines.append(f"health: {state['health']}" + (f" - {message}" if message else ""))
    if state["conditions"]:
        lines.append("conditions:")
        lines += [
            f"  {c['type']} ({c['time'] or '-'}): {c['message']}" for c in state["conditions"]
        ]
    bad = state["problem_resources"]
    lines.append(f"resources not synced or not healthy: {len(bad)} of {state['resources']}")
    lines += ["  " + _resource_line(r) for r in bad]
    lines += _operation_lines(state["last_operation"])
    return "\n".join(lines)


def _resource_ok(resource: dict[str, Any]) -> bool:
    health = (resource.get("health") or {}).get("status")
    return resource.get("status") in (None, "Synced") and health in (None, "Healthy")


def _resource(resource: dict[str, Any]) -> dict[str, Any]:
    health = resource.get("health") or {}
    return {
        "kind": resource.get("kind", "?"),
        "namespace": resource.get("namespace") or "",
        "name": resource.get("name", "?"),
        "sync": resource.get("status") or "",
        "health": health.get("status") or "",
        "message": health.get("message") or "",
        "requires_pruning": bool(resource.get("requiresPruning")),
    }


def _resource_line(r: dict[str, Any]) -> str:
    where = f"{r['namespace']}/" if r["namespace"] else ""
    text = f"{r['kind']} {where}{r['name']}: {r['sync'] or '-'}, {r['health'] or '-'}"
    if r["requires_pruning"]:
        text += ", requires pruning"
    return text + (f" - {r['message']}" if r["message"] else "")


def _operation(state: dict[str, Any]) -> dict[str, Any] | None:
    if not state:
        return None
    operation = state.get("operation") or {}
    initiated = operation.get("initiatedBy") or {}
    result = state.get("syncResult") or {}
    failed = [
        r
        for r in result.get("resources") or []
        if r.get("status") not in (None, "Synced", "Pruned") or r.get("hookPhase") == "Failed"
    ]
    return {
        "kind": "sync" if "sync" in operation else "operation",
        "phase": state.get("phase", "?"),
        "by": initiated.get("username") or ("automated" if initiated.get("automated") else "?"),
        "started": when(state.get("startedAt")),
        "finished": when(state.get("finishedAt")),
        "message": state.get("message") or "",
        "revision": short_revision(str(result.get("revision") or "")),
        "failed": [
            {
                "kind": r.get("kind", "?"),
                "namespace": r.get("namespace") or "",
                "name": r.get("name", "?"),
                "status": r.get("status", ""),
                "message": r.get("message", ""),
            }
            for r in failed
        ],
    }


def _operation_lines(op: dict[str, Any] | None) -> list[str]:
    if op is None:
        return ["last operation: none recorded"]
    lines = [
        f"last operation: {op['kind']} {op['phase']} (by {op['by']}, started "
        f"{op['started'] or '-'}, finished {op['finished'] or '-'})"
        + (f": {op['message']}" if op["message"] else "")
    ]
    if op["revision"]:
        lines.append(f"  revision {op['revision']}")
    for r in op["failed"]:
        where = f"{r['namespace']}/" if r["namespace"] else ""
        lines.append(f"  failed: {r['kind']} {where}{r['name']} {r['status']}: {r['message']}")
    return lines


@tool()
async def application_history(args: AppArgs, argo: ScopedArgo) -> Output:
    """Deployed revisions of an application, newest first: history ID (for rollback), time,
    revision, source and who started it. Answers "what changed, and when?"."""
    app = await argo.get_app(args.name, args.app_namespace)
    rows = []
    for entry in sorted(app.history(), key=lambda h: int(h.get("id", 0)), reverse=True):
        sources = entry.get("sources") or ([entry["source"]] if entry.get("source") else [])
        revisions = entry.get("revisions") or [entry.get("revision") or ""]
        initiated = entry.get("initiatedBy") or {}
        rows.append(
            [
                str(entry.get("id", "?")),
                when(entry.get("deployedAt")) or "-",
                ",".join(short_revision(str(r)) for r in revisions if r) or "-",
                "; ".join(source_text(s) for s in sources) or "-",
                initiated.get("username") or ("automated" if initiated.get("automated") else "-"),
            ]
        )
    notes = [f"current: {app.sync_status} at {app.revision or '-'}"]
    return Table(
        ["ID", "DEPLOYED", "REVISION", "SOURCE", "BY"],
        rows,
        narrow="Older entries were cut; Argo CD keeps revisionHistoryLimit entries.",
        notes=notes,
    )


@tool()
async def resource_tree(args: TreeArgs, argo: ScopedArgo) -> Output:
    """An application's resource tree, by default only the nodes not healthy (Pods,
    ReplicaSets and other children too in API mode), with health messages and parents.
    Use to find which pod or object makes an application Degraded."""
    app = await argo.get_app(args.name, args.app_namespace)
    nodes = await argo.resource_tree(app)
    notes = []
    if nodes is None:
        nodes = [{**r, "health": r.get("health") or {}} for r in app.resources() if r.get("health")]
        notes.append(
            "core mode: the managed resources only; their children (Pods, ReplicaSets) are "
            "in the controller's cache, not in the Application"
        )
    total = len(nodes)
    if not args.all:
        nodes = [n for n in nodes if (n.get("health") or {}).get("status") not in (None, "Healthy")]
        notes.append(f"{len(nodes)} of {total} nodes not healthy; all=true shows every node")
    rows = [
        [
            n.get("kind", "?"),
            n.get("namespace") or "-",
            n.get("name", "?"),
            (n.get("health") or {}).get("status") or "-",
            (n.get("health") or {}).get("message") or "",
            ",".join(f"{p.get('kind')}/{p.get('name')}" for p in n.get("parentRefs") or []) or "-",
        ]
        for n in nodes
    ]
    return Table(
        ["KIND", "NAMESPACE", "NAME", "HEALTH", "MESSAGE", "PARENT"],
        rows,
        narrow="Leave all=false to see only the nodes not healthy.",
        notes=notes,
    )


@tool()
async def application_events(args: AppArgs, argo: ScopedArgo) -> Output:
    """Kubernetes events of an application (syncs started and finished, health changes,
    operation failures), newest first."""
    app = await argo.get_app(args.name, args.app_namespace)
    events = await argo.events(app)
    events.sort(key=_event_time, reverse=True)
    rows = [
        [
            when(_event_time(e)) or "-",
            e.get("type", ""),
            e.get("reason", ""),
            str(e.get("count") or 1),
            e.get("message", ""),
        ]
        for e in events
    ]
    return Table(
        ["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"],
        rows,
        narrow="The newest events are shown first.",
    )


def _event_time(event: dict[str, Any]) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
