"""Objects made readable and safe: kubectl-like tables, YAML without noise, Secret values hidden."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import yaml

from autodevops.servers.core.args import parse_timestamp
from autodevops.servers.core.output import Table

NOISY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def server_table(body: dict[str, Any], with_namespace: bool, narrow: str) -> Table:
    """The API server's own table (the columns `kubectl get` prints, CRDs included)."""
    columns = [
        c["name"].upper() for c in body.get("columnDefinitions", []) if c.get("priority", 0) == 0
    ]
    keep = [i for i, c in enumerate(body.get("columnDefinitions", [])) if c.get("priority", 0) == 0]
    rows = []
    for row in body.get("rows", []):
        cells = [_cell(row["cells"][i]) for i in keep if i < len(row["cells"])]
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
    """Drop managedFields and last-applied noise; hide Secret values unless allowed.

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
    if kind == "Secret" or cleaned.get("kind") == "Secret":
        cleaned = hide_secret(cleaned, secret_values)
    return cleaned


def hide_secret(secret: dict[str, Any], secret_values: bool) -> dict[str, Any]:
    if secret_values:
        return secret
    hidden = dict(secret)
    for field in ("data", "stringData"):
        if field in hidden and isinstance(hidden[field], dict):
            hidden[field] = {
                key: f"<hidden: {_size(value, field)} bytes>"
                for key, value in hidden[field].items()
            }
    return hidden


def _size(value: Any, field: str) -> int:
    if field == "data" and isinstance(value, str):
        try:
            return len(base64.b64decode(value))
        except ValueError:
            return len(value)
    return len(str(value))


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=120)


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
    return json.dumps(value, indent=1) if output == "json" else to_yaml(value)
