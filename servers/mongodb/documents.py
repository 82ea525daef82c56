"""Documents as a model reads them: one compact JSON line each, in MongoDB's relaxed Extended
JSON (``{"$date": "2026-01-31T12:00:00Z"}``, ``{"$oid": ...}``, ``{"$numberDecimal": "1.10"}``),
which the tools also accept, so a value can be pasted back into a filter.

Before rendering, a document is made safe and small: a field whose name looks secret loses
its whole value (objects and arrays too), strings are redacted and shortened, long arrays,
deep nesting and binary payloads are summarized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import json_util
from bson.binary import Binary
from bson.json_util import JSONMode, JSONOptions

from autodevops.common.redact import REDACTED, redact_text

MAX_STRING = 200
MAX_ARRAY = 50
MAX_DEPTH = 8
_WRITE = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True)
_SECRET_FIELD = re.compile(
    r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential|auth(?!or)|session|cookie|salt|hash)"
)


def safe(value: Any, key: str = "", depth: int = 0) -> Any:
    """A copy fit to show: secret-named fields redacted, sizes bounded."""
    if key and _SECRET_FIELD.search(key) and not _plain(value):
        return REDACTED
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return f"{{… {len(value)} fields}}"
        return {str(k): safe(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return f"[… {len(value)} items]"
        items = [safe(v, key, depth + 1) for v in value[:MAX_ARRAY]]
        if len(value) > MAX_ARRAY:
            items.append(f"… {len(value) - MAX_ARRAY} more items")
        return items
    if isinstance(value, str):
        return shorten(redact_text(value))
    if isinstance(value, bytes | Binary):
        subtype = value.subtype if isinstance(value, Binary) else 0
        if subtype in (3, 4) and len(value) == 16:
            return value
        return {"$binary": f"{len(value)} bytes, subtype {subtype}, not shown"}
    return value


def _plain(value: Any) -> bool:
    """Values that hold no secret: nothing, flags, counts, times."""
    return (
        value is None or value in ("", [], {}) or isinstance(value, bool | int | float | datetime)
    )


def shorten(text: str, limit: int = MAX_STRING) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def line(document: Any) -> str:
    """One document as one line of relaxed Extended JSON, after `safe`."""
    text: str = json_util.dumps(
        safe(document), json_options=_WRITE, separators=(",", ":"), ensure_ascii=False
    )
    return text


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_FIELD.search(name))
