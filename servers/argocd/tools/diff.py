"""Live against desired for the out-of-sync resources of an application, as compact unified
diffs bounded per resource and in total; Secret values never appear, only which keys differ."""

from __future__ import annotations

import difflib
import json
from typing import Any

import yaml
from pydantic import Field

from autodevops.servers.core.output import Output, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedArgo
from .args import AppArgs

_NOISY_METADATA = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp")
_NOISY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class DiffArgs(AppArgs):
    kind: str | None = Field(None, max_length=120, description="only resources of this kind")
    resource_name: str | None = Field(None, max_length=253, description="only this resource")
    max_lines: int = Field(40, ge=5, le=400, description="diff lines per resource")
    max_resources: int = Field(20, ge=1, le=200, description="resources shown")


@tool()
async def application_diff(args: DiffArgs, argo: ScopedArgo) -> Output:
    """For an application's out-of-sync resources, a compact unified diff of live (-)
    against desired (+) state, bounded per resource and in total; Secret values are never
    shown. Answers "what would a sync change?". Narrow with kind or resource_name."""
    app = await argo.get_app(args.name, args.app_namespace)
    items = await argo.managed_resources(app)
    if items is None:
        out = [
            r
            for r in app.resources()
            if r.get("status") == "OutOfSync" and _wanted(args, r.get("kind"), r.get("name"))
        ]
        lines = [
            f"{len(out)} resources out of sync in {app.name} (core mode: the Application's "
            "status names them but holds no manifests, so no line diff; API mode gives one):"
        ]
        lines += [
            f"  {r.get('kind')} {r.get('namespace') or '-'}/{r.get('name')}"
            + (" (requires pruning)" if r.get("requiresPruning") else "")
            for r in out
        ]
        return Text("\n".join(lines), narrow="Name one kind or resource_name.")
    changed = [
        item
        for item in items
        if (item.get("modified") or not _present(item, "live") or not _present(item, "desired"))
        and not item.get("hook")
        and _wanted(args, item.get("kind"), item.get("name"))
    ]
    parts = [f"{len(changed)} resources differ in {app.name} (live -, desired +)"]
    for item in changed[: args.max_resources]:
        parts.append(_resource_diff(item, args.max_lines))
    if len(changed) > args.max_resources:
        parts.append(
            f"[{len(changed) - args.max_resources} more resources not shown; "
            "name kind or resource_name]"
        )
    return Text("\n".join(parts), narrow="Name one kind or resource_name, or lower max_lines.")


def _wanted(args: DiffArgs, kind: Any, name: Any) -> bool:
    return (args.kind is None or str(kind).lower() == args.kind.lower()) and (
        args.resource_name is None or name == args.resource_name
    )


def _state(item: dict[str, Any], which: str) -> Any:
    keys = (
        ("normalizedLiveState", "liveState")
        if which == "live"
        else ("predictedLiveState", "targetState")
    )
    for key in keys:
        text = item.get(key)
        if text and text != "null":
            try:
                return json.loads(text)
            except ValueError:
                return None
    return None


def _present(item: dict[str, Any], which: str) -> bool:
    return _state(item, which) is not None


def _resource_diff(item: dict[str, Any], max_lines: int) -> str:
    where = f"{item.get('namespace')}/" if item.get("namespace") else ""
    title = f"--- {item.get('kind', '?')} {where}{item.get('name', '?')}"
    live, desired = _state(item, "live"), _state(item, "desired")
    if live is None:
        return f"{title}: missing live, would be created"
    if desired is None:
        return f"{title}: not in git any more, would be pruned (sync with prune=true)"
    secret = ""
    if item.get("kind") == "Secret":
        live, desired, secret = _secret_keys(live, desired)
        title += f" ({secret})"
    before = _yaml(_clean(live)).splitlines()
    after = _yaml(_clean(desired)).splitlines()
    lines = list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
    if not lines and secret:
        return title
    if not lines:
        return f"{title}: differs only in fields Argo CD ignores or normalises"
    if len(lines) > max_lines:
        cut = len(lines) - max_lines
        lines = [*lines[:max_lines], f"[{cut} more diff lines; raise max_lines]"]
    return "\n".join([title, *lines])


def _clean(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    obj = {k: v for k, v in obj.items() if k != "status"}
    metadata = dict(obj.get("metadata") or {})
    for key in _NOISY_METADATA:
        metadata.pop(key, None)
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _NOISY_ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    obj["metadata"] = metadata
    return obj


def _secret_keys(live: Any, desired: Any) -> tuple[Any, Any, str]:
    """Secrets lose their values; which keys were added, changed or removed is said once."""
    live, desired = dict(live), dict(desired)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for field in ("data", "stringData"):
        old.update(live.pop(field, None) or {})
        new.update(desired.pop(field, None) or {})
    parts = [
        (label, sorted(keys))
        for label, keys in (
            ("added", new.keys() - old.keys()),
            ("changed", {k for k in new.keys() & old.keys() if new[k] != old[k]}),
            ("removed", old.keys() - new.keys()),
        )
        if keys
    ]
    text = "; ".join(f"{label} {', '.join(keys)}" for label, keys in parts)
    return live, desired, f"values hidden; keys {text}" if text else "values hidden; no key differs"


def _yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=200)
