"""MCP tool schemas as Ollama tools.

The `ollama` client validates tools into a narrow model: each property keeps only `type`,
`items`, `description` and `enum`; everything else (`anyOf`, `default`, limits) is dropped
silently. So optional types are flattened and the rest is written into the description,
where the model still reads it.
"""

from __future__ import annotations

import json
from typing import Any

from .pool import PoolTool

_HINTS = ("pattern", "minimum", "maximum", "maxItems")


def to_ollama_tool(tool: PoolTool) -> dict[str, Any]:
    schema = tool.input_schema
    defs = schema.get("$defs", {})
    properties = {
        name: _property(sub, defs) for name, sub in (schema.get("properties") or {}).items()
    }
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(schema.get("required", [])),
            },
        },
    }


def _property(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema, defs)
    branches = [_resolve(b, defs) for b in schema.get("anyOf", schema.get("oneOf", []))]
    concrete = [b for b in branches if b.get("type") != "null"]
    if len(concrete) == 1:
        schema = {**concrete[0], **{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}}
    types = schema.get("type") or sorted({str(b.get("type")) for b in concrete if b.get("type")})
    out: dict[str, Any] = {"type": types or "string"}
    notes = [str(schema["description"])] if schema.get("description") else []
    notes += [f"{key} {schema[key]}" for key in _HINTS if key in schema]
    if schema.get("default") is not None:
        notes.append(f"default {json.dumps(schema['default'])}")
    if notes:
        out["description"] = "; ".join(notes)
    if "enum" in schema:
        out["enum"] = list(schema["enum"])
    if isinstance(schema.get("items"), dict):
        out["items"] = _property(schema["items"], defs)
    return out


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {})
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema
