"""Redaction of secret values in results and audit records: by structure, then by pattern.

By structure: a field whose name says secret loses its value; so does an environment-style
`{name, value}` pair whose name does (`DB_PASSWORD`, `STRIPE_KEY`); a Kubernetes Secret
document keeps its keys and the size of each value only; a string that holds a JSON object
or a YAML manifest (an annotation such as `last-applied-configuration`, a manifest argument)
is parsed and redacted the same way. By pattern, over any text: `key=value` pairs whose key
names a secret, bearer tokens, JWTs, cloud keys, private keys and passwords inside URLs.

Patterns run on RE2, in time linear in the text: results and audit lines hold text that
callers and the workloads they watch wrote, and a backtracking engine could stall on it.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from typing import Any

import re2
import yaml

from .safe_yaml import YamlRefused, load_documents

REDACTED = "[REDACTED]"

_SECRET_KEY = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credentials?|auth)"
)
# Words that make an environment variable's name secret although the patterns above miss
# them: `STRIPE_KEY`, `DB_PASS`, `SENTRY_DSN`.
_SECRET_NAME_WORDS = frozenset({"key", "pass", "passphrase", "dsn", "cookie", "signature"})
_MAX_DEPTH = 64
_MAX_EMBEDDED_CHARS = 200_000


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def _keep_literals(match: Any) -> str:
    """JSON and YAML literals (`true`, `3600`) stay, so redacted documents still parse."""
    value = match.group(2)
    if _LITERAL.match(value):
        return str(match.group(0))
    return f"{match.group(1)}{REDACTED}"


_LITERAL = _re2(r"^(?:(?:true|false|null)\b|[0-9]+\b)")
_PATTERNS: list[tuple[Any, str | Callable[[Any], str]]] = [
    (_re2(r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"), REDACTED),
    (_re2(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (_re2(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    (_re2(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (_re2(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})"), REDACTED),
    (_re2(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    (
        # The value stays on the key's line and never starts a structure.
        _re2(
            rf"(?i)(\b[\w.-]*{_SECRET_KEY}[\w.-]*\"?[ \t]*[=:][ \t]*\"?)"
            r"([^\s\",;{}\[\]]+)"
        ),
        _keep_literals,
    ),
]
# Names are matched by the faster `re`: these two patterns cannot backtrack (a choice of
# literals; runs of one character class), so they stay linear there too.
_SECRET_FIELD = re.compile(rf"(?i){_SECRET_KEY}")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


# Most strings hold nothing to redact, and a first look spares them the patterns: short
# ones by `re` over the lower-cased text (literals only, so linear; three times faster than
# the same search with `(?i)`), then, as most of those hits are words like `secrets` in a
# path, one RE2 search of every pattern at once; long ones by that RE2 search alone.
_MAYBE = re.compile(rf"{_SECRET_KEY}|private key|bearer|basic|eyj|akia|asia|gh[pousr]_|xox|://")
_ANY = _re2("|".join(f"(?:{pattern.pattern})" for pattern, _ in _PATTERNS))
_SHORT = 512
_KEPT_NAME_CHARS = 64


def redact_text(text: str) -> str:
    if len(text) < _SHORT and not _MAYBE.search(text.lower()):
        return text
    if not _ANY.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_redacted(text: str) -> bool:
    """Whether redaction would hide part of this text (a label value, a log line)."""
    return redact_text(text) != text


def _is_secret_field(key: str) -> bool:
    if len(key) > _KEPT_NAME_CHARS:
        return _SECRET_FIELD.search(key) is not None
    return _is_secret_short_field(key)


@functools.lru_cache(maxsize=4096)
def _is_secret_short_field(key: str) -> bool:
    """Field names repeat in every object of a kind, so their answers are kept."""
    return _SECRET_FIELD.search(key) is not None


def is_secret_name(name: str) -> bool:
    """A field or variable name that says its value is secret: `DB_PASSWORD`, `API_KEY`."""
    if _is_secret_field(name):
        return True
    words = _WORDS.findall(name)
    return any(word.lower() in _SECRET_NAME_WORDS for word in words)


def redact_value(value: Any, key: str = "") -> Any:
    """Redact a JSON-like value by its structure, then its text (see the module's doc)."""
    return _redact(value, key, 0)


def _redact(value: Any, key: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return f"{REDACTED} (nested more than {_MAX_DEPTH} levels)"
    if isinstance(value, dict):
        shaped = hide_secret_document(_hide_named_value(value))
        return {k: _redact(v, str(k), depth + 1) for k, v in shaped.items()}
    if isinstance(value, list):
        return [_redact(v, key, depth + 1) for v in value]
    if isinstance(value, str):
        if key and value and _is_secret_field(key):
            return REDACTED
        return _redact_embedded(value, depth)
    return value


def _hide_named_value(item: dict[Any, Any]) -> dict[Any, Any]:
    """`{name: DB_PASSWORD, value: x}` (a container's env, a Helm parameter) hides `x`."""
    name, value = item.get("name"), item.get("value")
    if isinstance(name, str) and value not in (None, "") and is_secret_name(name):
        return {**item, "value": REDACTED}
    return item


def hide_secret_document(item: dict[Any, Any]) -> dict[Any, Any]:
    """A Kubernetes Secret keeps its keys and the size of each value, never the value."""
    if item.get("kind") != "Secret":
        return item
    hidden = dict(item)
    for field in ("data", "stringData"):
        values = hidden.get(field)
        if isinstance(values, dict):
            hidden[field] = {k: f"<hidden: {_size(v, field)} bytes>" for k, v in values.items()}
        elif values is not None:
            hidden[field] = REDACTED
    return hidden


def _size(value: Any, field: str) -> int:
    if field == "data" and isinstance(value, str):
        try:
            return len(base64.b64decode(value, validate=True))
        except ValueError:
            return len(value)
    return len(str(value))


def _redact_embedded(text: str, depth: int) -> str:
    """A string holding a JSON object or a YAML manifest is redacted as the structure it is."""
    stripped = text.strip()
    if len(stripped) > _MAX_EMBEDDED_CHARS or not stripped:
        return redact_text(text)
    if stripped[0] in "{[":
        try:
            parsed = json.loads(stripped)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict | list):
            return json.dumps(_redact(parsed, "", depth + 1), separators=(",", ":"))
    if "\n" in stripped and "kind:" in stripped:
        try:
            documents = load_documents(stripped)
        except YamlRefused:
            if "Secret" in stripped:
                return f"{REDACTED} (a manifest that does not parse, {len(text)} characters)"
            return redact_text(text)
        if documents and all(isinstance(d, dict | list) for d in documents):
            return _dump_documents([_redact(d, "", depth + 1) for d in documents])
    return redact_text(text)


def _dump_documents(documents: list[Any]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, width=120)
