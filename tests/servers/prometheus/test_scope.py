"""Label-scope enforcement on PromQL: every selector constrained, every escape refused.

Assertions are made on the re-parsed AST, walked here with a walker of our own, so a
rewriter that prints something plausible but unconstrained fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import promql_parser as pql
import pytest

from autodevops.servers.prometheus import scope as scope_module
from autodevops.servers.prometheus.scope import (
    MAX_QUERY_CHARS,
    LabelScope,
    PromQLSyntaxError,
    QueryTooComplexError,
    ScopeError,
    enforce_scope,
    parse_check,
)

TEAMS = LabelScope.of({"namespace": ["team-b", "team-a"]})
TEAMS_MATCHER = ("namespace", "=~", "team-a|team-b")

Matcher = tuple[str, str, str]


def _op(op: pql.MatchOp) -> str:
    for known, text in (
        (pql.MatchOp.Equal, "="),
        (pql.MatchOp.NotEqual, "!="),
        (pql.MatchOp.Re, "=~"),
        (pql.MatchOp.NotRe, "!~"),
    ):
        if op == known:
            return text
    raise AssertionError(f"unknown match op {op!r}")


def selectors(node: object) -> Iterator[pql.VectorSelector]:
    """Every vector selector in an AST, in source order, failing on unknown node types."""
    if isinstance(node, pql.VectorSelector):
        yield node
    elif isinstance(node, pql.MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, pql.SubqueryExpr | pql.ParenExpr | pql.UnaryExpr):
        yield from selectors(node.expr)
    elif isinstance(node, pql.AggregateExpr):
        if node.param is not None:
            yield from selectors(node.param)
        yield from selectors(node.expr)
    elif isinstance(node, pql.BinaryExpr):
        yield from selectors(node.lhs)
        yield from selectors(node.rhs)
    elif isinstance(node, pql.Call):
        for arg in node.args:
            yield from selectors(arg)
    elif not isinstance(node, pql.NumberLiteral | pql.StringLiteral):
        raise AssertionError(f"test walker does not know {type(node).__name__}")


def matchers(selector: pql.VectorSelector) -> set[Matcher]:
    found = {(m.name, _op(m.op), m.value) for m in selector.matchers.matchers}
    if selector.name is not None:
        found.add(("__name__", "=", selector.name))
    return found


def assert_scoped(query: str, rewritten: str, required: set[Matcher], count: int) -> None:
    """The rewrite keeps each selector's own matchers and modifiers and adds ``required``."""
    before = list(selectors(pql.parse(query)))
    after = list(selectors(pql.parse(rewritten)))
    assert len(after) == count, rewritten
    assert len(before) == count
    for old, new in zip(before, after, strict=True):
        assert not new.matchers.or_matchers
        assert required <= matchers(new), rewritten
        assert matchers(new) == matchers(old) | required, rewritten
        assert new.offset == old.offset
        assert (new.at is None) == (old.at is None)


