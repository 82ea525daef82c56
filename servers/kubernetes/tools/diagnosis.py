"""What is wrong with an object: its state and events, the cluster's events, a pod's logs."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from autodevops.common.redact import redact_text
from autodevops.servers.core.args import Args, parse_duration, parse_timestamp
from autodevops.servers.core.errors import OutOfScope
from autodevops.servers.core.output import Output, Table, Text, join_labels
from autodevops.servers.core.safe_regex import compile_pattern, matching_lines
from autodevops.servers.core.spec import tool

from ..client import ScopedKube
from .args import MAX_PAGE, Kind, Name, Namespace, namespace_for
from .objects import list_in_scope
from .render import age, pod_reason

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class DescribeArgs(Args):
    kind: Kind
    name: Name
    namespace: Namespace | None = None


class EventsArgs(Args):
    namespace: Namespace | None = Field(None, description="omit for all namespaces")
    kind: str | None = Field(None, description="the object's kind")
    name: str | None = Field(None, description="the object's name")
    type: Literal["Normal", "Warning"] | None = None
    reason: str | None = None
    since: str | None = Field(None, pattern=r"^\d+[smhd]$", description="e.g. 30m, 2h")


class LogsArgs(Args):
    name: Name
    namespace: Namespace
    container: str | None = None
    previous: bool = Field(False, description="the previous, crashed container")
    tail_lines: int = Field(200, ge=1, le=5000)
    since: str | None = Field(None, pattern=r"^\d+[smh]$", description="e.g. 10m")
    grep: str | None = Field(None, max_length=200, description="RE2 regex a line must match")


@tool()
async def describe(args: DescribeArgs, kube: ScopedKube) -> Output:
    """An object's status, conditions, events and pods: start here when something is broken."""
    resource = await kube.resolve_named(args.kind)
    namespace = namespace_for(resource, args.namespace)
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
    return kube.with_notes(Text("\n".join(lines), narrow="Use get_resource for the full object."))


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
        lines.append("labels: " + join_labels(meta["labels"]))
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
    reason = pod_reason(pod)
    return (
        f"{pod['metadata']['name']}  {reason}  "
        f"ready {ready}/{len(pod.get('spec', {}).get('containers', []))}"
        f"  restarts {restarts}  node {pod.get('spec', {}).get('nodeName') or '<none>'}"
    )


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
    """Events, newest last, by object, type, reason or age: why a pod is pending or
    crashing."""
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
    pages = await list_in_scope(kube, events_type, args.namespace, query, table=False)
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
async def pod_logs(args: LogsArgs, kube: ScopedKube) -> Output:
    """A pod's container logs: what the application itself said."""
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
        # Matched after redaction: a pattern finds only what the caller may see, so it
        # cannot be used to guess a redacted value one character at a time.
        pattern = compile_pattern("grep", args.grep)
        lines = await matching_lines(pattern, [redact_text(line) for line in lines])
    return Text("\n".join(lines) or "(no log lines)", narrow="Use tail_lines, since or grep.")
