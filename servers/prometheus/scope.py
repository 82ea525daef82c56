"""A role's reach in Prometheus: some values of some labels, enforced on every PromQL query.

A role's ``PrometheusScope`` (in its policy) names the values it may read of some labels, for
example ``namespace`` in ``team-a`` and ``team-b``. :func:`enforce_scope` parses the query with
``promql-parser``, adds a matcher for every scoped label to every vector and matrix selector,
prints the query back in a canonical form, re-parses that text and proves every selector is
constrained before returning it.
Anything it does not understand is refused, so a returned query cannot read outside the scope.

Behaviour decisions:

* Allowed values are exact strings, never globs or regexes. One value becomes
  ``label="value"``; several become ``label=~"v1|v2"`` with each value regex-escaped
  (Prometheus anchors regex matchers, so this matches exactly those values).
* Matchers the query already has on a scoped label are kept; Prometheus ANDs matchers on the
  same label, so they can only narrow the scope (``namespace=~".*"``, ``namespace!="x"``).
  A matcher that names values literally (``namespace="x"`` or a plain alternation
  ``namespace=~"x|y"``) must name allowed values only, otherwise the query is refused:
  silently returning nothing would read as "no such series" and mislead the caller.
* Series without a scoped label are outside the scope (the empty value is never allowed).
* Refused under a scope: ``info()``, which reads ``target_info`` series no selector names.
* Always refused: ``or`` between matcher groups inside braces (not Prometheus PromQL), ``@``
  times outside 1970..9999, unknown functions, operators or AST node types (deny by default),
  and queries too large or too deeply nested to handle safely.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import promql_parser as pql
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_DEPTH",
    "MAX_OPERATORS",
    "MAX_QUERY_CHARS",
    "LabelScope",
    "PromQLSyntaxError",
    "PrometheusScope",
    "QueryTooComplexError",
    "ScopeError",
    "enforce_scope",
    "label_uses",
    "parse_check",
]

# The Rust parser recurses once per nesting level and crashes the process (stack overflow) at a
# few thousand levels, so size is bounded before it ever sees the text.
MAX_QUERY_CHARS = 8192
MAX_OPERATORS = 1000
# Bounds the recursion of this module's own walkers.
MAX_DEPTH = 128

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_STRING_LITERALS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', re.DOTALL)
_OPERATOR_TOKENS = re.compile(r"[-+*/%^=!<>(\[{,]|\b(?:and|or|unless|atan2)\b", re.IGNORECASE)
_NEGATIVE_AT = re.compile(r"@\s*-")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_RANGE_MESSAGE = (
    "the @ time in this query is before 1970 or after 9999; use a Unix time in seconds "
    "inside that range, or @ start() / @ end()"
)

_AGGREGATE_OPS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
     "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)  # fmt: skip
_BINARY_OPS = frozenset(
    {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
     "atan2"}
)  # fmt: skip
# Words that cannot start a selector unquoted; such metric names are printed as __name__="...".
_KEYWORDS = _AGGREGATE_OPS | {
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "start", "end", "inf", "nan", "fill", "fill_left",
    "fill_right",
}  # fmt: skip
# Functions known to read nothing but their arguments. Anything else is refused.
_FUNCTIONS = frozenset(
    {"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
     "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
     "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
     "delta", "deriv", "double_exponential_smoothing", "end", "exp", "first_over_time",
     "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
     "histogram_stddev", "histogram_stdvar", "histogram_sum", "hour", "idelta", "increase",
     "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
     "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
     "predict_linear", "present_over_time", "quantile_over_time", "rad", "range", "rate",
     "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label",
     "sort_by_label_desc", "sort_desc", "sqrt", "start", "stddev_over_time",
     "stdvar_over_time", "step", "sum_over_time", "tan", "tanh", "time", "timestamp",
     "ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time",
     "ts_of_min_over_time", "vector", "year"}
)  # fmt: skip
# Functions that read series no selector in the query names, so no scope can be added to them.
_IMPLICIT_READ_FUNCTIONS = {
    "info": (
        "info() reads target_info series that the query does not name, so the scope cannot "
        "be applied to them; join explicitly instead, e.g. "
        "`x * on(job, instance) group_left(label) target_info`"
    ),
}

Shape = tuple[Any, ...]


class PromQLSyntaxError(ValueError):
    """The query is not valid PromQL; the message carries the parser's own words."""


