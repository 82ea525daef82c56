"""A LogQL tokenizer and parser for the parts a scope depends on.

No well-kept Python LogQL parser exists, so this one is ours. It reads the whole language a
caller may send (stream selectors, line filters, parsers, label filters, formatting stages,
range and vector aggregations, ``label_replace``, binary operations with their modifiers) and
records what the scope needs: where each stream selector is, its matchers, the label names a
query writes, and the longest range it reads. Strings are read as Loki reads them (double
quotes with escapes, backticks raw), ``#`` comments are dropped, and a single-quoted string is
refused, since Loki does not read it as a string. Anything it does not understand is refused:
a query it cannot read cannot be proven safe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY_CHARS",
    "LogQLSyntaxError",
    "Matcher",
    "Parsed",
    "Selector",
    "parse",
    "quote",
]

MAX_QUERY_CHARS = 8192
MAX_DEPTH = 64

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Numbers, durations (1h30m) and byte sizes (10KB) are one token, as in Loki's lexer.
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?:[A-Za-z]+[0-9]*)*")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_DURATION_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
    "d": 86400, "w": 604800, "y": 31536000,
}  # fmt: skip
_OPERATORS = (
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=",
    "=", ">", "<", "|", "{", "}", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "^",
)  # fmt: skip
_LINE_FILTERS = frozenset({"|=", "!=", "|~", "!~", "|>", "!>"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})
_COMPARE_OPS = frozenset({"=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="})

RANGE_FUNCTIONS = frozenset(
    {"rate", "rate_counter", "count_over_time", "bytes_rate", "bytes_over_time",
     "absent_over_time", "sum_over_time", "avg_over_time", "max_over_time", "min_over_time",
     "first_over_time", "last_over_time", "stdvar_over_time", "stddev_over_time",
     "quantile_over_time"}
)  # fmt: skip
VECTOR_AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "stddev", "stdvar", "count", "topk", "bottomk", "sort",
     "sort_desc", "approx_topk"}
)  # fmt: skip
_PARAM_AGGREGATIONS = frozenset({"topk", "bottomk", "approx_topk"})
# Binary operators by precedence, lowest first; `^` binds right.
_PRECEDENCE = (
    ("or",),
    ("and", "unless"),
    ("==", "!=", ">", ">=", "<", "<="),
    ("+", "-"),
    ("*", "/", "%"),
    ("^",),
)
_KEYWORD_OPS = frozenset({"or", "and", "unless"})
_PARSERS = frozenset({"json", "logfmt", "regexp", "pattern", "unpack"})


class LogQLSyntaxError(ValueError):
    """The text is not LogQL this server can read; the message says where and why."""


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "ident", "num", "op", "end"
    text: str
    start: int
    end: int
    value: str = ""  # a string's decoded value


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str


@dataclass
class Selector:
    """A stream selector: its matchers and where its closing brace is in the query."""

    matchers: list[Matcher]
    close: int


@dataclass
class Parsed:
    """What the scope needs to know about a query."""

    kind: str  # "log" for a log query, "metric" for a metric (or scalar) query
    selectors: list[Selector] = field(default_factory=list)
    # Label names the query writes (label_format, label_replace, parser parameters), with
    # the construct that writes each, for a refusal's message.
    writes: list[tuple[str, str]] = field(default_factory=list)
    longest_range: float = 0.0
    stages: int = 0  # line filters and pipeline stages, in all selectors' pipelines
    text: str = ""  # the query with comments blanked out


def quote(value: str) -> str:
    """A double-quoted LogQL string literal; Go's unquoting reads JSON escapes the same way."""
    return json.dumps(value, ensure_ascii=False)