SCOPED_QUERIES = [
    pytest.param("up", 1, id="bare-metric"),
    pytest.param('{__name__=~".+"}', 1, id="every-metric"),
    pytest.param('{__name__=~"kube_.*", job="ksm"}', 1, id="name-regex"),
    pytest.param('{"my.metric"}', 1, id="utf8-metric-name"),
    pytest.param('sum{job="x"}', 1, id="keyword-as-metric-name"),
    pytest.param("a or b", 2, id="or"),
    pytest.param("a or on(job) b or c", 3, id="or-on"),
    pytest.param("a and b", 2, id="and"),
    pytest.param("a unless ignoring(pod) b", 2, id="unless-ignoring"),
    pytest.param("a * on(namespace, pod) group_left(node) b", 2, id="on-group-left"),
    pytest.param("a / ignoring(code) group_right b", 2, id="ignoring-group-right"),
    pytest.param("a > bool 0.5", 1, id="bool-comparison"),
    pytest.param("a + fill_left(1) fill_right(2) b", 2, id="fill-modifiers"),
    pytest.param("a ^ b ^ c", 3, id="right-associative"),
    pytest.param("(a ^ b) ^ c", 3, id="parenthesised"),
    pytest.param("-x ^ 2", 1, id="unary-precedence"),
    pytest.param("-(-x)", 1, id="double-negation"),
    pytest.param("x > 1 < 2", 1, id="comparison-chain"),
    pytest.param("sum by (namespace) (rate(http_requests_total[5m]))", 1, id="sum-by-rate"),
    pytest.param("avg without (pod) (x)", 1, id="without"),
    pytest.param("topk(scalar(count(y)), x)", 2, id="selector-in-aggregate-param"),
    pytest.param("quantile(0.9, x)", 1, id="quantile"),
    pytest.param('count_values("value", x)', 1, id="count-values"),
    pytest.param("limitk(2, x)", 1, id="limitk"),
    pytest.param("max_over_time(rate(x[5m])[1h:1m])", 1, id="subquery"),
    pytest.param("rate(x[5m:])", 1, id="subquery-default-step"),
    pytest.param("(a + b)[10m:1m] offset 1h", 2, id="subquery-of-binary"),
    pytest.param("x offset 5m[10m:]", 1, id="subquery-of-offset-selector"),
    pytest.param(
        "max_over_time(deriv(rate(x[1m])[5m:1m])[30m:] @ end())", 1, id="nested-subqueries"
    ),
    pytest.param("x offset 5m", 1, id="offset"),
    pytest.param("x offset -5m", 1, id="negative-offset"),
    pytest.param("x @ 1609746000", 1, id="at-timestamp"),
    pytest.param("x @ 1609746000.123 offset 1h", 1, id="at-and-offset"),
    pytest.param("rate(x[5m] @ start() offset 1m)", 1, id="matrix-at-start"),
    pytest.param('rate(x{job="a", code=~"5.."}[5m] offset 1d)', 1, id="matrix-matchers"),
    pytest.param('label_replace(up, "namespace", "team-c", "job", "(.*)")', 1, id="label-replace"),
    pytest.param('label_join(up, "dst", ",", "a", "b")', 1, id="label-join"),
    pytest.param('absent(nonexistent{job="x"})', 1, id="absent"),
    pytest.param("absent_over_time(x[5m])", 1, id="absent-over-time"),
    pytest.param(
        "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        1,
        id="histogram-quantile",
    ),
    pytest.param("time() - timestamp(up)", 1, id="time-minus-timestamp"),
    pytest.param("sum(x) / on() group_left sum(y)", 2, id="on-empty"),
    pytest.param('x{namespace="team-a"}', 1, id="in-scope-equal"),
    pytest.param('x{namespace=~"team-a|team-b"}', 1, id="in-scope-alternation"),
    pytest.param('x{namespace=~".*"}', 1, id="match-all-regex-is-narrowed"),
    pytest.param('x{namespace=~".+"}', 1, id="non-empty-regex-is-narrowed"),
    pytest.param('x{namespace!="team-a"}', 1, id="not-equal-is-narrowed"),
    pytest.param('x{namespace!~"team-a"}', 1, id="not-regex-is-narrowed"),
    pytest.param('x{namespace=~"team-.*|kube-system"}', 1, id="pattern-regex-is-narrowed"),
    pytest.param('x{namespace=~"(?i)TEAM-C"}', 1, id="case-insensitive-regex-is-narrowed"),
    pytest.param('x{a="quote\\" back\\\\ nl\\n tab\\t"}', 1, id="escaped-value"),
    pytest.param("1 + 2", 0, id="numbers"),
    pytest.param('"a string"', 0, id="string"),
    pytest.param("vector(1)", 0, id="vector-of-number"),
    pytest.param("-Inf", 0, id="negative-infinity"),
    pytest.param("NaN", 0, id="nan"),
    pytest.param("2 ^ -1", 0, id="negative-exponent"),
]


