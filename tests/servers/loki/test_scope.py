"""Scope rewriting of LogQL, adversarially: every selector carries the scope, whatever the
strings, comments, filters and operators around it, and what cannot be made safe is refused."""

from __future__ import annotations

import pytest

from autodevops.servers.loki.logql import LogQLSyntaxError, parse
from autodevops.servers.loki.scope import (
    GuardrailError,
    LokiScope,
    ScopeError,
    enforce_scope,
    selector_for,
)

TEAM = LokiScope(labels={"namespace": ["team-a", "team-b-*"]})
ONE = LokiScope(labels={"namespace": ["team-a"]})
SCOPE = 'namespace=~"team-a|team-b-.*"'


def scoped(query: str, scope: LokiScope = TEAM) -> str:
    return enforce_scope(query, scope).text


def scope_count(text: str) -> int:
    """How many selectors of the (re-parsed) query carry the scope matcher."""
    return sum(
        1
        for s in parse(text).selectors
        if any(m.name == "namespace" and m.value == "team-a|team-b-.*" for m in s.matchers)
    )


def test_one_exact_value_is_an_equality_and_globs_are_anchored_regexes() -> None:
    assert scoped('{app="api"}', ONE) == '{app="api", namespace="team-a"}'
    assert scoped('{app="api"}') == '{app="api", ' + SCOPE + "}"
    multi = LokiScope(labels={"namespace": ["a.b", "c"], "cluster": ["prod"]})
    assert scoped('{app="x"}', multi) == '{app="x", cluster="prod", namespace=~"a\\\\.b|c"}'
    assert selector_for(TEAM.labels) == "{" + SCOPE + "}"


@pytest.mark.parametrize(
    "query",
    [
        # String literals holding braces, quotes and the scope label, in both quote forms.
        '{app="api"} |= "}{namespace=\\"team-c\\"}"',
        '{app="api"} |= `{namespace="team-c"}` != "\\"}"',
        '{app="a}b", pod=~"x{1,3}"} |~ `[}{]+`',
        # A comment that looks like a selector is dropped, not scoped or sent.
        '{app="api"} # , {namespace="team-c"}\n |= "x"',
        # Label filters and formatting that mention braces or the scope label.
        '{app="api"} | json | namespace="team-c" | line_format "{{.namespace}} {{.msg}}"',
        '{app="api"} | logfmt | level=~"err.*" or (status >= 500, duration > 1s) | __error__=""',
        '{app="api"} | pattern `<_> {<ns>} <_>` | regexp "(?P<x>\\\\{)"',
        '{app="api"} | drop namespace | keep app, pod',
        '{app="api"} | label_format ns_copy=namespace, msg="{{ .namespace }}"',
        '{app="api"} |= ip("10.0.0.0/8") or "x" | decolorize | distinct pod',
    ],
)
def test_log_queries_get_exactly_one_scoped_selector(query: str) -> None:
    text = scoped(query)
    assert scope_count(text) == 1
    assert "team-c" not in text.split("}", 1)[0]
    assert "#" not in text


@pytest.mark.parametrize(
    ("query", "selectors"),
    [
        ('sum by (pod) (count_over_time({app="api"} |= "error" [5m]))', 1),
        ('sum(rate({app="a"}[5m] |= "x")) by (pod)', 1),
        ('count_over_time(({app="a"} |= "x")[5m] offset 1h)', 1),
        (
            'sum(rate({app="a"} |= "error" [5m])) / sum(rate({app="a"}[5m])) > bool 0.1',
            2,
        ),
        (
            'count_over_time({app="a"}[5m]) / on (pod) group_left (app) '
            'count_over_time({app="b"}[5m]) or vector(0)',
            2,
        ),
        ('topk(3, sum by (pod) (bytes_rate({app="a"}[5m])))', 1),
        ('quantile_over_time(0.99, {app="a"} | json | unwrap duration(latency) [5m]) by (pod)', 1),
        ('label_replace(rate({app="a"}[1m]), "svc", "$1", "namespace", "(.*)")', 1),
        ('-sum(rate({app="a"}[1m])) ^ 2 + (sum(rate({app="b"}[1m])) * 3)', 2),
    ],
)
def test_every_selector_inside_metric_queries_is_scoped(query: str, selectors: int) -> None:
    result = enforce_scope(query, TEAM)
    assert result.kind == "metric"
    assert len(parse(result.text).selectors) == selectors == scope_count(result.text)


