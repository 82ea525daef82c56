"""Reading Argo CD: compact tables of applications, one application's state, its history,
its unhealthy resources and its events."""

from __future__ import annotations

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
    parts = [f"{n} {s}" for s, n in sorted(sync.items())] + [
        f"{n} {h}" for h, n in sorted(health.items())
    ]
    return f"{len(apps)} applications" + (f": {', '.join(parts)}" if parts else "")


@tool()
async def get_application(args: AppArgs, argo: ScopedArgo) -> Output:
    """One application's state: sources, destination, sync and health summary, conditions,
    the resources that are out of sync or not healthy (kind, namespace, name, status,
    message), and the last operation with its result. Use after list_applications."""
    app = await argo.get_app(args.name, args.app_namespace)
    return Text(describe(app), narrow="Use application_diff or resource_tree for one part.")


def describe(app: AppView) -> str:
    policy = app.spec.get("syncPolicy") or {}
    automated = policy.get("automated") or {}
    auto = (
        f"auto-sync on (prune {'on' if automated.get('prune') else 'off'}, self-heal "
        f"{'on' if automated.get('selfHeal') else 'off'})"
        if app.auto_sync
        else "auto-sync off"
    )
    lines = [f"Application {app.namespace}/{app.name}  project {app.project}"]
    lines += [f"source: {source_text(s)}" for s in app.sources()]
    lines.append(f"destination: {app.dest_text}")
    lines.append(f"sync: {app.sync_status} at {app.revision or '-'}; {auto}")
    health = f"health: {app.health}"
    lines.append(health + (f" - {app.health_message}" if app.health_message else ""))
    conditions = app.status.get("conditions") or []
    if conditions:
        lines.append("conditions:")
        lines += [
            f"  {c.get('type', '?')} ({when(c.get('lastTransitionTime')) or '-'}): "
            f"{c.get('message', '')}"
            for c in conditions
        ]
    resources = app.resources()
    bad = [r for r in resources if not _resource_ok(r)]
    lines.append(f"resources not synced or not healthy: {len(bad)} of {len(resources)}")
    lines += ["  " + _resource_line(r) for r in bad]
    lines += _operation_lines(app)
    return "\n".join(lines)


def _resource_ok(resource: dict[str, Any]) -> bool:
    health = (resource.get("health") or {}).get("status")
    return resource.get("status") in (None, "Synced") and health in (None, "Healthy")


def _resource_line(resource: dict[str, Any]) -> str:
    health = resource.get("health") or {}
    where = f"{resource.get('namespace')}/" if resource.get("namespace") else ""
    text = (
        f"{resource.get('kind', '?')} {where}{resource.get('name', '?')}: "
        f"{resource.get('status') or '-'}, {health.get('status') or '-'}"
    )
    if resource.get("requiresPruning"):
        text += ", requires pruning"
    return text + (f" - {health['message']}" if health.get("message") else "")


def _operation_lines(app: AppView) -> list[str]:
    state = app.operation_state
    if not state:
        return ["last operation: none recorded"]
    operation = state.get("operation") or {}
    kind = "sync" if "sync" in operation else "operation"
    by = (operation.get("initiatedBy") or {}).get("username") or (
        "automated" if (operation.get("initiatedBy") or {}).get("automated") else "?"
    )
    lines = [
        f"last operation: {kind} {state.get('phase', '?')} (by {by}, started "
        f"{when(state.get('startedAt')) or '-'}, finished {when(state.get('finishedAt')) or '-'})"
        + (f": {state['message']}" if state.get("message") else "")
    ]
    result = state.get("syncResult") or {}
    if result.get("revision"):
        lines.append(f"  revision {short_revision(str(result['revision']))}")
    failed = [
        r
        for r in result.get("resources") or []
        if r.get("status") not in (None, "Synced", "Pruned") or r.get("hookPhase") == "Failed"
    ]
    for r in failed:
        where = f"{r.get('namespace')}/" if r.get("namespace") else ""
        lines.append(
            f"  failed: {r.get('kind', '?')} {where}{r.get('name', '?')} "
            f"{r.get('status', '')}: {r.get('message', '')}"
        )
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
