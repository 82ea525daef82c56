"""Objects made readable and safe: kubectl-like tables, YAML without noise, Secret values hidden."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from autodevops.common.redact import REDACTED, hide_secret_document, is_secret_name, redact_value
from autodevops.servers.core.args import parse_timestamp
from autodevops.servers.core.output import Table
from autodevops.servers.core.yaml_text import dump_yaml

NOISY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def server_table(body: dict[str, Any], with_namespace: bool, narrow: str) -> Table:
    """The API server's own table (the columns `kubectl get` prints, CRDs included)."""
    columns = [
        c["name"].upper() for c in body.get("columnDefinitions", []) if c.get("priority", 0) == 0
    ]
    keep = [i for i, c in enumerate(body.get("columnDefinitions", [])) if c.get("priority", 0) == 0]
    # A printer column named like a secret (a custom resource's `.spec.password`) is hidden.
    hidden = {n for n, c in enumerate(columns) if is_secret_name(c)}
    rows = []
    for row in body.get("rows", []):
        cells = [
            REDACTED if n in hidden else _cell(row["cells"][i])
            for n, i in enumerate(keep)
            if i < len(row["cells"])
        ]
        if with_namespace:
            namespace = (row.get("object") or {}).get("metadata", {}).get("namespace", "")
            cells.insert(0, namespace)
        rows.append(cells)
    if with_namespace:
        columns.insert(0, "NAMESPACE")
    return Table(columns, rows, narrow=narrow)


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def clean(obj: dict[str, Any], kind: str, secret_values: bool) -> dict[str, Any]:
    """Drop managedFields and last-applied noise; unless the role may see secret values,
    redact by structure (Secret data, env values named like secrets, embedded manifests).

    The kind comes from the request, not the object: list items carry no `kind`.
    """
    cleaned = dict(obj)
    metadata = dict(cleaned.get("metadata", {}))
    metadata.pop("managedFields", None)
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k not in NOISY_ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    cleaned["metadata"] = metadata
    if secret_values:
        return cleaned
    if kind == "Secret" and "kind" not in cleaned:
        cleaned = hide_secret_document({**cleaned, "kind": kind})
        cleaned.pop("kind")
    redacted: dict[str, Any] = redact_value(cleaned)
    return redacted


def age(timestamp: str | None) -> str:
    """`kubectl`'s short ages: 45s, 12m, 5h, 3d."""
    if not timestamp:
        return "<unknown>"
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return timestamp
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def pod_reason(pod: dict[str, Any]) -> str:
    """A pod's state in a word, like the STATUS column of `kubectl get pods`."""
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


def dump(value: Any, output: str) -> str:
    return json.dumps(value, indent=1) if output == "json" else dump_yaml(value)
