"""A role's reach in Loki: a tenant, some values of some labels, and the guardrails of its queries.

Every stream selector of every query a scoped role sends (a log query's, each one inside a
metric query, the selectors of the label, series, stats, volume and pattern calls) gets a
matcher per scoped label added, found by the LogQL parser in `logql.py`, never by a regular
expression over the query. The rewritten query is parsed again and each of its selectors
proven to carry the scope before it is sent.

Behaviour decisions:

* Allowed values are exact strings or globs (`*` any run of characters, `?` one character).
  One exact value becomes ``label="value"``; anything else ``label=~"..."`` with the literal
  parts regex-escaped (Loki anchors regex matchers, so it matches exactly those values).
* Matchers the query already has on a scoped label stay (Loki ANDs them, so they can only
  narrow); one that names values literally (``=`` or a plain alternation ``=~"a|b"``) must
  name allowed values only, or the query is refused: an empty answer would read as "no logs".
* A query that writes a scoped label (``label_format namespace=...``, ``label_replace`` into
  it, a parser parameter named after it) is refused: its answers would show lines or series
  under a value they did not come from.
* Guardrails: the longest time range a call may read (the range plus the longest ``[range]``
  inside a metric query), the most lines per answer, the longest line shown, and, unless a
  role turns it off, a selective matcher in every selector (``label="non-empty"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .logql import LogQLSyntaxError, Matcher, Parsed, duration_seconds, parse, quote

__all__ = ["LokiScope", "ScopeError", "ScopedQuery", "enforce_scope", "selector_for"]

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_TENANT = re.compile(r"[A-Za-z0-9!._*'()-]{1,150}(?:\|[A-Za-z0-9!._*'()-]{1,150})*")


class ScopeError(ValueError):
    """The query is valid LogQL but cannot be made to stay inside the caller's scope."""


class GuardrailError(ValueError):
    """The query is in scope but breaks a guardrail of the role; the message says how to fix it."""


class LokiScope(BaseModel):
    """What one role may read in Loki, and how much at a time."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(
        default=None,
        description="X-Scope-OrgID sent for this role (tenant, or tenants joined by |)",
    )
    labels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="label name to allowed values or globs, e.g. namespace: [team-a, team-b-*]",
    )
    max_range: str = Field(default="24h", description="longest time range one call may read")
    max_lines: int = Field(default=1000, ge=1, le=5000, description="most log lines in one answer")
    max_line_chars: int = Field(default=2000, ge=80, le=100_000, description="longest line shown")
    require_selective_matcher: bool = Field(
        default=True, description='every selector needs a label="non-empty" matcher'
    )

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not _TENANT.fullmatch(value):
            raise ValueError(
                "a tenant ID is letters, digits and !._*'()- (tenants joined by |), "
                "at most 150 characters each"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, allowed in value.items():
            if not _LABEL_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid Loki label name")
            if not allowed:
                raise ValueError(
                    f"label {name!r} allows no values; a role that may read nothing should "
                    "not get the tools at all"
                )
            if any(not isinstance(v, str) or not v for v in allowed):
                raise ValueError(f"the values of label {name!r} must be non-empty strings")
        return value

    @field_validator("max_range")
    @classmethod
    def _max_range(cls, value: str) -> str:
        try:
            duration_seconds(value)
        except LogQLSyntaxError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def max_range_seconds(self) -> float:
        return duration_seconds(self.max_range)


@dataclass(frozen=True)
class ScopedQuery:
    """A query forced inside a scope, and what the guardrails need to know about it."""

    text: str
    kind: str  # "log" or "metric"
    longest_range: float
    bare_selector: bool  # one stream selector and nothing else


def _glob_regex(glob: str) -> str:
    """The RE2 regex (anchored by Loki) that matches what the glob matches."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append("\\" + ch if ch in _RE2_META else ch)
    return "".join(out)


def _glob_match(glob: str, value: str) -> bool:
    pattern = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob)
    return re.fullmatch(pattern, value, re.DOTALL) is not None


def required_matchers(labels: Mapping[str, Sequence[str]]) -> list[Matcher]:
    """One matcher per scoped label that only its allowed values satisfy."""
    result = []
    for name, allowed in sorted(labels.items()):
        values = sorted(set(allowed))
        if len(values) == 1 and not any(ch in "*?" for ch in values[0]):
            result.append(Matcher(name, "=", values[0]))
        else:
            result.append(Matcher(name, "=~", "|".join(_glob_regex(v) for v in values)))
    return result


