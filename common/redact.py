"""Redaction of secret-looking values in results and audit records.

Patterns, not a parser: they catch `key=value` pairs whose key names a secret, bearer
tokens, JWTs, cloud keys, private keys and passwords inside URLs.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credentials?|auth)"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})"), REDACTED),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.I), rf"\1{REDACTED}@"),
    (
        # The value stays on the key's line and never starts a structure or a JSON literal,
        # so redacted JSON and YAML still parse.
        re.compile(
            rf"(?i)(\b[\w.-]*{_SECRET_KEY}[\w.-]*\"?[ \t]*[=:][ \t]*\"?)"
            r"(?!(?:true|false|null)\b|[0-9]+\b)([^\s\",;{}\[\]]+)"
        ),
        rf"\1{REDACTED}",
    ),
]
_SECRET_FIELD = re.compile(rf"(?i){_SECRET_KEY}")


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """Redact a JSON-like value; a field whose name says secret loses its whole value."""
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_FIELD.search(key) and value:
            return REDACTED
        return redact_text(value)
    return value
