"""Services whose traffic goes nowhere: no ready endpoint behind their selector."""

from __future__ import annotations

from typing import Any

from .findings import Finding, subject_of
from .pods import owner
from .reader import Item, Reader


async def services(reader: Reader) -> list[Finding]:
    """Services with a selector whose endpoints hold no ready address: traffic goes nowhere."""
    candidates = [
        s
        for s in await reader.objects("services", "services") or []
        if (s.obj.get("spec") or {}).get("selector")
        and (s.obj.get("spec") or {}).get("type") != "ExternalName"
    ]
    if not candidates:
        return []
    endpoints = await _endpoints(reader)
    if endpoints is None:
        return []
    findings = []
    for service in candidates:
        listed = endpoints.get((service.namespace, service.name), [])
        if any(ready for _, _, ready in listed):
            continue
        selector: dict[str, str] = service.obj["spec"]["selector"]
        matching = [
            p
            for p in await reader.pods()
            if p.namespace == service.namespace
            and selector.items() <= ((p.obj.get("metadata") or {}).get("labels") or {}).items()
        ]
        labels = ",".join(f"{k}={v}" for k, v in selector.items())
        owners = {owner(p)[1] for p in matching}
        behind = next(
            (f for f in reader.findings if f.namespace == service.namespace and f.name in owners),
            None,
        )
        cause = (
            f"no pod matches its selector {labels}"
            if not matching
            else f"{len(matching)} pods match {labels} but none is ready"
            + (f": {behind.subject}: {behind.likely_cause}" if behind else "")
        )
        findings.append(
            Finding(
                analyzer="service_endpoints",
                severity="warning",
                subject=subject_of("Service", service.namespace, service.name),
                summary=f"Service {service.namespace}/{service.name} has no ready endpoints",
                likely_cause=cause,
                evidence=[
                    service.evidence({"selector": selector}),
                    *(item.evidence(detail) for item, detail, _ in listed),
                ],
                remedy=(
                    f"fix the selector {labels} or the pod labels"
                    if not matching
                    else behind.remedy
                    if behind
                    else "make its pods ready"
                ),
                namespace=service.namespace,
                name=service.name,
            )
        )
    return findings


Addresses = dict[tuple[str, str], list[tuple[Item, dict[str, Any], bool]]]


async def _endpoints(reader: Reader) -> Addresses | None:
    """Each Service's endpoint objects, their addresses and whether one is ready: from
    EndpointSlices, else from (deprecated) Endpoints; None when neither can be read."""
    found: Addresses = {}
    kind = "endpointslices.discovery.k8s.io"
    known = len(reader.missing)
    slices = await reader.objects(kind, "endpoint slices")
    if slices is not None:
        for item in slices:
            service = (item.obj.get("metadata", {}).get("labels") or {}).get(
                "kubernetes.io/service-name", ""
            )
            addresses = item.obj.get("endpoints") or []
            ready = any((e.get("conditions") or {}).get("ready") is not False for e in addresses)
            found.setdefault((item.namespace, service), []).append(
                (item, {"endpoints": addresses}, ready)
            )
        return found
    legacy = await reader.objects("endpoints", "endpoints")
    if legacy is None:
        return None
    del reader.missing[known:]  # the legacy objects stand in for the slices
    for item in legacy:
        subsets = item.obj.get("subsets") or []
        ready = any(subset.get("addresses") for subset in subsets)
        found.setdefault((item.namespace, item.name), []).append(
            (item, {"subsets": subsets}, ready)
        )
    return found