def _matcher_text(matcher: Matcher) -> str:
    return f"{matcher.name}{matcher.op}{quote(matcher.value)}"


def selector_for(labels: Mapping[str, Sequence[str]]) -> str:
    """The stream selector of exactly the scope, for calls that name no selector."""
    return "{" + ", ".join(_matcher_text(m) for m in required_matchers(labels)) + "}"


def _literal_alternatives(regex: str) -> list[str] | None:
    if any(ch in _RE2_META for ch in regex.replace("|", "")):
        return None
    return regex.split("|")


def _check_existing(matcher: Matcher, labels: Mapping[str, Sequence[str]]) -> None:
    allowed = labels.get(matcher.name)
    if allowed is None:
        return
    if matcher.op == "=":
        asked: list[str] | None = [matcher.value]
    elif matcher.op == "=~":
        asked = _literal_alternatives(matcher.value)
    else:
        asked = None  # negative matchers only narrow further
    outside = [v for v in asked or [] if not any(_glob_match(g, v) for g in allowed)]
    if outside:
        shown = ", ".join(repr(v) for v in outside)
        raise ScopeError(
            f"the matcher {_matcher_text(matcher)} asks for {matcher.name} {shown}, outside "
            f"your scope; allowed {matcher.name} values: {', '.join(allowed)}. Use one of "
            f"those, or drop the {matcher.name} matcher to read all of them."
        )


def _check_selective(parsed: Parsed) -> None:
    for selector in parsed.selectors:
        if not any(m.op == "=" and m.value for m in selector.matchers):
            shown = "{" + ", ".join(_matcher_text(m) for m in selector.matchers) + "}"
            raise GuardrailError(
                f"the selector {shown} has no selective matcher; add at least one "
                'label="value" matcher with a non-empty value (e.g. app="api" or '
                'namespace="team-a") so Loki does not scan every stream'
            )


def enforce_scope(
    query: str, scope: LokiScope, *, kind: str | None = None, field: str = "query"
) -> ScopedQuery:
    """`query` with every stream selector restricted to the scope.

    Raises LogQLSyntaxError for text that is not LogQL, ScopeError for a query that cannot
    be made safe, GuardrailError for one the role's guardrails refuse.
    """
    parsed = parse(query)
    if kind is not None and parsed.kind != kind:
        if kind == "log":
            raise LogQLSyntaxError(
                "this is a metric query; use query_metrics for rate(), count_over_time(), "
                "sum by (...) and the like"
            )
        raise LogQLSyntaxError(
            "this is a log query; use query_logs to read lines, or wrap it in a metric "
            'function such as sum(count_over_time({app="api"} |= "error" [5m]))'
        )
    if scope.require_selective_matcher:
        _check_selective(parsed)
    labels = scope.labels
    for name, construct in parsed.writes:
        if name in labels:
            raise ScopeError(
                f"{construct} writes the label {name!r}, which your scope is defined by; the "
                f"answer could show lines or series under a {name} they did not come from. "
                f"Write to another label name instead."
            )
    bare = parsed.kind == "log" and len(parsed.selectors) == 1 and not parsed.stages
    if not labels:
        return ScopedQuery(parsed.text.strip(), parsed.kind, parsed.longest_range, bare)
    required = required_matchers(labels)
    added = ", ".join(_matcher_text(m) for m in required)
    text = parsed.text
    for selector in sorted(parsed.selectors, key=lambda s: s.close, reverse=True):
        for matcher in selector.matchers:
            _check_existing(matcher, labels)
        glue = ", " if selector.matchers else ""
        text = text[: selector.close] + glue + added + text[selector.close :]
    _verify(parsed, text, required)
    return ScopedQuery(text.strip(), parsed.kind, parsed.longest_range, bare)


def _verify(original: Parsed, text: str, required: list[Matcher]) -> None:
    """Parse the rewritten query again and prove each selector carries the scope."""
    refused = "the rewritten query failed its safety check, so it was refused"
    try:
        again = parse(text)
    except LogQLSyntaxError as exc:
        raise ScopeError(f"{refused} ({exc})") from exc
    if len(again.selectors) != len(original.selectors) or again.kind != original.kind:
        raise ScopeError(f"{refused}: its structure changed")
    for selector in again.selectors:
        if not set(required) <= set(selector.matchers):
            raise ScopeError(f"{refused}: a selector lacks the scope matchers")
