"""The state of the whole: namespaces, nodes, and where a rollout stands."""

from __future__ import annotations

from typing import Any, Literal

from autodevops.servers.core.args import Args, NoArgs
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedKube
from .args import MAX_PAGE, Name, Namespace
from .render import age, dump, pod_reason


class RolloutArgs(Args):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    name: Name
    namespace: Namespace
    output: Literal["text", "json"] = "text"


@tool()
async def namespaces_overview(args: NoArgs, kube: ScopedKube) -> Output:
    """Namespaces in scope: status, and how many pods run or fail in each."""
    ns_type, pods_type = await kube.resolve("namespaces"), await kube.resolve("pods")
    kube.check(ns_type, "list", None)
    body = await kube.call(ns_type, "list", "GET", None, query=[("limit", str(MAX_PAGE))])
    rows = []
    for ns in body.get("items", []):
        name = ns["metadata"]["name"]
        if not kube.scope.namespace_visible(name):
            continue
        pods = await kube.call(pods_type, "list", "GET", name, query=[("limit", str(MAX_PAGE))])
        phases = [pod_reason(p) for p in pods.get("items", [])]
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
    """Whether a rollout is complete, progressing or stuck; a Deployment's revisions too."""
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
        state, verdict = "failed", f"failed: {progressing.get('message')}"
    elif observed and updated == desired and ready == desired and available == desired:
        state = verdict = "complete"
    else:
        state = "progressing" if observed else "waiting"
        verdict = "progressing" if observed else "waiting for the controller to observe the change"
    history = (
        [(rev, images) for rev, images, _ in await deployment_revisions(kube, obj, args.namespace)]
        if args.kind == "Deployment"
        else []
    )
    if args.output == "json":
        document = {
            "kind": args.kind,
            "namespace": args.namespace,
            "name": args.name,
            "state": state,
            "message": progressing.get("message") if state == "failed" else None,
            "replicas": {
                "desired": desired,
                "updated": updated,
                "ready": ready,
                "available": available,
            },
            "conditions": [
                {key: c.get(key) for key in ("type", "status", "reason", "message")}
                for c in conditions.values()
            ],
            "revisions": [{"revision": rev, "images": images} for rev, images in history],
        }
        return Text(dump(document, "json"))
    lines = [
        f"{args.kind} {args.namespace}/{args.name}: {verdict}",
        f"replicas desired {desired}, updated {updated}, ready {ready}, available {available}",
    ]
    lines += [f"condition {t}={c.get('status')} ({c.get('reason')})" for t, c in conditions.items()]
    lines += [f"revision {rev}: {','.join(images)}" for rev, images in history]
    return Text("\n".join(lines))


async def deployment_revisions(
    kube: ScopedKube, deployment: dict[str, Any], namespace: str
) -> list[tuple[int, list[str], dict[str, Any]]]:
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
        images = [c.get("image", "") for c in rs["spec"]["template"]["spec"].get("containers", [])]
        found.append((revision, images, rs))
    return sorted(found, key=lambda item: item[0])