@pytest.mark.parametrize(("query", "count"), SCOPED_QUERIES)
def test_every_selector_is_constrained(query: str, count: int) -> None:
    rewritten = enforce_scope(query, TEAMS)
    assert_scoped(query, rewritten, {TEAMS_MATCHER}, count)


@pytest.mark.parametrize(("query", "count"), SCOPED_QUERIES)
def test_rewrite_is_idempotent(query: str, count: int) -> None:
    once = enforce_scope(query, TEAMS)
    assert enforce_scope(once, TEAMS) == once


@pytest.mark.parametrize(("query", "count"), SCOPED_QUERIES)
def test_empty_scope_keeps_meaning(query: str, count: int) -> None:
    normalised = enforce_scope(query, {})
    assert_scoped(query, normalised, set(), count)
    assert enforce_scope(normalised, {}) == normalised


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("up", 'up{namespace=~"team-a|team-b"}'),
        (
            "sum by (job) (rate(x[5m])) or on(job) y",
            'sum by (job) (rate(x{namespace=~"team-a|team-b"}[5m])) '
            'or on(job) y{namespace=~"team-a|team-b"}',
        ),
        (
            'x{namespace=~".*"} offset 5m @ 100',
            'x{namespace=~".*",namespace=~"team-a|team-b"} offset 5m @ 100.000',
        ),
        ("rate(x[5m:])", 'rate(x{namespace=~"team-a|team-b"}[5m:])'),
        ("-x ^ 2", '-(x{namespace=~"team-a|team-b"} ^ 2)'),
        ('{"my.metric"}', '{__name__="my.metric",namespace=~"team-a|team-b"}'),
        ("1 + 2", "1 + 2"),
    ],
)
def test_canonical_output(query: str, expected: str) -> None:
    assert enforce_scope(query, TEAMS) == expected


def test_single_value_scope_uses_equality() -> None:
    rewritten = enforce_scope("a or b", {"namespace": ["team-a"]})
    assert rewritten == 'a{namespace="team-a"} or b{namespace="team-a"}'
    assert_scoped("a or b", rewritten, {("namespace", "=", "team-a")}, 2)


def test_several_labels_are_all_enforced() -> None:
    scope = {"namespace": ["team-a"], "cluster": ["eu-1", "us-2"]}
    query = 'sum(rate(x{job="a"}[5m])) / on() group_left count(up)'
    required = {("namespace", "=", "team-a"), ("cluster", "=~", "eu-1|us-2")}
    assert_scoped(query, enforce_scope(query, scope), required, 2)


def test_values_are_exact_and_regex_escaped() -> None:
    scope = LabelScope.of({"cluster": ["eu.west-1", "a+b", "x|y"]})
    (selector,) = selectors(pql.parse(enforce_scope("up", scope)))
    (value,) = [v for name, op, v in matchers(selector) if name == "cluster" and op == "=~"]
    assert value == r"a\+b|eu\.west-1|x\|y"
    for allowed in ("eu.west-1", "a+b", "x|y"):
        assert re.fullmatch(value, allowed)
    for other in ("euXwest-1", "aab", "x", "y", "eu.west-12", "eu.*"):
        assert not re.fullmatch(value, other)


def test_mapping_and_label_scope_agree() -> None:
    query = "a * on(x) group_right b"
    as_mapping = enforce_scope(query, {"namespace": ("team-a", "team-b", "team-a")})
    assert as_mapping == enforce_scope(query, TEAMS)


