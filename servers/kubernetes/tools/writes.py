"""The few well-defined writes; each is off unless a policy allows the tool and the verb, and
each can run as a dry run first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from autodevops.common.safe_yaml import YamlRefused, load_documents
from autodevops.servers.core.args import Args
from autodevops.servers.core.errors import InvalidArgument, NotFound
from autodevops.servers.core.output import Output, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedKube
from ..escalation import check_escalation
from .args import Kind, Name, Namespace, namespace_for
from .overview import deployment_revisions


class ScaleArgs(Args):
    kind: Literal["Deployment", "StatefulSet", "ReplicaSet"] = "Deployment"
    name: Name
    namespace: Namespace
    replicas: int = Field(ge=0, le=1000)
    dry_run: bool = Field(False, description="validate on the server without changing anything")


class RestartArgs(Args):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    name: Name
    namespace: Namespace
    dry_run: bool = False


class RollbackArgs(Args):
    name: Name = Field(description="Deployment name")
    namespace: Namespace
    revision: int | None = Field(None, ge=1, description="default: the previous revision")
    dry_run: bool = False


class CordonArgs(Args):
    node: Name
    uncordon: bool = False
    dry_run: bool = False


class DeleteArgs(Args):
    kind: Kind
    name: Name
    namespace: Namespace | None = None
    dry_run: bool = False


class ApplyArgs(Args):
    manifest: str = Field(
        min_length=1, max_length=200_000, description="YAML, may hold several documents"
    )
    namespace: Namespace | None = Field(None, description="for objects that name none")
    dry_run: bool = False
    force_conflicts: bool = False


@tool(read_only=False, destructive=True)
async def scale(args: ScaleArgs, kube: ScopedKube) -> Output:
    """Set the replica count of a Deployment, StatefulSet or ReplicaSet (dry_run first)."""
    resource = await kube.resolve_named(args.kind)
    body = {"spec": {"replicas": args.replicas}}
    result = await kube.call(
        resource,
        "patch",
        "PATCH",
        args.namespace,
        args.name,
        "scale",
        query=_dry(args.dry_run),
        body=body,
        content_type="application/merge-patch+json",
    )
    before = result.get("status", {}).get("replicas", "?")
    return kube.with_notes(
        Text(
            f"{_mode(args.dry_run)}{args.kind} {args.namespace}/{args.name} scaled to "
            f"{args.replicas} replicas (currently {before} running)"
        )
    )


@tool(read_only=False)
async def rollout_restart(args: RestartArgs, kube: ScopedKube) -> Output:
    """Restart a workload's pods by a rolling update, like `kubectl rollout restart`."""
    resource = await kube.resolve_named(args.kind)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    await kube.call(
        resource,
        "patch",
        "PATCH",
        args.namespace,
        args.name,
        query=_dry(args.dry_run),
        body=body,
        content_type="application/strategic-merge-patch+json",
    )
    return kube.with_notes(
        Text(
            f"{_mode(args.dry_run)}{args.kind} {args.namespace}/{args.name} restarted "
            f"(restartedAt {stamp}); follow with rollout_status"
        )
    )


@tool(read_only=False, destructive=True)
async def rollback(args: RollbackArgs, kube: ScopedKube) -> Output:
    """Roll a Deployment back to a previous revision (default: the one before the current)."""
    resource = await kube.resolve("deployments.apps")
    deployment = await kube.call(resource, "get", "GET", args.namespace, args.name)
    revisions = await deployment_revisions(kube, deployment, args.namespace)
    if len(revisions) < 2 and args.revision is None:
        raise NotFound(f"Deployment {args.namespace}/{args.name} has no previous revision")
    current = revisions[-1][0] if revisions else 0
    wanted = args.revision if args.revision is not None else revisions[-2][0]
    match = [rs for rev, _, rs in revisions if rev == wanted]
    if not match:
        known = ", ".join(str(rev) for rev, _, _ in revisions)
        raise InvalidArgument("revision", f"no revision {wanted} (known: {known})")
    template = dict(match[0]["spec"]["template"])
    labels = dict(template.get("metadata", {}).get("labels", {}))
    labels.pop("pod-template-hash", None)
    template["metadata"] = {**template.get("metadata", {}), "labels": labels}
    await kube.call(
        resource,
        "patch",
        "PATCH",
        args.namespace,
        args.name,
        query=_dry(args.dry_run),
        body={"spec": {"template": template}},
        content_type="application/strategic-merge-patch+json",
    )
    return Text(
        f"{_mode(args.dry_run)}Deployment {args.namespace}/{args.name} rolled back from "
        f"revision {current} to {wanted}; follow with rollout_status"
    )


