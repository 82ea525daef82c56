"""TraceQL parsing, printing and scope enforcement, including queries built to escape."""

from __future__ import annotations

import random
import re

import pytest

from autodevops.servers.tempo import traceql as tq

SCOPE = ("k8s.namespace.name", ["team-a", "team-b"])
COND = '((resource.k8s.namespace.name = "team-a") || (resource.k8s.namespace.name = "team-b"))'


@pytest.mark.parametrize(
    ("query", "printed"),
    [
        ("{}", "{ }"),
        ("{ status = error }", "{ (status = error) }"),
        # && and || share one level in Tempo's grammar, left to right
        ("{ .a = 1 || .b = 2 && .c = 3 }", "{ (((.a = 1) || (.b = 2)) && (.c = 3)) }"),
        ("{ .a + 2 * 3 > 4 }", "{ ((.a + (2 * 3)) > 4) }"),
        ("{ .a ^ 2 ^ 3 = 1 }", "{ ((.a ^ (2 ^ 3)) = 1) }"),
        ("{ duration > 1.5s && kind = server }", "{ ((duration > 1.5s) && (kind = server)) }"),
        ('{ span."http route" = `a"b` }', '{ (span."http route" = "a\\"b") }'),
        ("{ .x = -1 }", "{ (.x = -1) }"),
        ("{ a } ", None),
        ("{ } && { } >> { }", "({ } && ({ } >> { }))"),
        ("{ } !~ { } &>> { }", "(({ } !~ { }) &>> { })"),
        ("{ } | count() > 2", "({ } | count() > 2)"),
        ("{ } | avg(duration) > 1s | by(resource.service.name)", None),
        ("({ } | count() > 1) && { }", "(({ } | count() > 1) && { })"),
        ("{ } | quantile_over_time(duration, .9, .5) by (span.http.route)", None),
        ('{ trace:duration > 2s && span:name = "x" }', None),
    ],
)
def test_parse_and_render_round_trip(query: str, printed: str | None) -> None:
    if query.strip() == "{ a }":
        with pytest.raises(tq.TraceQLSyntaxError, match="unknown name 'a'"):
            tq.parse(query)
        return
    text = tq.render(tq.parse(query))
    if printed is not None:
        assert text == printed
    assert tq.render(tq.parse(text)) == text


def test_every_filter_carries_the_scope() -> None:
    scoped = tq.enforce_scope(
        '{ .x = 1 } && ({ } >> { status = error } | count() > 1) | { name = "a" }', *SCOPE
    )
    assert scoped.count(COND) == 4
    assert scoped.startswith("(({ ((.x = 1) && " + COND + ") } && ")


def test_empty_filter_becomes_the_scope_itself() -> None:
    assert tq.enforce_scope("{}", *SCOPE) == "{ " + COND + " }"
    assert tq.enforce_scope("{ }", "k8s.namespace.name", ["team-a"]) == (
        '{ (resource.k8s.namespace.name = "team-a") }'
    )


def test_metrics_and_by_keep_their_shape() -> None:
    scoped = tq.enforce_scope("{ status = error } | rate() by (resource.service.name)", *SCOPE)
    assert scoped.endswith("| rate() by (resource.service.name))")
    assert tq.is_metrics(scoped) and not tq.is_metrics("{ } | count() > 1")


ESCAPES = [
    # a string cannot close the filter: it stays one literal
    ('{ .x = "a\\" } || { true } || { .y = \\"" }', None),
    ('{ .x = "} || { }" }', None),
    ("{ .x = `} || {` }", None),
    # a quoted attribute name cannot smuggle an operator
    ('{ span."a\\" } || { true" = 1 }', None),
]