ESCAPES = [
    pytest.param('x{namespace="team-c"}', "team-c", id="other-namespace"),
    pytest.param('x{namespace="team-a", namespace="team-c"}', "team-c", id="second-equal"),
    pytest.param('x{namespace=""}', "without a namespace label", id="missing-label"),
    pytest.param('x{namespace=~"team-c"}', "team-c", id="literal-regex"),
    pytest.param('x{namespace=~"team-c|team-d"}', "team-c", id="regex-alternatives"),
    pytest.param('x{namespace=~"team-a|team-c"}', "team-c", id="partly-outside-alternatives"),
    pytest.param('x{namespace=~"team-a|"}', "without a namespace label", id="empty-alternative"),
    pytest.param('sum(rate(x[5m])) or y{namespace="kube-system"}', "kube-system", id="nested"),
    pytest.param('rate(x{namespace="team-c"}[5m])', "team-c", id="in-matrix"),
    pytest.param('max_over_time(x{namespace="team-c"}[1h:])', "team-c", id="in-subquery"),
    pytest.param('absent(x{namespace="team-c"})', "team-c", id="in-absent"),
    pytest.param('topk(scalar(y{namespace="z"}), x)', "'z'", id="in-aggregate-param"),
    pytest.param('{"namespace"="team-c"}', "team-c", id="quoted-label-name"),
    pytest.param('x{a="1" or namespace="team-c"}', "`or` between label matchers", id="or-braces"),
    pytest.param('x{a="1" or b="2"}', "`or` between label matchers", id="or-braces-plain"),
    pytest.param("info(up)", "target_info", id="info-implicit-read"),
    pytest.param("x @ -5", "before 1970", id="pre-epoch-at"),
    pytest.param("rate(x[5m] @ -100)", "before 1970", id="pre-epoch-at-matrix"),
    pytest.param("x @ 1e15", "after 9999", id="far-future-at"),
    pytest.param("abs(" * 200 + "x" + ")" * 200, "nested more than", id="too-deep"),
]


@pytest.mark.parametrize(("query", "reason"), ESCAPES)
def test_escape_attempts_are_refused(query: str, reason: str) -> None:
    with pytest.raises(ScopeError) as caught:
        enforce_scope(query, TEAMS)
    assert reason in str(caught.value)


def test_refusal_names_the_allowed_values() -> None:
    with pytest.raises(ScopeError, match=r"allowed namespace values: team-a, team-b"):
        enforce_scope('up{namespace="team-c"}', TEAMS)


def test_info_is_allowed_without_a_scope() -> None:
    assert enforce_scope("info(up)", {}) == "info(up)"


SYNTAX_ERRORS = [
    pytest.param("sum(x", "unclosed left parenthesis", id="unclosed-paren"),
    pytest.param('x{a=~"(a"}', "illegal regex", id="bad-regex"),
    pytest.param("holt_winters(x[5m], 0.5, 0.5)", "unknown function", id="unknown-function"),
    pytest.param('{a=""}', "at least one non-empty matcher", id="empty-matcher-only"),
    pytest.param("x[1m][5m:]", "subquery is only allowed on vector", id="subquery-of-matrix"),
    pytest.param("x and on(a) group_left y", "no grouping allowed", id="set-op-grouping"),
    pytest.param('x{a="\\e"}', "unknown escape sequence", id="bad-escape"),
    pytest.param("x[0s]", "duration must be greater than 0", id="zero-range"),
    pytest.param("", "empty", id="empty"),
    pytest.param("   \n", "empty", id="blank"),
]


@pytest.mark.parametrize(("query", "message"), SYNTAX_ERRORS)
def test_syntax_errors_carry_the_parser_message(query: str, message: str) -> None:
    with pytest.raises(PromQLSyntaxError) as by_enforce:
        enforce_scope(query, TEAMS)
    with pytest.raises(PromQLSyntaxError) as by_check:
        parse_check(query)
    for caught in (by_enforce, by_check):
        assert message in str(caught.value)
        assert not isinstance(caught.value, ScopeError)


def test_parse_check_accepts_valid_queries() -> None:
    parse_check('sum by (job) (rate(x{job="a"}[5m])) or vector(0)')