@tool(read_only=False)
async def cordon(args: CordonArgs, kube: ScopedKube) -> Output:
    """Mark a node unschedulable (or schedulable again with uncordon=true)."""
    resource = await kube.resolve("nodes")
    await kube.call(
        resource,
        "patch",
        "PATCH",
        None,
        args.node,
        query=_dry(args.dry_run),
        body={"spec": {"unschedulable": not args.uncordon}},
        content_type="application/merge-patch+json",
    )
    verb = "uncordoned" if args.uncordon else "cordoned"
    return Text(f"{_mode(args.dry_run)}node {args.node} {verb}")


@tool(read_only=False, destructive=True)
async def delete_resource(args: DeleteArgs, kube: ScopedKube) -> Output:
    """Delete one named object (a stuck pod, a finished job). Never deletes by selector."""
    resource = await kube.resolve_named(args.kind)
    namespace = namespace_for(resource, args.namespace)
    await kube.call(
        resource,
        "delete",
        "DELETE",
        namespace,
        args.name,
        body={
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "dryRun": ["All"] if args.dry_run else [],
        },
    )
    return kube.with_notes(
        Text(
            f"{_mode(args.dry_run)}{resource.kind} {namespace + '/' if namespace else ''}"
            f"{args.name} deleted"
        )
    )


@tool(read_only=False, destructive=True)
async def apply_manifest(args: ApplyArgs, kube: ScopedKube) -> Output:
    """Server-side apply of a YAML manifest (several documents allowed); every object is
    checked against your scope before anything is sent. Use dry_run first."""
    try:
        documents = load_documents(args.manifest)
    except YamlRefused as exc:
        raise InvalidArgument("manifest", str(exc)) from exc
    planned = []
    for index, doc in enumerate(documents, start=1):
        api_version, kind, name, given_namespace = _identity(index, doc)
        resource = await kube.backend.resolve_api_version(api_version, kind)
        namespace = (given_namespace or args.namespace) if resource.namespaced else None
        if resource.namespaced and not namespace:
            raise InvalidArgument("namespace", f"{kind} {name} needs a namespace")
        for verb in ("create", "patch"):
            kube.check(resource, verb, namespace)
        check_escalation(kube.scope, resource, namespace, doc)
        planned.append((resource, namespace, name, doc))
    lines = []
    for resource, namespace, name, doc in planned:
        query = [("fieldManager", "autodevops"), *(_dry(args.dry_run))]
        if args.force_conflicts:
            query.append(("force", "true"))
        await kube.call(
            resource,
            "patch",
            "PATCH",
            namespace,
            name,
            query=query,
            body=doc,
            content_type="application/apply-patch+yaml",
        )
        where = f"{namespace}/" if namespace else ""
        lines.append(f"{_mode(args.dry_run)}{resource.kind} {where}{name} applied")
    return Text("\n".join(lines) or "nothing to apply")


def _identity(index: int, doc: Any) -> tuple[str, str, str, str | None]:
    """apiVersion, kind, name and namespace of one document, each checked for its type."""
    where = f"document {index}"
    if not isinstance(doc, dict):
        raise InvalidArgument("manifest", f"{where} is a {_type(doc)}, not a mapping")
    for field in ("apiVersion", "kind"):
        value = doc.get(field)
        if not isinstance(value, str) or not value:
            raise InvalidArgument(
                "manifest", f"{where}: {field} must be a non-empty string, got {_type(value)}"
            )
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise InvalidArgument(
            "manifest", f"{where}: metadata must be a mapping, got {_type(metadata)}"
        )
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(
            "manifest", f"{where}: metadata.name must be a non-empty string, got {_type(name)}"
        )
    if namespace is not None and not isinstance(namespace, str):
        raise InvalidArgument(
            "manifest", f"{where}: metadata.namespace must be a string, got {_type(namespace)}"
        )
    return doc["apiVersion"], doc["kind"], name, namespace or None


def _type(value: Any) -> str:
    if value == "":
        return "an empty string"
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _dry(dry_run: bool) -> list[tuple[str, str]]:
    return [("dryRun", "All")] if dry_run else []


def _mode(dry_run: bool) -> str:
    return "[dry run, nothing changed] " if dry_run else ""