class QueryTooComplexError(PromQLSyntaxError):
    """The query is too large to parse safely; it is refused before the parser sees it."""


class ScopeError(ValueError):
    """The query is valid PromQL but cannot be proven to stay inside the caller's scope."""


class PrometheusScope(BaseModel):
    """A role's scope: label name → allowed values; every query is forced inside it."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, list[str]] = Field(
        default_factory=dict, description="label name to allowed values, e.g. namespace: [a, b]"
    )


@dataclass(frozen=True)
class LabelScope:
    """Allowed exact values per label name; selectors may only read series inside them.

    Build it with ``LabelScope.of({"namespace": ["team-a", "team-b"]})``. Values are exact
    (no globs, no regexes); each label needs at least one non-empty value. An empty scope
    (no labels) restricts nothing.
    """

    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.labels, Mapping):
            raise TypeError("LabelScope needs a mapping of label name to allowed values")
        clean: dict[str, tuple[str, ...]] = {}
        for name, values in self.labels.items():
            clean[_check_label(name)] = _check_values(name, values)
        object.__setattr__(self, "labels", MappingProxyType(dict(sorted(clean.items()))))

    def __hash__(self) -> int:
        return hash(tuple(self.labels.items()))

    @classmethod
    def of(cls, labels: Mapping[str, Iterable[str]]) -> LabelScope:
        """Build a scope from any mapping of label name to an iterable of values."""
        if not isinstance(labels, Mapping):
            raise TypeError("LabelScope needs a mapping of label name to allowed values")
        return cls({name: _check_values(name, values) for name, values in labels.items()})

    @property
    def empty(self) -> bool:
        """True when no label is scoped, so queries pass unchanged in meaning."""
        return not self.labels

    def matchers(self) -> list[tuple[str, str, str]]:
        """The (label, op, value) matchers every selector must carry, one per scoped label."""
        result = []
        for name, values in self.labels.items():
            if len(values) == 1:
                result.append((name, "=", values[0]))
            else:
                result.append((name, "=~", "|".join(_re_escape(v) for v in values)))
        return result


def _check_label(name: object) -> str:
    if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"scope label {name!r} is not a valid Prometheus label name")
    if name == "__name__":
        raise ValueError("the metric name (__name__) cannot be a scope label")
    return name


def _check_values(name: str, values: object) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(
            f"allowed values for scope label {name!r} must be a list of strings, "
            f"not {type(values).__name__}; write [{values!r}] for a single value"
        )
    items = list(values)
    for value in items:
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"allowed values for scope label {name!r} must be non-empty strings, got {value!r}"
            )
    if not items:
        raise ValueError(
            f"scope label {name!r} allows no values; a role that may see nothing "
            "should not get the query tool at all"
        )
    return tuple(sorted(set(items)))


def _re_escape(value: str) -> str:
    """Escape the RE2 metacharacters only; Python's re.escape escapes more than RE2 needs."""
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in value)


def _as_scope(scope: LabelScope | Mapping[str, Sequence[str]]) -> LabelScope:
    return scope if isinstance(scope, LabelScope) else LabelScope.of(scope)


def _is_panic(exc: BaseException) -> bool:
    """promql-parser turns Rust panics into pyo3's PanicException, a BaseException."""
    return type(exc).__name__ == "PanicException"


# --------------------------------------------------------------------------- parsing