def test_errors_are_value_errors() -> None:
    assert issubclass(ScopeError, ValueError)
    assert issubclass(PromQLSyntaxError, ValueError)
    assert issubclass(QueryTooComplexError, PromQLSyntaxError)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("+".join(["x"] * 5000), id="long-operator-chain"),
        pytest.param("(" * 3000 + "x" + ")" * 3000, id="deep-parentheses"),
        pytest.param("x{a=~" + '"' + "a" * MAX_QUERY_CHARS + '"}', id="too-long"),
    ],
)
def test_oversized_queries_are_refused_before_parsing(query: str) -> None:
    # Without the size check the Rust parser overflows its stack and kills the process.
    with pytest.raises(QueryTooComplexError, match="Split it into smaller queries"):
        enforce_scope(query, TEAMS)
    with pytest.raises(QueryTooComplexError):
        parse_check(query)


def test_large_but_flat_query_is_accepted() -> None:
    query = " or ".join(f'm{i}{{job="j"}}' for i in range(100))
    assert_scoped(query, enforce_scope(query, TEAMS), {TEAMS_MATCHER}, 100)


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        pytest.param({"namespace": "team-a"}, TypeError, id="single-string"),
        pytest.param({"namespace": []}, ValueError, id="no-values"),
        pytest.param({"namespace": [""]}, ValueError, id="empty-value"),
        pytest.param({"namespace": [1]}, ValueError, id="non-string-value"),
        pytest.param({"__name__": ["up"]}, ValueError, id="metric-name"),
        pytest.param({"name-space": ["a"]}, ValueError, id="invalid-label-name"),
        pytest.param({"": ["a"]}, ValueError, id="empty-label-name"),
    ],
)
def test_label_scope_rejects_bad_configuration(labels: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        LabelScope.of(labels)
    with pytest.raises(error):
        LabelScope(labels)


def test_label_scope_is_normalised_and_immutable() -> None:
    scope = LabelScope.of({"namespace": ["b", "a", "b"]})
    assert scope.labels == {"namespace": ("a", "b")}
    assert scope == LabelScope({"namespace": ("a", "b")})
    assert hash(scope) == hash(LabelScope({"namespace": ("b", "a")}))
    assert LabelScope().empty and not scope.empty
    with pytest.raises(TypeError):
        cast(Any, scope.labels)["cluster"] = ("x",)


class _UnknownNode:
    """Stands in for an AST node type a future library version might add."""


def test_unknown_node_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pql, "parse", lambda _query: _UnknownNode())
    with pytest.raises(ScopeError, match="_UnknownNode"):
        enforce_scope("up", TEAMS)


def test_unlisted_function_is_refused() -> None:
    pql.register_extra_functions(
        [pql.Function("read_anything", [pql.ValueType.Vector], pql.ValueType.Vector)]
    )
    try:
        with pytest.raises(ScopeError, match=r"read_anything\(\) is not on the list"):
            enforce_scope("read_anything(up)", TEAMS)
    finally:
        pql.clear_extra_functions()


def test_safety_check_catches_a_selector_left_unscoped(monkeypatch: pytest.MonkeyPatch) -> None:
    render_selector = scope_module._Rewriter._selector

    def forget_second(self: scope_module._Rewriter, node: pql.VectorSelector) -> str:
        text: str = render_selector(self, node)
        return text.replace('{namespace=~"team-a|team-b"}', "") if self.selectors == 2 else text

    monkeypatch.setattr(scope_module._Rewriter, "_selector", forget_second)
    with pytest.raises(ScopeError, match="safety check"):
        enforce_scope("a or b", TEAMS)


def test_safety_check_catches_a_change_of_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scope_module, "_bin_modifier_text", lambda _modifier: "")
    with pytest.raises(ScopeError, match="does not mean the same"):
        enforce_scope("a + on(job) b", TEAMS)
