"""TraceQL parsed into a tree, forced inside a role's scope and printed back.

A scoped role's query is never matched against patterns: it is parsed into the tree below,
the scope condition is joined to the condition of **every** span set filter
(`{ X }` becomes `{ (X) && (resource.k8s.namespace.name = "team-a") }`, `{}` becomes
`{ resource.k8s.namespace.name = "team-a" }`), the tree is printed in a canonical, fully
bracketed form, and the printed text is parsed again and proved to be the original plus the
scope before it is sent. So every condition, structural operator and aggregate is evaluated on
in-scope spans only: a trace cannot be found through the attributes of a span outside the scope.

Behaviour decisions:

* Precedence follows Tempo's grammar: `&&` and `||` share one level (left to right), below
  comparisons and structural operators; the printer brackets everything, so the text sent
  means exactly the tree.
* Refused under a scope: `parent.` attributes and the root span's name (`rootName`,
  `trace:rootName`), which read spans the scope may not cover; an equality on the scope
  attribute naming a value outside the scope (it could only return nothing, which would read
  as "no such traces").
* Always refused: anything this parser does not know (functions, hints, scopes of attributes,
  operators), queries over `MAX_QUERY_CHARS` characters or nested deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY_CHARS",
    "Attribute",
    "ScopeError",
    "TraceQLSyntaxError",
    "enforce_scope",
    "filters",
    "parse",
    "render",
]

MAX_QUERY_CHARS = 4096
MAX_DEPTH = 64


class TraceQLSyntaxError(ValueError):
    """The text is not TraceQL this server understands; the message says where and why."""


class ScopeError(ValueError):
    """Valid TraceQL that cannot be proven to stay inside the caller's scope."""


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Static:
    """A literal; `kind` is string, int, float, duration, bool, nil, status or kind."""

    kind: str
    text: str


@dataclass(frozen=True)
class Attribute:
    """`scope` is "" (unscoped `.x`), span, resource, event, link, instrumentation; `parent`
    marks `parent.`."""

    scope: str
    name: str
    parent: bool = False


@dataclass(frozen=True)
class Intrinsic:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Field


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Field
    rhs: Field


Field = Static | Attribute | Intrinsic | Unary | Binary


@dataclass(frozen=True)
class SpansetFilter:
    condition: Field | None


@dataclass(frozen=True)
class SpansetOp:
    op: str
    lhs: Spanset
    rhs: Spanset


@dataclass(frozen=True)
class Aggregate:
    fn: str
    field: Field | None


@dataclass(frozen=True)
class ScalarOp:
    op: str
    lhs: Scalar
    rhs: Scalar


Scalar = Aggregate | Static | ScalarOp


@dataclass(frozen=True)
class ScalarFilter:
    op: str
    lhs: Scalar
    rhs: Scalar


@dataclass(frozen=True)
class Call:
    """A stage written as a function: by, select, coalesce, metrics functions, topk."""

    fn: str
    args: tuple[Field, ...] = ()
    by: tuple[Field, ...] | None = None


@dataclass(frozen=True)
class Pipeline:
    source: Spanset
    stages: tuple[Stage, ...]


Spanset = SpansetFilter | SpansetOp | Pipeline
Stage = Spanset | ScalarFilter | Call

# --------------------------------------------------------------------------- vocabulary

