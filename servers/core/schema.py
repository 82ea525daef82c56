"""Tool argument schemas as the catalogue sends them: what every client pays for in tokens,
and what some clients cannot read (`$ref`)."""

from __future__ import annotations

from typing import Any

_DEFS = "#/$defs/"
_NULL = {"type": "null"}


def compact_schema(schema: Any) -> Any:
    """Inline `$defs` (argument models are small and never recursive), drop generated titles
    (they repeat the field names), and write an optional field as its type alone: pydantic
    spells `str | None = None` as `anyOf` with `null` and `default: null`, while leaving the
    field out says the same. Every client pays for the catalogue in tokens."""
    defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
    return _compact(schema, defs)


def _compact(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            return _compact({**defs[ref.removeprefix(_DEFS)], **siblings}, defs)
        choices = schema.get("anyOf")
        if isinstance(choices, list) and _NULL in choices and schema.get("default", 0) is None:
            rest = [c for c in choices if c != _NULL]
            others = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return _compact(
                {**rest[0], **others} if len(rest) == 1 else {"anyOf": rest, **others}, defs
            )
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
