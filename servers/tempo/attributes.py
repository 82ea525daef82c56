"""What of a span's attributes may be shown: the core's redaction, and SQL without literals.

Span attributes carry what applications chose to record: request headers, URLs with tokens,
SQL with the values a user typed. Headers and secret-named keys go through the core's
`redact_value` (by key and by value); SQL statements are tokenized with `sqlparse` and every
string and number literal becomes `?`, the way OpenTelemetry asks instrumentations to
sanitize `db.statement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlparse
from sqlparse import tokens as sql_tokens

from autodevops.common.redact import redact_value

SQL_KEYS = frozenset({"db.statement", "db.query.text"})
# Attributes worth showing in a summary, by prefix: the ones that explain a slow or failed call.
SUMMARY_PREFIXES = (
    "http.", "url.", "db.", "rpc.", "messaging.", "error.", "peer.", "net.peer.",
    "server.", "exception.", "k8s.pod.name",
)  # fmt: skip


def mask_sql(statement: str) -> str:
    """The statement with every literal replaced by `?`; structure and names kept."""
    out = []
    for token in sqlparse.parse(statement)[0].flatten() if statement.strip() else []:  # type: ignore[no-untyped-call]
        if token.ttype in sql_tokens.Literal.String or token.ttype in sql_tokens.Literal.Number:
            out.append("?")
        else:
            out.append(token.value)
    return "".join(out)


def safe_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as they may be shown: SQL masked, then the core's redaction."""
    masked = {
        key: mask_sql(value) if key in SQL_KEYS and isinstance(value, str) else value
        for key, value in attrs.items()
    }
    cleaned: dict[str, Any] = redact_value(masked)
    return cleaned


def format_attributes(attrs: Mapping[str, Any], *, summary: bool = False) -> str:
    """`key=value` pairs in one cell, redacted; `summary` keeps the telling ones only."""
    shown = safe_attributes(attrs)
    items = sorted(shown.items())
    if summary:
        items = [(k, v) for k, v in items if k.startswith(SUMMARY_PREFIXES)]
    return " ".join(f"{key}={value}" for key, value in items)
