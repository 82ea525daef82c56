"""The Kubernetes tools: read anything the API serves, and a few well-defined writes.

Every tool reaches the API only through `ScopedKube`, which checks kind, verb and namespace
before each request. Writes are off unless a policy allows the tool and the verb.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from autodevops.servers.core.args import Args, NoArgs, parse_duration, parse_timestamp
from autodevops.servers.core.errors import InvalidArgument, NotFound, OutOfScope
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from .client import TABLE, ScopedKube
from .render import age, clean, server_table, to_yaml
from .resources import ResourceType

Kind = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        description="Kind, plural or short name, optionally .group: Deployment, pods, deploy",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=253)]
Namespace = Annotated[str, Field(min_length=1, max_length=63)]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
MAX_PAGE = 500


class ApiResourcesArgs(Args):
    filter: str | None = Field(None, description="substring of kind or group")


class ListArgs(Args):
    kind: Kind
    namespace: Namespace | None = Field(None, description="omit for all namespaces")
    label_selector: str | None = Field(None, description="e.g. app=web,tier!=db")
    field_selector: str | None = Field(None, description="e.g. status.phase=Running")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="page size")
    continue_from: str | None = Field(None, description="from the previous page")
    output: Literal["table", "yaml", "json", "names"] = "table"


class GetArgs(Args):
    kind: Kind
    name: Name
    namespace: Namespace | None = None
    output: Literal["yaml", "json", "table"] = "yaml"


class DescribeArgs(Args):
    kind: Kind
    name: Name
    namespace: Namespace | None = None


class EventsArgs(Args):
    namespace: Namespace | None = Field(None, description="omit for all namespaces")
    kind: str | None = Field(None, description="involved object's kind")
    name: str | None = Field(None, description="involved object's name")
    type: Literal["Normal", "Warning"] | None = None
    reason: str | None = None
    since: str | None = Field(None, pattern=r"^\d+[smhd]$", description="e.g. 30m, 2h")


class RolloutArgs(Args):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    name: Name
    namespace: Namespace


class LogsArgs(Args):
    name: Name = Field(description="pod name")
    namespace: Namespace
    container: str | None = None
    previous: bool = Field(False, description="the previous, crashed container")
    tail_lines: int = Field(200, ge=1, le=5000)
    since: str | None = Field(None, pattern=r"^\d+[smh]$", description="e.g. 10m")
    grep: str | None = Field(None, max_length=200, description="keep lines matching this regex")


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


@tool()
async def api_resources(args: ApiResourcesArgs, kube: ScopedKube) -> Output:
    """Kinds this cluster serves (built-in and custom), with API version and scope. Use it
    to find the right kind name before listing."""
    rows = []
    for t in sorted(await kube.backend.resource_types(), key=lambda t: (t.group, t.kind)):
        if args.filter and args.filter.lower() not in f"{t.kind} {t.group}".lower():
            continue
        rows.append(
            [t.kind, t.api_version, "yes" if t.namespaced else "no", ",".join(t.short_names)]
        )
    return Table(["KIND", "APIVERSION", "NAMESPACED", "SHORTNAMES"], rows, narrow="Pass filter.")


@tool()
async def list_resources(args: ListArgs, kube: ScopedKube) -> Output:
    """List objects of any kind like `kubectl get`, one page at a time (limit/continue_from),
    with label and field selectors."""
    resource = await kube.resolve(args.kind)
    namespace = args.namespace if resource.namespaced else None
    query = [("limit", str(args.limit))]
    if args.continue_from:
        query.append(("continue", args.continue_from))
    if args.label_selector:
        query.append(("labelSelector", args.label_selector))
    if args.field_selector:
        query.append(("fieldSelector", args.field_selector))
    pages = await _list_in_scope(kube, resource, namespace, query, args.output == "table")
    narrow = "Use a namespace, label_selector or field_selector, or a smaller limit."
    token, remaining, more_in = _next_page(pages)
    if args.output == "table":
        output = server_table(pages[0], resource.namespaced and namespace is None, narrow)
        for page in pages[1:]:
            output.rows.extend(server_table(page, True, narrow).rows)
    else:
        items = [
            clean(o, resource.kind, kube.scope.secret_values)
            for page in pages
            for o in page.get("items", [])
        ]
        if args.output == "names":
            output = Table(
                ["NAMESPACE", "NAME"] if resource.namespaced else ["NAME"],
                [
                    ([o["metadata"].get("namespace", "")] if resource.namespaced else [])
                    + [o["metadata"]["name"]]
                    for o in items
                ],
                narrow=narrow,
            )
        else:
            document: dict[str, Any] = {"items": items}
            if token:
                document["next_page"] = {"continue_from": token, "remaining": remaining}
            if more_in:
                document["more_in_namespaces"] = more_in
            return Text(_dump(document, args.output), narrow=narrow)
    if token:
        more = f" ({remaining} more)" if remaining else ""
        output.notes.append(f"next page{more}: continue_from={token}")
    if more_in:
        output.notes.append(
            f"more objects in {', '.join(more_in)}: list each with its namespace to page on"
        )
    return output


def _next_page(pages: list[dict[str, Any]]) -> tuple[str | None, int | None, list[str]]:
    """One listing pages with `continue`; several namespaces listed in turn cannot share a
    token, so those with more objects are named instead."""
    if len(pages) == 1:
        meta = pages[0].get("metadata", {})
        return meta.get("continue"), meta.get("remainingItemCount"), []
    more_in = [
        str(page.get("_namespace")) for page in pages if page.get("metadata", {}).get("continue")
    ]
    return None, None, more_in


async def _list_in_scope(
    kube: ScopedKube,
    resource: ResourceType,
    namespace: str | None,
    query: list[tuple[str, str]],
    table: bool,
) -> list[dict[str, Any]]:
    """One page; a role limited to named namespaces lists each of them instead of all."""
    accept = TABLE if table else "application/json"
    targets: list[str | None] = [namespace]
    if namespace is None and resource.namespaced:
        exact = kube.scope.namespaces.exact_allow()
        if exact is not None and (
            kube.scope.namespaces.allow != ["*"] or kube.scope.namespaces.deny
        ):
            targets = list(exact)
            query = [(k, v) for k, v in query if k != "continue"]
    pages = []
    for target in targets:
        page = await kube.call(resource, "list", "GET", target, query=query, accept=accept)
        page["_namespace"] = target
        pages.append(page)
    return pages


@tool()
async def get_resource(args: GetArgs, kube: ScopedKube) -> Output:
    """One object of any kind as YAML (default), JSON or a table row; managedFields dropped,
    Secret values hidden."""
    resource = await kube.resolve(args.kind)
    namespace = _namespace_for(resource, args.namespace)
    if args.output == "table":
        body = await kube.call(resource, "get", "GET", namespace, args.name, accept=TABLE)
        return server_table(body, False, "")
    obj = await kube.call(resource, "get", "GET", namespace, args.name)
    return Text(_dump(clean(obj, resource.kind, kube.scope.secret_values), args.output))


@tool()
async def describe(args: DescribeArgs, kube: ScopedKube) -> Output:
    """What is going on with one object: status, conditions, recent events and, for
    workloads, their pods and states. Start here when something is broken."""
    resource = await kube.resolve(args.kind)
    namespace = _namespace_for(resource, args.namespace)
    obj = await kube.call(resource, "get", "GET", namespace, args.name)
    lines = [f"{resource.kind} {namespace + '/' if namespace else ''}{args.name}"]
    lines += _summary(obj)
    if resource.kind in WORKLOADS and namespace:
        lines += await _unless_out_of_scope("pods", _workload_pods(kube, obj, namespace))
    if resource.kind == "Pod":
        lines += _pod_states(obj)
    lines += await _unless_out_of_scope(
        "events", _object_events(kube, namespace, resource.kind, args.name)
    )
    return Text("\n".join(lines), narrow="Use get_resource for the full object.")


async def _unless_out_of_scope(what: str, lines: Awaitable[list[str]]) -> list[str]:
    """A describe section the role may not read says so instead of failing the whole call."""
    try:
        return await lines
    except OutOfScope:
        return [f"{what}: outside your scope"]


def _summary(obj: dict[str, Any]) -> list[str]:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    lines = [f"created: {meta.get('creationTimestamp')} ({age(meta.get('creationTimestamp'))} ago)"]
    if meta.get("labels"):
        lines.append("labels: " + ",".join(f"{k}={v}" for k, v in meta["labels"].items()))
    if isinstance(spec, dict) and "replicas" in spec:
        lines.append(
            f"replicas: desired {spec.get('replicas')}, ready {status.get('readyReplicas', 0)}, "
            f"updated {status.get('updatedReplicas', 0)}, "
            f"available {status.get('availableReplicas', 0)}"
        )
    if isinstance(status, dict) and status.get("phase"):
        lines.append(f"phase: {status['phase']}")
    for condition in (status.get("conditions") or []) if isinstance(status, dict) else []:
        lines.append(
            f"condition {condition.get('type')}={condition.get('status')}"
            + (
                f" ({condition.get('reason')}: {condition.get('message', '')})"
                if condition.get("reason")
                else ""
            )
        )
    return lines


async def _workload_pods(kube: ScopedKube, obj: dict[str, Any], namespace: str) -> list[str]:
    selector = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    if not selector:
        return []
    pods_type = await kube.resolve("pods")
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    body = await kube.call(
        pods_type,
        "list",
        "GET",
        namespace,
        query=[("labelSelector", label_selector), ("limit", "50")],
    )
    lines = ["pods:"]
    for pod in body.get("items", []):
        lines.append("  " + _pod_line(pod))
    if len(lines) == 1:
        lines.append("  (none)")
    return lines


def _pod_line(pod: dict[str, Any]) -> str:
    status = pod.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = _pod_reason(pod)
    return (
        f"{pod['metadata']['name']}  {reason}  "
        f"ready {ready}/{len(pod.get('spec', {}).get('containers', []))}"
        f"  restarts {restarts}  node {pod.get('spec', {}).get('nodeName') or '<none>'}"
    )


def _pod_reason(pod: dict[str, Any]) -> str:
    status = pod.get("status", {})
    for c in status.get("containerStatuses") or []:
        state = c.get("state", {})
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
        if terminated.get("reason"):
            return str(terminated["reason"])
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _pod_states(pod: dict[str, Any]) -> list[str]:
    lines = ["containers:"]
    for c in pod.get("status", {}).get("containerStatuses") or []:
        state = c.get("state", {})
        last = (c.get("lastState") or {}).get("terminated") or {}
        kind = next(iter(state), "unknown")
        detail = state.get(kind) or {}
        line = f"  {c.get('name')}: {kind}"
        if detail.get("reason"):
            line += (
                f" ({detail['reason']}{': ' + detail['message'] if detail.get('message') else ''})"
            )
        line += f", restarts {c.get('restartCount', 0)}, image {c.get('image')}"
        if last:
            line += f", last terminated {last.get('reason')} exit {last.get('exitCode')}"
        lines.append(line)
    return lines if len(lines) > 1 else []


async def _object_events(
    kube: ScopedKube, namespace: str | None, kind: str, name: str
) -> list[str]:
    events_type = await kube.resolve("events")
    fields = f"involvedObject.name={name},involvedObject.kind={kind}"
    body = await kube.call(
        events_type, "list", "GET", namespace, query=[("fieldSelector", fields), ("limit", "20")]
    )
    items = sorted(body.get("items", []), key=_event_time)
    lines = ["events:"]
    for event in items[-20:]:
        lines.append(
            f"  {age(_event_time(event))} ago  {event.get('type')}  {event.get('reason')}  "
            f"x{event.get('count', 1)}  {event.get('message', '').strip()}"
        )
    if len(lines) == 1:
        lines.append("  (none)")
    return lines


def _event_time(event: dict[str, Any]) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


@tool()
async def events(args: EventsArgs, kube: ScopedKube) -> Output:
    """Cluster events, newest last, filtered by object, type (Warning), reason or age:
    why a pod is pending, crashing or failing to pull."""
    events_type = await kube.resolve("events")
    fields = []
    if args.kind:
        fields.append(f"involvedObject.kind={args.kind}")
    if args.name:
        fields.append(f"involvedObject.name={args.name}")
    if args.type:
        fields.append(f"type={args.type}")
    if args.reason:
        fields.append(f"reason={args.reason}")
    query = [("limit", str(MAX_PAGE))]
    if fields:
        query.append(("fieldSelector", ",".join(fields)))
    pages = await _list_in_scope(kube, events_type, args.namespace, query, table=False)
    items = [e for page in pages for e in page.get("items", [])]
    if args.since:
        cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(args.since))
        items = [e for e in items if _event_time(e) and parse_timestamp(_event_time(e)) >= cutoff]
    items.sort(key=_event_time)
    rows = [
        [
            e.get("metadata", {}).get("namespace", ""),
            age(_event_time(e)),
            e.get("type", ""),
            e.get("reason", ""),
            _involved(e),
            str(e.get("count", 1)),
            e.get("message", "").strip(),
        ]
        for e in items
    ]
    return Table(
        ["NAMESPACE", "AGE", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"],
        rows[::-1],
        narrow="Filter by namespace, kind/name, type=Warning or since.",
    )


def _involved(event: dict[str, Any]) -> str:
    involved = event.get("involvedObject", {})
    return f"{involved.get('kind', '')}/{involved.get('name', '')}"


@tool()
async def namespaces_overview(args: NoArgs, kube: ScopedKube) -> Output:
    """Namespaces in scope with their status and how many pods run or fail in each."""
    ns_type, pods_type = await kube.resolve("namespaces"), await kube.resolve("pods")
    kube.check(ns_type, "list", None)
    body = await kube.call(ns_type, "list", "GET", None, query=[("limit", str(MAX_PAGE))])
    rows = []
    for ns in body.get("items", []):
        name = ns["metadata"]["name"]
        if not kube.scope.namespace_visible(name):
            continue
        pods = await kube.call(pods_type, "list", "GET", name, query=[("limit", str(MAX_PAGE))])
        phases = [_pod_reason(p) for p in pods.get("items", [])]
        running = sum(1 for p in phases if p == "Running")
        rows.append(
            [
                name,
                ns.get("status", {}).get("phase", ""),
                age(ns["metadata"].get("creationTimestamp")),
                f"{running}/{len(phases)}",
                ",".join(sorted({p for p in phases if p not in ("Running", "Succeeded")})) or "-",
            ]
        )
    return Table(["NAMESPACE", "STATUS", "AGE", "PODS RUNNING", "PROBLEMS"], rows)


@tool()
async def nodes_overview(args: NoArgs, kube: ScopedKube) -> Output:
    """Nodes with readiness, schedulability, version, capacity and taints."""
    nodes_type = await kube.resolve("nodes")
    body = await kube.call(nodes_type, "list", "GET", None, query=[("limit", str(MAX_PAGE))])
    rows = []
    for node in body.get("items", []):
        status, spec = node.get("status", {}), node.get("spec", {})
        ready = next(
            (c.get("status") for c in status.get("conditions", []) if c.get("type") == "Ready"),
            "Unknown",
        )
        state = "Ready" if ready == "True" else "NotReady"
        if spec.get("unschedulable"):
            state += ",SchedulingDisabled"
        capacity = status.get("allocatable") or status.get("capacity") or {}
        rows.append(
            [
                node["metadata"]["name"],
                state,
                status.get("nodeInfo", {}).get("kubeletVersion", ""),
                f"{capacity.get('cpu', '?')} cpu, {capacity.get('memory', '?')} mem, "
                f"{capacity.get('pods', '?')} pods",
                ",".join(f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or [])
                or "-",
                age(node["metadata"].get("creationTimestamp")),
            ]
        )
    return Table(["NODE", "STATUS", "VERSION", "ALLOCATABLE", "TAINTS", "AGE"], rows)


@tool()
async def rollout_status(args: RolloutArgs, kube: ScopedKube) -> Output:
    """Whether a Deployment, StatefulSet or DaemonSet rollout is complete, progressing or
    stuck, with its revision history for Deployments."""
    resource = await kube.resolve(args.kind)
    obj = await kube.call(resource, "get", "GET", args.namespace, args.name)
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj.get("metadata", {})
    desired = spec.get("replicas", status.get("desiredNumberScheduled", 0))
    updated = status.get("updatedReplicas", status.get("updatedNumberScheduled", 0))
    ready = status.get("readyReplicas", status.get("numberReady", 0))
    available = status.get("availableReplicas", status.get("numberAvailable", 0))
    observed = status.get("observedGeneration", 0) >= meta.get("generation", 0)
    conditions = {c.get("type"): c for c in status.get("conditions", [])}
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        verdict = f"failed: {progressing.get('message')}"
    elif observed and updated == desired and ready == desired and available == desired:
        verdict = "complete"
    else:
        verdict = "progressing" if observed else "waiting for the controller to observe the change"
    lines = [
        f"{args.kind} {args.namespace}/{args.name}: {verdict}",
        f"replicas desired {desired}, updated {updated}, ready {ready}, available {available}",
    ]
    lines += [f"condition {t}={c.get('status')} ({c.get('reason')})" for t, c in conditions.items()]
    if args.kind == "Deployment":
        lines += [
            f"revision {rev}: {image}"
            for rev, image, _ in await _revisions(kube, obj, args.namespace)
        ]
    return Text("\n".join(lines))


async def _revisions(
    kube: ScopedKube, deployment: dict[str, Any], namespace: str
) -> list[tuple[int, str, dict[str, Any]]]:
    rs_type = await kube.resolve("replicasets.apps")
    selector = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    query = [("labelSelector", ",".join(f"{k}={v}" for k, v in selector.items())), ("limit", "100")]
    body = await kube.call(rs_type, "list", "GET", namespace, query=query)
    uid = deployment["metadata"].get("uid")
    found = []
    for rs in body.get("items", []):
        owners = rs["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == uid for o in owners):
            continue
        revision = int(
            rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0)
        )
        images = ",".join(
            c.get("image", "") for c in rs["spec"]["template"]["spec"].get("containers", [])
        )
        found.append((revision, images, rs))
    return sorted(found, key=lambda item: item[0])


@tool()
async def pod_logs(args: LogsArgs, kube: ScopedKube) -> Output:
    """A pod's container logs (tail, since, previous crashed container, grep): what the
    application itself said."""
    pods_type = await kube.resolve("pods")
    query = [("tailLines", str(args.tail_lines))]
    if args.container:
        query.append(("container", args.container))
    if args.previous:
        query.append(("previous", "true"))
    if args.since:
        query.append(("sinceSeconds", str(int(parse_duration(args.since)))))
    text = await kube.call(
        pods_type, "get", "GET", args.namespace, args.name, "log", query=query, accept="*/*"
    )
    lines = (text if isinstance(text, str) else json.dumps(text)).splitlines()
    if args.grep:
        try:
            pattern = re.compile(args.grep)
        except re.error as exc:
            raise InvalidArgument("grep", f"not a valid regex: {exc}") from exc
        lines = [line for line in lines if pattern.search(line)]
    return Text("\n".join(lines) or "(no log lines)", narrow="Use tail_lines, since or grep.")


@tool(read_only=False, destructive=True)
async def scale(args: ScaleArgs, kube: ScopedKube) -> Output:
    """Set the replica count of a Deployment, StatefulSet or ReplicaSet (dry_run first)."""
    resource = await kube.resolve(args.kind)
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
    return Text(
        f"{_mode(args.dry_run)}{args.kind} {args.namespace}/{args.name} scaled to "
        f"{args.replicas} replicas (currently {before} running)"
    )


@tool(read_only=False)
async def rollout_restart(args: RestartArgs, kube: ScopedKube) -> Output:
    """Restart a workload's pods by a rolling update, like `kubectl rollout restart`."""
    resource = await kube.resolve(args.kind)
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
    return Text(
        f"{_mode(args.dry_run)}{args.kind} {args.namespace}/{args.name} restarted "
        f"(restartedAt {stamp}); follow with rollout_status"
    )