def _precheck(query: object) -> str:
    if not isinstance(query, str):
        raise PromQLSyntaxError(f"a PromQL query must be a string, not {type(query).__name__}")
    if not query.strip():
        raise PromQLSyntaxError("the query is empty; send a PromQL expression such as `up`")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooComplexError(
            f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}. "
            "Split it into smaller queries."
        )
    operators = len(_OPERATOR_TOKENS.findall(_STRING_LITERALS.sub('""', query)))
    if operators > MAX_OPERATORS:
        raise QueryTooComplexError(
            f"the query has about {operators} operators and brackets; the limit is "
            f"{MAX_OPERATORS}. Split it into smaller queries."
        )
    return query


def _parse(query: object, *, check_size: bool = True) -> pql.Expr:
    text = _precheck(query) if check_size else str(query)
    try:
        return pql.parse(text)
    except ValueError as exc:
        raise PromQLSyntaxError(
            f"invalid PromQL: {exc}. Fix the query (brackets, quotes, label matchers such as "
            'job="api", function names) and send it again.'
        ) from exc
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        raise PromQLSyntaxError(
            f"the PromQL parser could not handle this query ({exc}); simplify it"
        ) from exc


def parse_check(query: str) -> None:
    """Validate syntax only, for callers with no scope to enforce.

    Raises PromQLSyntaxError (or its QueryTooComplexError) with the parser's message.
    """
    _parse(query)


# --------------------------------------------------------------------------- rendering


