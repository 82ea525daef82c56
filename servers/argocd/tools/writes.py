"""The writes: sync, rollback, refresh and terminate. Each is off unless the policy allows
the tool, each is checked against the application as it is now, and each has a dry run
that checks and plans without changing anything."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from autodevops.servers.core.output import Output, Text
from autodevops.servers.core.spec import tool

from ..apps import AppView, short_revision, source_text
from ..client import ResourceRef, ScopedArgo, SyncRequest
from .args import WriteArgs, mode_prefix


class ResourceArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field("", max_length=63, description="empty for cluster-scoped objects")
    group: str = Field("", max_length=253, description="API group; empty for the core group")


class SyncArgs(WriteArgs):
    prune: bool = Field(False, description="also delete resources no longer in git")
    resources: list[ResourceArg] = Field(
        default_factory=list, max_length=50, description="only these resources (default all)"
    )
    revision: str | None = Field(
        None, min_length=1, max_length=200, description="git revision or chart version"
    )


class RollbackArgs(WriteArgs):
    id: int = Field(ge=0, description="history ID from application_history")
    prune: bool = Field(False, description="also delete resources not in that revision")


class RefreshArgs(WriteArgs):
    hard: bool = Field(False, description="also regenerate manifests (clears the cache)")


@tool(read_only=False, destructive=True)
async def sync_application(args: SyncArgs, argo: ScopedArgo) -> Output:
    """Sync an application to git (or a given revision): only the named resources if given;
    prune stays off unless asked. Checked against the application's current project and
    destination. Run with dry_run=true first to see what would change."""
    request = SyncRequest(
        prune=args.prune,
        resources=[ResourceRef(r.kind, r.name, r.namespace, r.group) for r in args.resources],
        revision=args.revision,
    )
    app = await argo.sync(args.name, args.app_namespace, request, args.dry_run)
    verb = "would sync" if args.dry_run else "sync started for"
    lines = [
        f"{mode_prefix(args.dry_run)}{verb} {app.name} (project {app.project}, destination "
        f"{app.dest_text}) to {args.revision or 'its target revision'}, prune "
        f"{'on' if args.prune else 'off'}"
    ]
    lines += _plan(app, request)
    if not args.dry_run:
        lines.append("follow with get_application")
    return Text("\n".join(lines))


def _plan(app: AppView, request: SyncRequest) -> list[str]:
    if request.resources:
        return ["resources: " + "; ".join(r.text() for r in request.resources)]
    out = [r for r in app.resources() if r.get("status") == "OutOfSync"]
    lines = [f"out of sync now: {len(out)} of {len(app.resources())} resources"]
    for r in out[:50]:
        where = f"{r.get('namespace')}/" if r.get("namespace") else ""
        prune = r.get("requiresPruning")
        note = (" (would be deleted)" if request.prune else " (kept: prune off)") if prune else ""
        lines.append(f"  {r.get('kind')} {where}{r.get('name')}{note}")
    return lines


@tool(read_only=False, destructive=True)
async def rollback_application(args: RollbackArgs, argo: ScopedArgo) -> Output:
    """Roll an application back to a deployed revision by its history ID (see
    application_history). Refused while auto-sync is on, as Argo CD does. Run with
    dry_run=true first."""
    app, entry = await argo.rollback(
        args.name, args.app_namespace, args.id, args.prune, args.dry_run
    )
    sources = entry.get("sources") or ([entry["source"]] if entry.get("source") else [])
    verb = "would roll back" if args.dry_run else "rollback started for"
    return Text(
        f"{mode_prefix(args.dry_run)}{verb} {app.name} from {app.revision or '-'} to history "
        f"{args.id}: {short_revision(str(entry.get('revision') or '-'))} "
        f"({'; '.join(source_text(s) for s in sources) or '-'}), prune "
        f"{'on' if args.prune else 'off'}"
    )


@tool(read_only=False)
async def refresh_application(args: RefreshArgs, argo: ScopedArgo) -> Output:
    """Ask Argo CD to compare an application with git again now (hard=true also
    regenerates manifests). Changes no workload."""
    await argo.refresh(args.name, args.app_namespace, args.hard, args.dry_run)
    kind = "hard" if args.hard else "normal"
    verb = "would request" if args.dry_run else "requested"
    return Text(f"{mode_prefix(args.dry_run)}{verb} a {kind} refresh of {args.name}")


@tool(read_only=False)
async def terminate_operation(args: WriteArgs, argo: ScopedArgo) -> Output:
    """Stop an application's running sync or rollback (it may leave resources half
    applied; check get_application afterwards)."""
    app = await argo.terminate(args.name, args.app_namespace, args.dry_run)
    verb = "would terminate" if args.dry_run else "terminating"
    started = app.operation_state.get("startedAt") or "?"
    return Text(f"{mode_prefix(args.dry_run)}{verb} the operation on {app.name} started {started}")