@tool(read_only=False, destructive=True)
async def rollback(args: RollbackArgs, kube: ScopedKube) -> Output:
    """Roll a Deployment back to a previous revision (default: the one before the current)."""
    resource = await kube.resolve("deployments.apps")
    deployment = await kube.call(resource, "get", "GET", args.namespace, args.name)
    revisions = await _revisions(kube, deployment, args.namespace)
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
    resource = await kube.resolve(args.kind)
    namespace = _namespace_for(resource, args.namespace)
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
    return Text(
        f"{_mode(args.dry_run)}{resource.kind} {namespace + '/' if namespace else ''}"
        f"{args.name} deleted"
    )


@tool(read_only=False, destructive=True)
async def apply_manifest(args: ApplyArgs, kube: ScopedKube) -> Output:
    """Server-side apply of a YAML manifest (several documents allowed); every object is
    checked against your scope before anything is sent. Use dry_run first."""
    try:
        documents = [d for d in yaml.safe_load_all(args.manifest) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidArgument("manifest", f"not valid YAML: {exc}") from exc
    planned = []
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise InvalidArgument("manifest", f"document {index + 1} needs apiVersion and kind")
        name = (doc.get("metadata") or {}).get("name")
        if not name:
            raise InvalidArgument("manifest", f"document {index + 1} needs metadata.name")
        resource = await kube.backend.resolve_api_version(doc["apiVersion"], doc["kind"])
        namespace = (
            ((doc.get("metadata") or {}).get("namespace") or args.namespace)
            if resource.namespaced
            else None
        )
        if resource.namespaced and not namespace:
            raise InvalidArgument("namespace", f"{doc['kind']} {name} needs a namespace")
        for verb in ("create", "patch"):
            kube.check(resource, verb, namespace)
        planned.append((resource, namespace, str(name), doc))
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


def _namespace_for(resource: ResourceType, namespace: str | None) -> str | None:
    if not resource.namespaced:
        return None
    if not namespace:
        raise InvalidArgument("namespace", f"{resource.kind} is namespaced; give a namespace")
    return namespace


def _dry(dry_run: bool) -> list[tuple[str, str]]:
    return [("dryRun", "All")] if dry_run else []


def _mode(dry_run: bool) -> str:
    return "[dry run, nothing changed] " if dry_run else ""


def _dump(value: Any, output: str) -> str:
    return json.dumps(value, indent=1) if output == "json" else to_yaml(value)


READ_TOOLS = [
    api_resources,
    list_resources,
    get_resource,
    describe,
    events,
    namespaces_overview,
    nodes_overview,
    rollout_status,
    pod_logs,
]
WRITE_TOOLS = [scale, rollout_restart, rollback, cordon, delete_resource, apply_manifest]
TOOLS = READ_TOOLS + WRITE_TOOLS
