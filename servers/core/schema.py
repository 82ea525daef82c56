"""Tool argument schemas as the catalogue sends them: what every client pays for in tokens,
and what some clients cannot read (`$ref`)."""

from __future__ import annotations

from typing import Any

_DEFS = "#/$defs/"


def compact_schema(schema: Any) -> Any:
    """Inline `$defs` (argument models are small and never recursive) and drop generated
    titles: they repeat the field names and cost every client tokens."""
    defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
    return _compact(schema, defs)


def _compact(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            return _compact({**defs[ref.removeprefix(_DEFS)], **siblings}, defs)
        return {
            key: (
                {name: _compact(sub, defs) for name, sub in value.items()}
                if key == "properties"
                else _compact(value, defs)
            )
            for key, value in schema.items()
            if key != "$defs" and not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_compact(item, defs) for item in schema]
    return schema