def _quote(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _label(name: str) -> str:
    return name if _LABEL_NAME.fullmatch(name) else _quote(name)


def _labels(names: Iterable[str]) -> str:
    return "(" + ", ".join(_label(n) for n in names) + ")"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return ("-" if math.copysign(1.0, value) < 0 else "") + str(abs(int(value)))
    return repr(value)


def _number_key(value: float) -> str:
    return "NaN" if math.isnan(value) else value.hex()


def _optional_number_key(value: float | None) -> str | None:
    return None if value is None else _number_key(value)


def _duration(delta: timedelta) -> str:
    if delta < timedelta(0):
        return "-" + pql.display_duration(-delta)
    return pql.display_duration(delta)


_MATCH_OPS = (
    (pql.MatchOp.Equal, "="),
    (pql.MatchOp.NotEqual, "!="),
    (pql.MatchOp.Re, "=~"),
    (pql.MatchOp.NotRe, "!~"),
)


def _op_text(op: pql.MatchOp) -> str:
    for known, text in _MATCH_OPS:
        if op == known:
            return text
    raise ScopeError(f"unknown label match operator {op!r}; the query was refused")


def _matcher_text(name: str, op: str, value: str) -> str:
    return f"{_label(name)}{op}{_quote(value)}"


def _at_key(holder: pql.VectorSelector | pql.SubqueryExpr) -> tuple[str, int | None] | None:
    """The @ modifier as (kind, milliseconds); refuses times the library cannot represent."""
    at = holder.at
    if at is None:
        return None
    kind = at.type
    if kind == pql.AtModifierType.Start:
        return ("start", None)
    if kind == pql.AtModifierType.End:
        return ("end", None)
    if kind != pql.AtModifierType.At:
        raise ScopeError(f"unknown @ modifier {kind!r}; the query was refused")
    try:
        when = at.at
    except BaseException as exc:
        if not (_is_panic(exc) or isinstance(exc, OverflowError | ValueError)):
            raise
        raise ScopeError(_AT_RANGE_MESSAGE) from exc
    if when is None:
        raise ScopeError("an @ modifier without a time was refused")
    return ("at", (when - _EPOCH) // timedelta(milliseconds=1))


def _modifiers_text(holder: pql.VectorSelector | pql.SubqueryExpr) -> str:
    text = ""
    if holder.offset is not None:
        text += f" offset {_duration(holder.offset)}"
    at = _at_key(holder)
    if at is not None:
        kind, ms = at
        if ms is None:
            text += f" @ {kind}()"
        else:
            text += f" @ {ms // 1000}.{ms % 1000:03d}"
    return text


def _literal_alternatives(regex: str) -> list[str] | None:
    """The values a regex names literally (``a|b``), or None when it is a real pattern."""
    if any(ch in _RE2_META for ch in regex.replace("|", "")):
        return None
    return regex.split("|")


def _check_depth(depth: int) -> int:
    if depth > MAX_DEPTH:
        raise ScopeError(
            f"the query is nested more than {MAX_DEPTH} levels deep; split it into smaller queries"
        )
    return depth + 1


class _Rewriter:
    """Prints an AST back to PromQL, adding the scope matchers to every selector."""

    def __init__(self, scope: LabelScope) -> None:
        self.scope = scope
        self.required = scope.matchers()
        self.selectors = 0

    def render(self, node: object, depth: int = 0) -> str:
        depth = _check_depth(depth)
        if isinstance(node, pql.VectorSelector):
            return self._selector(node) + _modifiers_text(node)
        if isinstance(node, pql.MatrixSelector):
            inner = node.vector_selector
            return f"{self._selector(inner)}[{_duration(node.range)}]{_modifiers_text(inner)}"
        if isinstance(node, pql.SubqueryExpr):
            if node.range is None:
                raise ScopeError("a subquery without a range was refused; write x[5m:1m]")
            step = "" if node.step is None else _duration(node.step)
            return (
                f"{self._operand(node.expr, depth, subquery=True)}"
                f"[{_duration(node.range)}:{step}]{_modifiers_text(node)}"
            )
        if isinstance(node, pql.ParenExpr):
            return f"({self.render(node.expr, depth)})"
        if isinstance(node, pql.UnaryExpr):
            return "-" + self._operand(node.expr, depth)
        if isinstance(node, pql.BinaryExpr):
            return self._binary(node, depth)
        if isinstance(node, pql.AggregateExpr):
            return self._aggregate(node, depth)
        if isinstance(node, pql.Call):
            return self._call(node, depth)
        if isinstance(node, pql.NumberLiteral):
            return _number(node.val)
        if isinstance(node, pql.StringLiteral):
            return _quote(node.val)
        raise ScopeError(
            f"the query contains a PromQL construct this server does not understand "
            f"({type(node).__name__}); it was refused. Rewrite the query without it."
        )

    def _operand(self, node: object, depth: int, *, subquery: bool = False) -> str:
        """Renders an operand, in parentheses unless it is atomic, so precedence is explicit."""
        text = self.render(node, depth)
        atomic = isinstance(node, pql.ParenExpr | pql.Call | pql.AggregateExpr | pql.StringLiteral)
        if isinstance(node, pql.VectorSelector):
            atomic = not subquery or (node.offset is None and node.at is None)
        if isinstance(node, pql.NumberLiteral):
            atomic = not text.startswith("-")
        return text if atomic else f"({text})"

    def _selector(self, node: pql.VectorSelector) -> str:
        self.selectors += 1
        if node.matchers.or_matchers:
            raise ScopeError(
                "`or` between label matchers inside one selector's braces is not PromQL that "
                'Prometheus accepts; write two selectors joined by `or`, e.g. x{a="1"} or x{b="2"}'
            )
        prefix = ""
        parts = []
        if node.name is not None:
            if _METRIC_NAME.fullmatch(node.name) and node.name.lower() not in _KEYWORDS:
                prefix = node.name
            else:
                parts.append(_matcher_text("__name__", "=", node.name))
        present = set()
        for matcher in node.matchers.matchers:
            op = _op_text(matcher.op)
            self._check_existing(matcher.name, op, matcher.value)
            present.add((matcher.name, op, matcher.value))
            parts.append(_matcher_text(matcher.name, op, matcher.value))
        parts.extend(_matcher_text(*m) for m in self.required if m not in present)
        if prefix and not parts:
            return prefix
        return prefix + "{" + ",".join(parts) + "}"

    def _check_existing(self, name: str, op: str, value: str) -> None:
        allowed = self.scope.labels.get(name)
        if allowed is None:
            return
        if op == "=":
            asked: list[str] | None = [value]
        elif op == "=~":
            asked = _literal_alternatives(value)
        else:
            asked = None  # negative matchers only narrow further
        outside = [v for v in asked or [] if v not in allowed]
        if outside:
            shown = ", ".join(repr(v) for v in outside)
            empty = (
                f" (the empty value selects series without a {name} label, which no scope covers)"
                if "" in outside
                else ""
            )
            raise ScopeError(
                f"the matcher {_matcher_text(name, op, value)} asks for {name} {shown}, "
                f"outside your scope{empty}; allowed {name} values: {', '.join(allowed)}. "
                f"Use one of those, or drop the {name} matcher to query all of them."
            )

    def _binary(self, node: pql.BinaryExpr, depth: int) -> str:
        op = str(node.op)
        if op.lower() not in _BINARY_OPS:
            raise ScopeError(f"unknown binary operator {op!r}; the query was refused")
        lhs = self._operand(node.lhs, depth)
        rhs = self._operand(node.rhs, depth)
        modifier = _bin_modifier_text(node.modifier)
        return f"{lhs} {op}{modifier} {rhs}"

    def _aggregate(self, node: pql.AggregateExpr, depth: int) -> str:
        op = str(node.op)
        if op.lower() not in _AGGREGATE_OPS:
            raise ScopeError(f"unknown aggregation {op!r}; the query was refused")
        grouping = ""
        if node.modifier is not None:
            kind = node.modifier.type
            if kind == pql.AggModifierType.By:
                grouping = " by " + _labels(node.modifier.labels)
            elif kind == pql.AggModifierType.Without:
                grouping = " without " + _labels(node.modifier.labels)
            else:
                raise ScopeError(f"unknown aggregation modifier {kind!r}; the query was refused")
        args = [self.render(node.expr, depth)]
        if node.param is not None:
            args.insert(0, self.render(node.param, depth))
        return f"{op}{grouping}{' ' if grouping else ''}({', '.join(args)})"

    def _call(self, node: pql.Call, depth: int) -> str:
        name = node.func.name
        if name in _IMPLICIT_READ_FUNCTIONS:
            if not self.scope.empty:
                raise ScopeError(_IMPLICIT_READ_FUNCTIONS[name])
        elif name not in _FUNCTIONS:
            raise ScopeError(
                f"the function {name}() is not on the list of functions known to read only "
                "their arguments; it was refused. Use a standard PromQL function instead."
            )
        return f"{name}({', '.join(self.render(arg, depth) for arg in node.args)})"


def _bin_modifier_text(modifier: pql.BinModifier | None) -> str:
    if modifier is None:
        return ""
    text = ""
    if modifier.return_bool:
        text += " bool"
    if modifier.matching is not None:
        kind = modifier.matching.type
        if kind == pql.LabelModifierType.Include:
            text += " on" + _labels(modifier.matching.labels)
        elif kind == pql.LabelModifierType.Exclude:
            text += " ignoring" + _labels(modifier.matching.labels)
        else:
            raise ScopeError(f"unknown vector matching {kind!r}; the query was refused")
    card = modifier.card
    if card == pql.VectorMatchCardinality.ManyToOne:
        text += " group_left" + _labels(modifier.group_labels or [])
    elif card == pql.VectorMatchCardinality.OneToMany:
        text += " group_right" + _labels(modifier.group_labels or [])
    elif card not in (pql.VectorMatchCardinality.OneToOne, pql.VectorMatchCardinality.ManyToMany):
        raise ScopeError(f"unknown vector matching cardinality {card!r}; the query was refused")
    fill = modifier.fill_values
    if fill is not None:
        lhs, rhs = fill.lhs, fill.rhs
        if lhs is not None and rhs is not None and _number_key(lhs) == _number_key(rhs):
            text += f" fill({_number(lhs)})"
        else:
            if lhs is not None:
                text += f" fill_left({_number(lhs)})"
            if rhs is not None:
                text += f" fill_right({_number(rhs)})"
    return text


# --------------------------------------------------------------------------- verification


def _bin_modifier_key(modifier: pql.BinModifier | None) -> Shape | None:
    if modifier is None:
        return None
    matching = modifier.matching
    fill = modifier.fill_values
    return (
        modifier.return_bool,
        None if matching is None else (repr(matching.type), tuple(matching.labels)),
        repr(modifier.card),
        None if modifier.group_labels is None else tuple(modifier.group_labels),
        None if fill is None else (_optional_number_key(fill.lhs), _optional_number_key(fill.rhs)),
    )


def _shape(node: object, add: Sequence[tuple[str, str, str]] = (), depth: int = 0) -> Shape:
    """A comparable summary of an AST, without parentheses; ``add`` joins every selector."""
    while isinstance(node, pql.ParenExpr):  # not counted: the rewriter adds parentheses
        node = node.expr
    depth = _check_depth(depth)
    if isinstance(node, pql.VectorSelector):
        matchers = {(m.name, _op_text(m.op), m.value) for m in node.matchers.matchers}
        if node.name is not None:
            matchers.add(("__name__", "=", node.name))
        matchers.update(add)
        or_groups = [[str(m) for m in group] for group in node.matchers.or_matchers]
        return ("vs", tuple(sorted(matchers)), repr(or_groups), node.offset, _at_key(node))
    if isinstance(node, pql.MatrixSelector):
        return ("ms", _shape(node.vector_selector, add, depth), node.range)
    if isinstance(node, pql.SubqueryExpr):
        inner = _shape(node.expr, add, depth)
        return ("sq", inner, node.range, node.step, node.offset, _at_key(node))
    if isinstance(node, pql.UnaryExpr):
        return ("neg", _shape(node.expr, add, depth))
    if isinstance(node, pql.BinaryExpr):
        lhs, rhs = _shape(node.lhs, add, depth), _shape(node.rhs, add, depth)
        return ("bin", str(node.op), _bin_modifier_key(node.modifier), lhs, rhs)
    if isinstance(node, pql.AggregateExpr):
        modifier = node.modifier
        grouping = None if modifier is None else (repr(modifier.type), tuple(modifier.labels))
        param = None if node.param is None else _shape(node.param, add, depth)
        return ("agg", str(node.op), grouping, param, _shape(node.expr, add, depth))
    if isinstance(node, pql.Call):
        return ("call", node.func.name, tuple(_shape(a, add, depth) for a in node.args))
    if isinstance(node, pql.NumberLiteral):
        return ("num", _number_key(node.val))
    if isinstance(node, pql.StringLiteral):
        return ("str", node.val)
    raise ScopeError(f"unexpected PromQL node {type(node).__name__}; the query was refused")


def _all_selectors(root: pql.Expr) -> Iterator[pql.VectorSelector]:
    """Every VectorSelector reachable through any attribute, found without knowing node types.

    It is deliberately independent of the rewriter's type dispatch, so a node type the
    rewriter mishandled still has its selectors checked.
    """
    return (node for node in _all_nodes(root) if isinstance(node, pql.VectorSelector))


def _verify(original: pql.Expr, text: str, rewriter: _Rewriter) -> None:
    """Re-parse the printed query and prove it is the original plus the scope, nothing else."""
    refused = "the rewritten query failed its safety check, so it was refused"
    try:
        # Our own output: its depth is at most twice the original's, which was bounded.
        reparsed = _parse(text, check_size=False)
    except PromQLSyntaxError as exc:
        raise ScopeError(f"{refused} ({exc}); simplify the query and try again") from exc
    required = rewriter.required
    if _shape(original, required) != _shape(reparsed):
        raise ScopeError(f"{refused}: it does not mean the same as the original query")
    found = list(_all_selectors(reparsed))
    if len(found) != rewriter.selectors or len(list(_all_selectors(original))) != len(found):
        raise ScopeError(f"{refused}: the number of selectors changed")
    for selector in found:
        present = {(m.name, _op_text(m.op), m.value) for m in selector.matchers.matchers}
        if selector.matchers.or_matchers or not set(required) <= present:
            raise ScopeError(f"{refused}: a selector lacks the scope matchers")


# Functions that read or write label values by name: argument positions holding label names.
_LABEL_ARGUMENTS = {
    "label_replace": ("label_replace target", 1, 2, "label_replace source", 3, 4),
    "label_join": ("label_join target", 1, 2, "label_join source", 3, None),
    "sort_by_label": ("sort_by_label", 1, None, "", 0, 0),
    "sort_by_label_desc": ("sort_by_label_desc", 1, None, "", 0, 0),
}


def label_uses(query: str) -> dict[str, str]:
    """Label names the query compares or moves the values of, and how: matchers, the source
    and target of `label_replace`/`label_join`, `count_values` and `sort_by_label` labels.

    A label whose values are redacted must not appear here: a matcher on it answers "yes" or
    "no" to a guess, and `label_replace` can carry its value out under another name.
    Grouping and vector matching (`by`, `on`) keep a label under its own name, where the
    result's redaction still sees it, so they are not listed.
    """
    uses: dict[str, str] = {}
    for node in _all_nodes(_parse(query)):
        if isinstance(node, pql.VectorSelector):
            for matcher in node.matchers.matchers:
                uses.setdefault(matcher.name, f"a matcher on {matcher.name}")
        elif isinstance(node, pql.Call) and node.func.name in _LABEL_ARGUMENTS:
            first, start, stop, second, rest, end = _LABEL_ARGUMENTS[node.func.name]
            args = list(node.args)
            for what, names in ((first, args[start:stop]), (second, args[rest:end])):
                for arg in names:
                    if isinstance(arg, pql.StringLiteral) and _LABEL_NAME.fullmatch(arg.val):
                        uses.setdefault(arg.val, f"{what} {arg.val}")
        elif isinstance(node, pql.AggregateExpr) and str(node.op).lower() == "count_values":
            param = node.param
            if isinstance(param, pql.StringLiteral) and _LABEL_NAME.fullmatch(param.val):
                uses.setdefault(param.val, f"count_values into {param.val}")
    uses.pop("__name__", None)
    return uses


def _all_nodes(root: pql.Expr) -> Iterator[object]:
    """Every node reachable through any attribute, whatever its type."""
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        yield node
        for attr in dir(type(node)):
            if attr.startswith("_") or attr in ("parse", "prettify"):
                continue
            value = getattr(node, attr)
            if isinstance(value, pql.Expr):
                stack.append(value)
            elif isinstance(value, list | tuple):
                stack.extend(v for v in value if isinstance(v, pql.Expr))


def enforce_scope(query: str, scope: LabelScope | Mapping[str, Sequence[str]]) -> str:
    """Return ``query`` rewritten so every selector is restricted to ``scope``.

    Raises PromQLSyntaxError for invalid PromQL and ScopeError for a query that cannot be
    made safe; the messages say what to change. An empty scope returns the query in
    canonical form, unchanged in meaning.
    """
    label_scope = _as_scope(scope)
    original = _parse(query)
    if _NEGATIVE_AT.search(_STRING_LITERALS.sub('""', query)):
        # Reading a pre-1970 @ time makes the library panic; refuse before touching it.
        raise ScopeError(_AT_RANGE_MESSAGE)
    rewriter = _Rewriter(label_scope)
    try:
        text = rewriter.render(original)
        _verify(original, text, rewriter)
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        raise ScopeError(
            f"the PromQL library failed on part of this query ({exc}); it was refused"
        ) from exc
    return text