@pytest.mark.parametrize(("query", "_"), ESCAPES)
def test_strings_and_quoted_names_stay_literals(query: str, _: None) -> None:
    scoped = tq.enforce_scope(query, *SCOPE)
    tree = tq.parse(scoped)
    assert isinstance(tree, tq.SpansetFilter)
    assert scoped.count(COND) == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ .x = 1 } ) || ( { true }", "expected an operator or the end"),
        ("{ .x = 1 } || true", "expected a span set filter"),
        ("{ .x = 1 }}", "expected an operator or the end"),
        ("{ .x = 1 } | with(sample=true)", "unknown pipeline function with()"),
        ("{ .x = 1 } | drop()", "unknown pipeline function drop()"),
        ("{ .x = 1 // comment }", "expected an attribute, an intrinsic or a value"),
        ('{ .x = "\\q" }', "unknown escape"),
        ("{ .x = 'a' }", "unexpected character"),
        ("{ .x = 1 ", "expected '}'"),
        ("", "the query is empty"),
        ("(" * 200 + "{ }" + ")" * 200, "nested more than"),
        ("{ " + "(" * 200 + ".x = 1" + ")" * 200 + " }", "nested more than"),
        ("{ " + "!" * 500 + "true }", "nested more than"),
        ("{ .x = 1 }" + " && { }" * 700, "characters long"),
    ],
)
def test_malformed_queries_are_refused(query: str, message: str) -> None:
    with pytest.raises(tq.TraceQLSyntaxError, match=re.escape(message)):
        tq.enforce_scope(query, *SCOPE)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{ resource.k8s.namespace.name = "team-c" }', "outside your scope"),
        ('{ .k8s.namespace.name = "kube-system" || .x = 1 }', "outside your scope"),
        ('{ "team-c" = resource.k8s.namespace.name }', "outside your scope"),
        ("{ parent.span.user = 1 }", "reads the parent span"),
        ('{ rootName = "GET /" }', "reads the root span"),
        ('{ trace:rootName = "GET /" }', "reads the root span"),
        ("{ } | select(parent.resource.secret)", "reads the parent span"),
        ("{ } | by(rootName)", "reads the root span"),
    ],
)
def test_queries_reaching_outside_the_scope_are_refused(query: str, message: str) -> None:
    with pytest.raises(tq.ScopeError, match=message):
        tq.enforce_scope(query, *SCOPE)


def test_narrowing_the_scope_attribute_is_allowed() -> None:
    scoped = tq.enforce_scope('{ resource.k8s.namespace.name = "team-a" }', *SCOPE)
    assert scoped.count('"team-a"') == 2
    scoped = tq.enforce_scope('{ resource.k8s.namespace.name != "team-b" }', *SCOPE)
    assert COND in scoped


def test_values_with_quotes_are_escaped_in_the_scope() -> None:
    scoped = tq.enforce_scope("{ }", "service.namespace", ['a" || true || "'])
    assert scoped == '{ (resource.service.namespace = "a\\" || true || \\"") }'
    assert isinstance(tq.parse(scoped), tq.SpansetFilter)


def test_unscoped_queries_are_checked_and_canonical() -> None:
    assert tq.canonical("{status=error}") == "{ (status = error) }"
    with pytest.raises(tq.TraceQLSyntaxError):
        tq.canonical("{ status = }")


def test_random_queries_are_refused_or_fully_scoped() -> None:
    """Whatever the text, a query that passes carries the scope in every filter: random
    queries built from the grammar, then mutated by inserting or dropping tokens."""
    rng = random.Random(13)
    junk = ["{", "}", "(", ")", "&&", "||", ">>", "|", '"', "`", "!", "=", ",", "true"]
    atoms = [".x = 1", 'resource.k8s.namespace.name = "team-a"', "status = error",
             'name =~ "a.*"', "duration > 1s", "!(.y = nil)", 'span."a b" != "}"']  # fmt: skip

    def condition(depth: int) -> str:
        if depth > 2 or rng.random() < 0.4:
            return rng.choice(atoms)
        op = rng.choice(["&&", "||"])
        return f"({condition(depth + 1)} {op} {condition(depth + 1)})"

    def spanset(depth: int) -> str:
        if depth > 2 or rng.random() < 0.4:
            return "{ " + (condition(0) if rng.random() < 0.8 else "") + " }"
        op = rng.choice(["&&", "||", ">>", ">", "~", "!>>", "&>>"])
        text = f"{spanset(depth + 1)} {op} {spanset(depth + 1)}"
        if rng.random() < 0.3:
            text = f"({text} | {rng.choice(['count() > 1', 'by(.x)', spanset(depth + 1)])})"
        return text

    passed = 0
    for _ in range(2000):
        tokens = spanset(0).split(" ")
        for _ in range(rng.randint(0, 2)):
            at = rng.randrange(len(tokens) + 1)
            if rng.random() < 0.5:
                tokens.insert(at, rng.choice(junk))
            elif at < len(tokens):
                del tokens[at]
        try:
            scoped = tq.enforce_scope(" ".join(tokens), *SCOPE)
        except (tq.TraceQLSyntaxError, tq.ScopeError):
            continue
        passed += 1
        for spanset_filter in tq.filters(tq.parse(scoped)):
            assert spanset_filter.condition is not None
            assert COND in tq.render(spanset_filter)
    assert passed > 500