def duration_seconds(text: str) -> float:
    if not _DURATION.fullmatch(text):
        raise LogQLSyntaxError(f"{text!r} is not a duration; write 5m, 1h or 1h30m")
    return sum(float(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(text))


# --------------------------------------------------------------------------- tokens


def tokenize(query: str) -> tuple[list[Token], str]:
    """The tokens of a query and its text with comments blanked (same offsets)."""
    tokens: list[Token] = []
    chars = list(query)
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            end = query.find("\n", i)
            end = n if end < 0 else end
            chars[i:end] = " " * (end - i)
            i = end
        elif ch == '"':
            end, value = _double_quoted(query, i)
            tokens.append(Token("str", query[i:end], i, end, value))
            i = end
        elif ch == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise LogQLSyntaxError(f"the backtick string at offset {i} is never closed")
            tokens.append(Token("str", query[i : end + 1], i, end + 1, query[i + 1 : end]))
            i = end + 1
        elif ch == "'":
            raise LogQLSyntaxError(
                f"single quotes (offset {i}) do not make a string in LogQL; "
                'use double quotes ("...") or backticks (`...`)'
            )
        elif match := _IDENT.match(query, i):
            tokens.append(Token("ident", match.group(), i, match.end()))
            i = match.end()
        elif match := _NUMBER.match(query, i):
            tokens.append(Token("num", match.group(), i, match.end()))
            i = match.end()
        else:
            op = next((o for o in _OPERATORS if query.startswith(o, i)), None)
            if op is None:
                raise LogQLSyntaxError(f"unexpected character {ch!r} at offset {i}")
            tokens.append(Token("op", op, i, i + len(op)))
            i += len(op)
    tokens.append(Token("end", "", n, n))
    return tokens, "".join(chars)


def _double_quoted(query: str, start: int) -> tuple[int, str]:
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "\n":
            break
        if ch == '"':
            raw = query[start : i + 1]
            try:
                value = json.loads(raw)
            except ValueError:
                value = _go_unquote(raw, start)
            return i + 1, value
        i += 1
    raise LogQLSyntaxError(f"the string at offset {start} is never closed")


def _go_unquote(raw: str, start: int) -> str:
    """Go escapes JSON lacks (\\a \\v \\x41 \\101 \\U0001F600); anything else is refused."""
    out = []
    i = 1
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    simple.update({"\\": "\\", '"': '"', "'": "'"})
    while i < len(raw) - 1:
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = raw[i + 1]
        if esc in simple:
            out.append(simple[esc])
            i += 2
            continue
        widths = {"x": 2, "u": 4, "U": 8}
        try:
            if esc in widths:
                digits = raw[i + 2 : i + 2 + widths[esc]]
                if len(digits) != widths[esc]:
                    raise ValueError(digits)
                out.append(chr(int(digits, 16)))
                i += 2 + widths[esc]
                continue
            if esc in "01234567":
                out.append(chr(int(raw[i + 1 : i + 4], 8)))
                i += 4
                continue
        except ValueError:
            pass
        raise LogQLSyntaxError(f"the string at offset {start} has an invalid escape \\{esc}")
    return "".join(out)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, tokens: list[Token], result: Parsed) -> None:
        self.tokens = tokens
        self.pos = 0
        self.result = result
        self.depth = 0

    # ---- helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def at(self, text: str, kind: str = "op") -> bool:
        return self.tok.kind == kind and self.tok.text == text

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    def take(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            self.fail(f"expected {what}")
        return self.take()

    def expect_kind(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            self.fail(f"expected {what}")
        return self.take()

    def fail(self, message: str) -> None:
        found = "the end of the query" if self.tok.kind == "end" else repr(self.tok.text)
        raise LogQLSyntaxError(f"{message} at offset {self.tok.start}, found {found}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LogQLSyntaxError(
                f"the query is nested more than {MAX_DEPTH} levels deep; split it up"
            )

    # ---- expressions

    def expr(self, level: int = 0) -> str:
        """Parses a binary expression; returns "log", "metric" or "scalar"."""
        if level == len(_PRECEDENCE):
            return self.unary()
        self.enter()
        kind = self.expr(level + 1)
        while self._binary_op(level):
            op = self.take().text
            if kind == "log":
                self.fail(f"a log query cannot be an operand of {op!r}")
            self.bin_modifiers()
            right = self.expr(level if op == "^" else level + 1)
            if right == "log":
                self.fail(f"a log query cannot be an operand of {op!r}")
            kind = "scalar" if kind == right == "scalar" else "metric"
        self.depth -= 1
        return kind

    def _binary_op(self, level: int) -> bool:
        ops = _PRECEDENCE[level]
        token = self.tok
        if token.kind == "ident":
            return token.text.lower() in ops and token.text.lower() in _KEYWORD_OPS
        return token.kind == "op" and token.text in ops

    def bin_modifiers(self) -> None:
        if self.at_word("bool"):
            self.take()
        if self.at_word("on", "ignoring"):
            self.take()
            self.label_list()
        if self.at_word("group_left", "group_right"):
            self.take()
            if self.at("("):
                self.label_list()

    def label_list(self) -> None:
        self.expect("(", "( and label names")
        while not self.at(")"):
            self.expect_kind("ident", "a label name")
            if not self.at(","):
                break
            self.take()
        self.expect(")", ") after label names")

    def unary(self) -> str:
        self.enter()
        try:
            token = self.tok
            if token.kind == "op" and token.text in ("-", "+"):
                self.take()
                kind = self.unary()
                if kind == "log":
                    self.fail("a sign cannot apply to a log query")
                return kind
            if self.at("("):
                self.take()
                kind = self.expr()
                self.expect(")", ") to close (")
                return kind
            if token.kind == "num":
                self.take()
                return "scalar"
            if self.at("{"):
                self.log_expr()
                return "log"
            if token.kind == "ident":
                return self.call()
            self.fail("expected a stream selector, a function or a number")
            raise AssertionError("unreachable")
        finally:
            self.depth -= 1

    def call(self) -> str:
        name = self.tok.text
        lowered = name.lower()
        if lowered in RANGE_FUNCTIONS:
            self.take()
            self.range_aggregation(lowered)
        elif lowered in VECTOR_AGGREGATIONS:
            self.take()
            self.vector_aggregation(lowered)
        elif lowered == "label_replace":
            self.take()
            self.label_replace()
        elif lowered == "vector":
            self.take()
            self.expect("(", "( after vector")
            self.expect_kind("num", "a number")
            self.expect(")", ") after vector's number")
        else:
            self.fail(f"unknown function {name!r}")
        return "metric"

    def grouping(self) -> None:
        if self.at_word("by", "without"):
            self.take()
            self.label_list()

    def range_aggregation(self, name: str) -> None:
        self.expect("(", f"( after {name}")
        if name == "quantile_over_time":
            self.expect_kind("num", "the quantile, e.g. 0.99")
            self.expect(",", ", after the quantile")
        self.log_range()
        self.expect(")", f") to close {name}(")
        self.grouping()

    def log_range(self) -> None:
        """`{...} |= "x" [5m]`, `{...}[5m] |= "x"` or `({...} |= "x")[5m]`, with offset."""
        if self.at("("):
            self.take()
            self.log_expr()
            self.expect(")", ") to close the log query")
            self.range()
        else:
            self.selector()
            if self.at("["):
                self.range()
                self.pipeline()
            else:
                self.pipeline()
                self.range()
        if self.at_word("offset"):
            self.take()
            self.duration()

    def range(self) -> None:
        self.expect("[", "a range such as [5m]")
        seconds = self.duration()
        self.result.longest_range = max(self.result.longest_range, seconds)
        self.expect("]", "] to close the range")

    def duration(self) -> float:
        token = self.expect_kind("num", "a duration such as 5m")
        return duration_seconds(token.text)

    def vector_aggregation(self, name: str) -> None:
        self.grouping()
        self.expect("(", f"( after {name}")
        if name in _PARAM_AGGREGATIONS:
            self.expect_kind("num", f"the number of series for {name}")
            self.expect(",", ", after the number")
        if self.expr() == "log":
            self.fail(f"{name} needs a metric query, such as count_over_time({{...}}[5m])")
        self.expect(")", f") to close {name}(")
        self.grouping()

    def label_replace(self) -> None:
        self.expect("(", "( after label_replace")
        if self.expr() == "log":
            self.fail("label_replace needs a metric query")
        args = []
        for what in ("destination label", "replacement", "source label", "regex"):
            self.expect(",", f", before the {what}")
            args.append(self.expect_kind("str", f"the {what} as a string").value)
        self.expect(")", ") to close label_replace(")
        self.result.writes.append((args[0], "label_replace"))

    # ---- log queries

    def log_expr(self) -> None:
        self.selector()
        self.pipeline()

    def selector(self) -> None:
        self.expect("{", "{ to start a stream selector")
        matchers = []
        while not self.at("}"):
            name = self.expect_kind("ident", "a label name").text
            if not (self.tok.kind == "op" and self.tok.text in _MATCH_OPS):
                self.fail("expected =, !=, =~ or !~")
            op = self.take().text
            value = self.expect_kind("str", "a quoted label value").value
            matchers.append(Matcher(name, op, value))
            if self.at(","):
                self.take()
                if self.at("}"):
                    self.fail("expected a label matcher after the comma")
            elif not self.at("}"):
                self.fail("expected , or }")
        close = self.take()
        self.result.selectors.append(Selector(matchers, close.start))

    def pipeline(self) -> None:
        while True:
            if self.tok.kind == "op" and self.tok.text in _LINE_FILTERS:
                self.result.stages += 1
                self.take()
                self.filter_value()
                while self.at_word("or"):
                    self.take()
                    self.filter_value()
            elif self.at("|"):
                self.result.stages += 1
                self.take()
                self.stage()
            else:
                return

    def filter_value(self) -> None:
        if self.at_word("ip"):
            self.take()
            self.expect("(", "( after ip")
            self.expect_kind("str", "an IP or CIDR string")
            self.expect(")", ") after ip(...)")
            return
        self.expect_kind("str", "a quoted string after the line filter")

    def stage(self) -> None:
        word = self.tok.text.lower() if self.tok.kind == "ident" else ""
        # A label filter may use a stage's name as a label (`| json="x"`): stages are only
        # stages when not followed by a comparison.
        if word and self.peek().kind == "op" and self.peek().text in _COMPARE_OPS:
            word = ""
        if word in ("json", "logfmt"):
            self.take()
            self.parser_parameters(word)
        elif word in ("regexp", "pattern"):
            self.take()
            self.expect_kind("str", f"the {word} expression as a string")
        elif word in ("unpack", "decolorize"):
            self.take()
        elif word == "line_format":
            self.take()
            self.expect_kind("str", "the line_format template as a string")
        elif word == "label_format":
            self.take()
            self.label_format()
        elif word in ("drop", "keep"):
            self.take()
            self.drop_keep(word)
        elif word == "unwrap":
            self.take()
            name = self.expect_kind("ident", "a label name to unwrap").text
            if self.at("("):
                if name.lower() not in ("duration", "duration_seconds", "bytes"):
                    self.fail("unwrap knows duration(), duration_seconds() and bytes()")
                self.take()
                self.expect_kind("ident", "a label name")
                self.expect(")", ") after the label name")
        elif word == "distinct":
            self.take()
            self.names()
        else:
            self.label_filter()

    def parser_parameters(self, parser: str) -> None:
        while self.at("-"):  # logfmt --strict --keep-empty
            self.take()
            self.expect("-", "--flag")
            self.expect_kind("ident", "a flag name")
        while self.tok.kind == "ident" and not self.at_word("or", "and"):
            name = self.take().text
            if self.at("="):
                self.take()
                self.expect_kind("str", "a quoted expression")
            self.result.writes.append((name, f"| {parser}"))
            if not self.at(","):
                return
            self.take()

    def label_format(self) -> None:
        while True:
            name = self.expect_kind("ident", "a label name").text
            self.expect("=", "= in label_format")
            if self.tok.kind not in ("str", "ident"):
                self.fail("expected a template string or a label name")
            self.take()
            self.result.writes.append((name, "label_format"))
            if not self.at(","):
                return
            self.take()

    def drop_keep(self, stage: str) -> None:
        while True:
            self.expect_kind("ident", f"a label name to {stage}")
            if self.tok.kind == "op" and self.tok.text in _MATCH_OPS:
                self.take()
                self.expect_kind("str", "a quoted value")
            if not self.at(","):
                return
            self.take()

    def names(self) -> None:
        while True:
            self.expect_kind("ident", "a label name")
            if not self.at(","):
                return
            self.take()

    def label_filter(self) -> None:
        self.label_filter_term()
        while self.at_word("and", "or") or self.at(","):
            # `or` followed by a string belongs to a line filter; never here.
            self.take()
            self.label_filter_term()

    def label_filter_term(self) -> None:
        self.enter()
        try:
            if self.at("("):
                self.take()
                self.label_filter()
                self.expect(")", ") to close the label filter")
                return
            self.expect_kind("ident", 'a stage or a label filter such as level="error"')
            if not (self.tok.kind == "op" and self.tok.text in _COMPARE_OPS):
                self.fail("expected a comparison (=, !=, =~, !~, ==, >, >=, <, <=)")
            self.take()
            if self.at_word("ip"):
                self.filter_value()
                return
            if self.at("-"):
                self.take()
            if self.tok.kind not in ("str", "num"):
                self.fail("expected a string, number, duration or byte size")
            self.take()
        finally:
            self.depth -= 1


def parse(query: str) -> Parsed:
    """Parse a LogQL query; raises LogQLSyntaxError naming the offset and what was expected."""
    if not query.strip():
        raise LogQLSyntaxError('the query is empty; send a LogQL query such as {app="api"}')
    if len(query) > MAX_QUERY_CHARS:
        raise LogQLSyntaxError(
            f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    tokens, text = tokenize(query)
    result = Parsed(kind="log", text=text)
    parser = _Parser(tokens, result)
    kind = parser.expr()
    if parser.tok.kind != "end":
        parser.fail("expected the end of the query")
    result.kind = "log" if kind == "log" else "metric"
    return result