_FIELD_BINARY = {
    "||": 1, "&&": 1,
    "=": 2, "!=": 2, "<": 2, "<=": 2, ">": 2, ">=": 2, "=~": 2, "!~": 2,
    "+": 3, "-": 3,
    "*": 4, "/": 4, "%": 4,
    "^": 5,
}  # fmt: skip
_STRUCTURAL = frozenset(
    {">>", ">", "<<", "<", "~", "!>>", "!>", "!<<", "!<", "!~", "&>>", "&>", "&<<", "&<", "&~"}
)
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_AGGREGATES = frozenset({"count", "avg", "min", "max", "sum"})
_METRICS = {
    # name -> (number of field arguments required, optional extra numeric arguments allowed)
    "rate": (0, False),
    "count_over_time": (0, False),
    "min_over_time": (1, False),
    "max_over_time": (1, False),
    "avg_over_time": (1, False),
    "sum_over_time": (1, False),
    "quantile_over_time": (1, True),
    "histogram_over_time": (1, False),
}
_RANKING = frozenset({"topk", "bottomk"})
_SCOPES = ("span", "resource", "event", "link", "instrumentation")
_INTRINSICS = frozenset(
    {"duration", "name", "status", "statusMessage", "kind", "childCount", "parent",
     "rootName", "rootServiceName", "traceDuration", "nestedSetLeft", "nestedSetRight",
     "nestedSetParent",
     "span:duration", "span:name", "span:kind", "span:status", "span:statusMessage",
     "span:id", "span:parentID", "span:childCount",
     "trace:duration", "trace:rootName", "trace:rootService", "trace:id",
     "event:name", "event:timeSinceStart", "link:spanID", "link:traceID",
     "instrumentation:name", "instrumentation:version"}
)  # fmt: skip
_NUMERIC = frozenset({"int", "float", "duration"})
_ROOT_NAME = frozenset({"rootName", "trace:rootName"})
_KEYWORD_STATICS = {
    "true": "bool", "false": "bool", "nil": "nil",
    "error": "status", "ok": "status", "unset": "status",
    "unspecified": "kind", "internal": "kind", "server": "kind", "client": "kind",
    "producer": "kind", "consumer": "kind",
}  # fmt: skip

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<duration>(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+(?![A-Za-z0-9_]))
  | (?P<number>\.\d+(?![A-Za-z0-9_.])|\d+\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)(?![A-Za-z_])
  | (?P<attr>(?:parent\.)?(?:(?:span|resource|event|link|instrumentation)?\.)
             (?:"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_./@$:-]+))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9_]*)?)
  | (?P<op>!>>|!<<|&>>|&<<|>>|<<|&&|\|\||!=|<=|>=|=~|!~|!>|!<|&>|&<|&~|[{}()=<>!~+\-*/%^|,])
    """,
    re.VERBOSE,
)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "'": "'"}
_PRINT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


# --------------------------------------------------------------------------- parsing


def _tokens(text: str) -> list[_Token]:
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise TraceQLSyntaxError(
                f"unexpected character {text[at]!r} at column {at + 1}; check quotes and operators"
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), at))
        at = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    out = []
    body = literal[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xu" and re.fullmatch(
            r"[0-9A-Fa-f]+", body[i + 2 : i + (4 if nxt == "x" else 6)]
        ):
            width = 2 if nxt == "x" else 4
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            raise TraceQLSyntaxError(f"unknown escape \\{nxt} in the string {literal}")
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    # -- helpers
    @property
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek.kind in ("op", "ident") and self.peek.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str, what: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {text!r} {what}")

    def fail(self, message: str) -> None:
        token = self.peek
        found = "the end of the query" if token.kind == "end" else repr(token.text)
        raise TraceQLSyntaxError(f"{message}, found {found} at column {token.at + 1}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TraceQLSyntaxError(
                f"the query is nested more than {MAX_DEPTH} levels deep; simplify it"
            )

    # -- grammar
    def query(self) -> Spanset:
        result = self.pipeline()
        if self.peek.kind != "end":
            self.fail("expected an operator or the end of the query")
        return result

    def pipeline(self) -> Spanset:
        source = self.spanset(0)
        stages: list[Stage] = []
        while self.accept("|"):
            stages.append(self.stage())
        return Pipeline(source, tuple(stages)) if stages else source

    def spanset(self, level: int) -> Spanset:
        """Level 0: `&&` and `||`; level 1: structural operators (binding tighter)."""
        self.enter()
        lhs = self.spanset(level + 1) if level == 0 else self.spanset_primary()
        while True:
            token = self.peek
            if token.kind != "op":
                break
            if level == 0 and token.text in ("&&", "||"):
                self.next()
                lhs = SpansetOp(token.text, lhs, self.spanset(1))
            elif level == 1 and token.text in _STRUCTURAL:
                self.next()
                lhs = SpansetOp(token.text, lhs, self.spanset_primary())
            else:
                break
        self.depth -= 1
        return lhs

    def spanset_primary(self) -> Spanset:
        self.enter()
        if self.accept("{"):
            condition = None if self.peek.text == "}" else self.field(0)
            self.expect("}", "to close the span set filter")
            result: Spanset = SpansetFilter(condition)
        elif self.accept("("):
            result = self.pipeline()
            self.expect(")", "to close the bracket")
        else:
            self.fail("expected a span set filter such as { status = error }")
            raise AssertionError  # unreachable: fail raises
        self.depth -= 1
        return result

    def stage(self) -> Stage:
        token = self.peek
        if token.kind == "ident" and self.tokens[self.pos + 1].text == "(":
            name = token.text
            if name == "by":
                self.next()
                self.expect("(", "after by")
                args = (self.field(0),)
                self.expect(")", "to close by(")
                return Call("by", args)
            if name == "select":
                self.next()
                return Call("select", self.field_list("select"))
            if name == "coalesce":
                self.next()
                self.expect("(", "after coalesce")
                self.expect(")", "coalesce() takes no arguments")
                return Call("coalesce")
            if name in _METRICS:
                return self.metrics()
            if name in _RANKING:
                self.next()
                self.expect("(", f"after {name}")
                count = self.next()
                if count.kind != "number" or not count.text.isdigit():
                    self.pos -= 1
                    self.fail(f"{name}() takes a whole number")
                self.expect(")", f"to close {name}(")
                return Call(name, (Static("int", count.text),))
            if name not in _AGGREGATES:
                self.fail(f"unknown pipeline function {name}()")
        if token.text in ("{", "("):
            return self.spanset(0)
        lhs = self.scalar(0)
        op = self.next()
        if op.text not in _COMPARISONS:
            self.pos -= 1
            self.fail("expected a comparison after the aggregate, e.g. count() > 2")
        return ScalarFilter(op.text, lhs, self.scalar(0))

    def metrics(self) -> Call:
        name = self.next().text
        fields, extra = _METRICS[name]
        self.expect("(", f"after {name}")
        args: list[Field] = []
        if fields:
            args.append(self.field(0))
            while extra and self.accept(","):
                number = self.next()
                if number.kind != "number":
                    self.pos -= 1
                    self.fail(f"{name}() takes numbers after its field")
                kind = "float" if "." in number.text else "int"
                args.append(Static(kind, _number(number.text)))
        self.expect(")", f"to close {name}(")
        by = self.field_list("by") if self.accept("by") else None
        return Call(name, tuple(args), by)

    def field_list(self, what: str) -> tuple[Field, ...]:
        self.expect("(", f"after {what}")
        items = [self.field(0)]
        while self.accept(","):
            items.append(self.field(0))
        self.expect(")", f"to close {what}(")
        return tuple(items)

    def scalar(self, min_level: int) -> Scalar:
        self.enter()
        lhs = self.scalar_primary()
        while True:
            token = self.peek
            level = _FIELD_BINARY.get(token.text) if token.kind == "op" else None
            if level is None or level < max(min_level, 3):
                break
            self.next()
            lhs = ScalarOp(token.text, lhs, self.scalar(level if token.text == "^" else level + 1))
        self.depth -= 1
        return lhs

    def scalar_primary(self) -> Scalar:
        token = self.peek
        if token.kind == "ident" and token.text in _AGGREGATES:
            self.next()
            self.expect("(", f"after {token.text}")
            field = None
            if token.text != "count":
                field = self.field(0)
            self.expect(")", f"to close {token.text}(")
            return Aggregate(token.text, field)
        if self.accept("("):
            inner = self.scalar(0)
            self.expect(")", "to close the bracket")
            return inner
        static = self.static()
        if static is None:
            self.fail("expected an aggregate (count(), avg(duration), ...) or a number")
            raise AssertionError
        return static

    def field(self, min_level: int) -> Field:
        """Precedence climbing over Tempo's levels; all binary operators are left-associative
        except `^`."""
        self.enter()
        lhs = self.unary()
        while True:
            token = self.peek
            level = _FIELD_BINARY.get(token.text) if token.kind == "op" else None
            if level is None or level < min_level:
                break
            self.next()
            rhs = self.field(level if token.text == "^" else level + 1)
            lhs = Binary(token.text, lhs, rhs)
        self.depth -= 1
        return lhs

    def unary(self) -> Field:
        if self.peek.kind == "op" and self.peek.text in ("!", "-"):
            op = self.next().text
            self.enter()
            operand = self.unary()
            self.depth -= 1
            negative = isinstance(operand, Static) and operand.text.startswith("-")
            if (
                op == "-"
                and isinstance(operand, Static)
                and operand.kind in _NUMERIC
                and not negative
            ):
                return Static(operand.kind, "-" + operand.text)
            return Unary(op, operand)
        if self.accept("("):
            inner = self.field(0)
            self.expect(")", "to close the bracket")
            return inner
        token = self.peek
        if token.kind == "attr":
            self.next()
            return _attribute(token)
        if token.kind == "ident" and token.text in _INTRINSICS:
            self.next()
            return Intrinsic(token.text)
        static = self.static()
        if static is None:
            if token.kind == "ident":
                self.fail(
                    f"unknown name {token.text!r}: attributes start with '.', 'span.' or "
                    "'resource.'; intrinsics are duration, name, status, kind, ..."
                )
            self.fail("expected an attribute, an intrinsic or a value")
            raise AssertionError
        return static

    def static(self) -> Static | None:
        token = self.peek
        if token.kind == "string":
            self.next()
            return Static("string", _unquote(token.text))
        if token.kind == "duration":
            self.next()
            return Static("duration", token.text.replace("µs", "us"))
        if token.kind == "number":
            self.next()
            return Static("int" if token.text.isdigit() else "float", _number(token.text))
        if token.kind == "ident" and token.text in _KEYWORD_STATICS:
            self.next()
            return Static(_KEYWORD_STATICS[token.text], token.text)
        return None


def _number(text: str) -> str:
    return "0" + text if text.startswith(".") else text


def _attribute(token: _Token) -> Attribute:
    text = token.text
    parent = text.startswith("parent.")
    if parent:
        text = text[len("parent.") :]
    scope, _, name = text.partition(".")
    if name.startswith('"'):
        name = _unquote(name)
    if not name or (name.endswith(".") and not token.text.endswith('"')):
        raise TraceQLSyntaxError(
            f"the attribute {token.text!r} at column {token.at + 1} has no name"
        )
    return Attribute(scope, name, parent)


def parse(text: str) -> Spanset:
    """The tree of a TraceQL query; TraceQLSyntaxError says where it went wrong."""
    if not isinstance(text, str) or not text.strip():
        raise TraceQLSyntaxError("the query is empty; send TraceQL such as { status = error }")
    if len(text) > MAX_QUERY_CHARS:
        raise TraceQLSyntaxError(
            f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    return _Parser(text).query()


# --------------------------------------------------------------------------- printing


def _quote(value: str) -> str:
    out = []
    for ch in value:
        if ch in _PRINT_ESCAPES:
            out.append(_PRINT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _render_field(node: Field) -> str:
    if isinstance(node, Static):
        return _quote(node.text) if node.kind == "string" else node.text
    if isinstance(node, Attribute):
        name = node.name
        bare = _BARE_NAME.fullmatch(name) and not name.endswith(".")
        text = f"{node.scope}.{name if bare else _quote(name)}"
        return f"parent.{text}" if node.parent else text
    if isinstance(node, Intrinsic):
        return node.name
    if isinstance(node, Unary):
        return f"{node.op}({_render_field(node.operand)})"
    return f"({_render_field(node.lhs)} {node.op} {_render_field(node.rhs)})"


def _render_scalar(node: Scalar) -> str:
    if isinstance(node, Aggregate):
        return f"{node.fn}({'' if node.field is None else _render_field(node.field)})"
    if isinstance(node, Static):
        return _render_field(node)
    return f"({_render_scalar(node.lhs)} {node.op} {_render_scalar(node.rhs)})"


def _render_stage(node: Stage) -> str:
    if isinstance(node, ScalarFilter):
        return f"{_render_scalar(node.lhs)} {node.op} {_render_scalar(node.rhs)}"
    if isinstance(node, Call):
        text = f"{node.fn}({', '.join(_render_field(a) for a in node.args)})"
        if node.by is not None:
            text += f" by ({', '.join(_render_field(b) for b in node.by)})"
        return text
    return render(node)


def render(node: Spanset) -> str:
    """Canonical TraceQL: every operation bracketed, strings quoted and escaped."""
    if isinstance(node, SpansetFilter):
        return "{ }" if node.condition is None else "{ " + _render_field(node.condition) + " }"
    if isinstance(node, SpansetOp):
        return f"({render(node.lhs)} {node.op} {render(node.rhs)})"
    stages = " | ".join(_render_stage(stage) for stage in node.stages)
    return f"({render(node.source)} | {stages})"


# --------------------------------------------------------------------------- the scope


def scope_condition(attribute: str, values: Sequence[str]) -> Field:
    """`resource.<attribute> = v1 || resource.<attribute> = v2 ...` for the allowed values."""
    if not values:
        raise ValueError("a scope needs at least one allowed value")
    terms: list[Field] = [
        Binary("=", Attribute("resource", attribute), Static("string", value))
        for value in sorted(set(values))
    ]
    condition = terms[0]
    for term in terms[1:]:
        condition = Binary("||", condition, term)
    return condition


def _fields(node: Field) -> Iterator[Field]:
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Unary):
            stack.append(item.operand)
        elif isinstance(item, Binary):
            stack.extend((item.lhs, item.rhs))


def _check_field(node: Field, attribute: str, allowed: Sequence[str]) -> None:
    for item in _fields(node):
        if isinstance(item, Attribute) and item.parent:
            raise ScopeError(
                f"parent.{item.scope}.{item.name} reads the parent span, which may be outside "
                "your scope; filter on the span's own attributes instead"
            )
        if isinstance(item, Intrinsic) and item.name in _ROOT_NAME:
            raise ScopeError(
                f"{item.name} reads the root span, which may be outside your scope; use "
                "rootServiceName or filter on your own spans' names"
            )
        if isinstance(item, Binary) and item.op == "=":
            for side, other in ((item.lhs, item.rhs), (item.rhs, item.lhs)):
                if (
                    isinstance(side, Attribute)
                    and side.name == attribute
                    and side.scope in ("", "resource")
                    and isinstance(other, Static)
                    and other.kind == "string"
                    and other.text not in allowed
                ):
                    raise ScopeError(
                        f"the query asks for {attribute} = {other.text!r}, outside your scope; "
                        f"allowed values: {', '.join(allowed)}. Use one of those, or drop the "
                        "condition to search all of them."
                    )


def _scoped(node: Spanset, condition: Field, attribute: str, allowed: Sequence[str]) -> Spanset:
    if isinstance(node, SpansetFilter):
        if node.condition is None:
            return SpansetFilter(condition)
        _check_field(node.condition, attribute, allowed)
        return SpansetFilter(Binary("&&", node.condition, condition))
    if isinstance(node, SpansetOp):
        return SpansetOp(
            node.op,
            _scoped(node.lhs, condition, attribute, allowed),
            _scoped(node.rhs, condition, attribute, allowed),
        )
    stages: list[Stage] = []
    for stage in node.stages:
        if isinstance(stage, ScalarFilter | Call):
            for item in _stage_fields(stage):
                _check_field(item, attribute, allowed)
            stages.append(stage)
        else:
            stages.append(_scoped(stage, condition, attribute, allowed))
    return Pipeline(_scoped(node.source, condition, attribute, allowed), tuple(stages))


def _stage_fields(stage: ScalarFilter | Call) -> Iterator[Field]:
    if isinstance(stage, Call):
        yield from stage.args
        yield from stage.by or ()
        return
    stack: list[Scalar] = [stage.lhs, stage.rhs]
    while stack:
        item = stack.pop()
        if isinstance(item, Aggregate) and item.field is not None:
            yield item.field
        elif isinstance(item, ScalarOp):
            stack.extend((item.lhs, item.rhs))


def filters(node: Spanset) -> Iterator[SpansetFilter]:
    stack: list[Spanset] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, SpansetFilter):
            yield item
        elif isinstance(item, SpansetOp):
            stack.extend((item.lhs, item.rhs))
        else:
            stack.append(item.source)
            stack.extend(s for s in item.stages if not isinstance(s, ScalarFilter | Call))


def enforce_scope(query: str, attribute: str, values: Sequence[str]) -> str:
    """`query` with the scope condition in every span set filter, proven by re-parsing.

    Raises TraceQLSyntaxError for text this parser does not accept and ScopeError for a query
    that cannot be kept inside the scope; the messages say what to change.
    """
    original = parse(query)
    condition = scope_condition(attribute, values)
    allowed = sorted(set(values))
    scoped = _scoped(original, condition, attribute, allowed)
    text = render(scoped)
    refused = "the scoped query failed its safety check, so it was refused"
    try:
        reparsed = parse(text)
    except TraceQLSyntaxError as exc:
        raise ScopeError(f"{refused} ({exc}); simplify the query") from exc
    if reparsed != scoped:
        raise ScopeError(f"{refused}: it does not mean the same as the original query")
    found = list(filters(reparsed))
    if len(found) != len(list(filters(original))):
        raise ScopeError(f"{refused}: the number of span set filters changed")
    for item in found:
        held = item.condition
        if not (
            held == condition
            or (isinstance(held, Binary) and held.op == "&&" and held.rhs == condition)
        ):
            raise ScopeError(f"{refused}: a span set filter lacks the scope condition")
    return text


def canonical(query: str) -> str:
    """An unscoped query, checked and printed canonically (same meaning)."""
    return render(parse(query))


def is_metrics(query: str) -> bool:
    """True when the query ends in a metrics function (| rate(), | count_over_time(), ...)."""
    tree = parse(query)
    return isinstance(tree, Pipeline) and any(
        isinstance(stage, Call) and stage.fn in _METRICS for stage in tree.stages
    )
