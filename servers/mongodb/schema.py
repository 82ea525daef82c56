"""The shape of a collection from a sample: every field path, the types seen, how often it is
present, and a short example (redacted when the field's name looks secret)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import json_util
from bson.json_util import JSONMode, JSONOptions

from .documents import is_secret_field, safe, shorten

MAX_DEPTH = 4
MAX_FIELDS = 500
EXAMPLE_CHARS = 40
_WRITE = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True)


@dataclass
class FieldStats:
    present: int = 0
    types: Counter[str] = field(default_factory=Counter)
    example: str = ""


def infer(documents: Iterable[Mapping[str, Any]]) -> tuple[int, dict[str, FieldStats]]:
    """(documents seen, field path → stats), paths in first-seen order."""
    fields: dict[str, FieldStats] = {}
    seen = 0
    for document in documents:
        seen += 1
        paths: dict[str, Any] = {}
        _paths(document, "", 0, paths)
        for path, value in paths.items():
            stats = fields.get(path)
            if stats is None:
                if len(fields) >= MAX_FIELDS:
                    continue
                stats = fields[path] = FieldStats()
            stats.present += 1
            stats.types[type_name(value)] += 1
            if not stats.example and value not in (None, "", [], {}):
                stats.example = _example(path, value)
    return seen, fields


def _paths(value: Mapping[str, Any], prefix: str, depth: int, out: dict[str, Any]) -> None:
    for key, item in value.items():
        path = f"{prefix}{key}"
        out.setdefault(path, item)
        if isinstance(item, Mapping) and depth < MAX_DEPTH and not is_secret_field(str(key)):
            _paths(item, f"{path}.", depth + 1, out)
        elif isinstance(item, list) and item and isinstance(item[0], Mapping) and depth < MAX_DEPTH:
            _paths(item[0], f"{path}[].", depth + 1, out)


def type_name(value: Any) -> str:
    if isinstance(value, list):
        inner = sorted({type_name(v) for v in value[:20]})
        return f"array<{'|'.join(inner)}>" if inner else "array"
    if isinstance(value, Mapping):
        return "object"
    names = {"NoneType": "null", "str": "string", "int": "int", "float": "double", "bool": "bool",
             "datetime": "date", "ObjectId": "objectId", "Decimal128": "decimal",
             "Int64": "long", "bytes": "binData", "Binary": "binData", "Regex": "regex",
             "Timestamp": "timestamp", "Code": "javascript"}  # fmt: skip
    name = type(value).__name__
    return names.get(name, name)


def _example(path: str, value: Any) -> str:
    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
    shown = safe({leaf: value})[leaf]
    text = shown if isinstance(shown, str) else json_util.dumps(shown, json_options=_WRITE)
    return shorten(text, EXAMPLE_CHARS)


def rows(seen: int, fields: Mapping[str, FieldStats]) -> list[list[str]]:
    return [
        [
            path,
            ", ".join(f"{name} {count}" if len(stats.types) > 1 else name
                      for name, count in stats.types.most_common()),
            f"{100 * stats.present / seen:.0f}%" if seen else "",
            stats.example,
        ]
        for path, stats in fields.items()
    ]  # fmt: skip