def test_longest_range_is_measured_for_the_time_guard() -> None:
    result = enforce_scope('sum(rate({app="a"}[5m])) / sum(rate({app="a"}[1h30m]))', TEAM)
    assert result.longest_range == 5400


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            '{app="a"} | label_format namespace="team-a"',
            "label_format writes the label 'namespace'",
        ),
        ('{app="a"} | label_format namespace=pod', "label_format writes the label 'namespace'"),
        (
            'label_replace(rate({app="a"}[1m]), "namespace", "team-a", "pod", ".*")',
            "label_replace writes the label 'namespace'",
        ),
        ('{app="a"} | json namespace="meta.ns"', "| json writes the label 'namespace'"),
        ('{app="a"} | logfmt namespace', "| logfmt writes the label 'namespace'"),
        ('{app="a", namespace="team-c"}', "asks for namespace 'team-c', outside your scope"),
        ('{app="a", namespace=~"team-a|team-c"}', "asks for namespace 'team-c'"),
        ('{app="a", namespace=""}', "asks for namespace ''"),
        (
            'rate({app="a"}[1m]) + rate({app="a", namespace="kube-system"}[1m])',
            "asks for namespace 'kube-system'",
        ),
    ],
)
def test_queries_that_cannot_be_made_safe_are_refused(query: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        enforce_scope(query, TEAM)


def test_matchers_that_only_narrow_are_kept() -> None:
    text = scoped('{app="a", namespace="team-b-blue", namespace!~"team-a.*"}')
    assert text == '{app="a", namespace="team-b-blue", namespace!~"team-a.*", ' + SCOPE + "}"
    assert scoped('{app="a", namespace=~"team-.*"}').count("namespace=~") == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{app='api'}", "single quotes"),
        ('{app="api"} |= "unterminated', "never closed"),
        ('{app="api"} |= `unterminated', "never closed"),
        ('{app="api",}', "expected a label matcher after the comma"),
        ('{app="api"} + 1', "a log query cannot be an operand"),
        ('sum({app="a"})', "sum needs a metric query"),
        ('rate({app="a"})', r"a range such as \[5m\]"),
        ('rate({app="a"}[5parsecs])', "not a duration"),
        ('shell("x") + {app="a"}', "unknown function 'shell'"),
        ('{app="a"} | unwrap fn(x)', "unwrap knows duration()"),
        ('{app="a"} | = "x"', "expected a stage or a label filter"),
        ('{app="a"} |= "\\q"', "invalid escape"),
        ("", "the query is empty"),
        ("(" * 100 + 'rate({app="a"}[1m])' + ")" * 100, "nested more than"),
        ('{app="a"} |= "' + "x" * 9000 + '"', "the limit is 8192"),
    ],
)
def test_invalid_logql_is_a_syntax_error_with_the_reason(query: str, message: str) -> None:
    with pytest.raises(LogQLSyntaxError, match=message):
        enforce_scope(query, TEAM)


def test_go_escapes_are_decoded_so_a_disguised_scope_value_is_still_checked() -> None:
    with pytest.raises(ScopeError, match="team-c"):
        enforce_scope('{app="a", namespace="team\\x2dc"}', TEAM)
    assert enforce_scope('{app="a", namespace="team\\u002da"}', TEAM).kind == "log"


def test_log_and_metric_tools_each_get_their_kind() -> None:
    with pytest.raises(LogQLSyntaxError, match="use query_metrics"):
        enforce_scope('rate({app="a"}[5m])', TEAM, kind="log")
    with pytest.raises(LogQLSyntaxError, match="use query_logs"):
        enforce_scope('{app="a"}', TEAM, kind="metric")


def test_a_selective_matcher_is_required_unless_the_role_turns_it_off() -> None:
    for query in ('{namespace=~"team-.+"}', '{app!="x", pod=~".+"}', '{app=""}', "{}"):
        with pytest.raises(GuardrailError, match="no selective matcher"):
            enforce_scope(query, TEAM)
    loose = LokiScope(labels={"namespace": ["team-a"]}, require_selective_matcher=False)
    assert enforce_scope("{}", loose).text == '{namespace="team-a"}'
    with pytest.raises(GuardrailError):
        enforce_scope('rate({app="a"}[1m]) / rate({pod=~".+"}[1m])', TEAM)


def test_an_unscoped_role_gets_its_query_unchanged_but_without_comments() -> None:
    query = 'sum by (pod) (rate({app="a"} |= "#x" [5m])) # note'
    assert enforce_scope(query, LokiScope()).text == query.split(" # ")[0]


@pytest.mark.parametrize(
    "scope",
    [
        {"labels": {"bad-name": ["x"]}},
        {"labels": {"namespace": []}},
        {"labels": {"namespace": [""]}},
        {"tenant": "a b"},
        {"max_range": "forever"},
        {"max_lines": 0},
        {"unknown": 1},
    ],
)
def test_bad_scopes_are_refused_by_the_policy_model(scope: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LokiScope.model_validate(scope)
