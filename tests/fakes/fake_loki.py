"""A FAKE Loki for tests: a real HTTP server on loopback serving streams from a fixture file.

Loki is AGPL and cannot run here, so this speaks the documented HTTP API (`query_range`,
`query`, `labels`, `label/<name>/values`, `series`, `index/stats`, `index/volume`,
`patterns`, `ready`, `push`) with its exact JSON shapes (streams, matrix, vector, stats) and
its error shapes (400 with a parse message as text, 429, 5xx). It reads its own small LogQL
subset, written independently of the server's parser so that one cannot hide the other's
mistakes: selectors with all four matcher kinds, line filters, `| json`, `| logfmt`, label
filters, `count_over_time` / `rate` / `bytes_over_time` with `sum|count|max|min|avg by`, and
arithmetic or comparison between two of them. Tenants come from `X-Scope-OrgID` (none is
`fake`, as in a Loki with auth off). With `LOKI_URL` set, the `loki` fixture pushes the same
streams into that (disposable) Loki and the same tests run against it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

FIXTURE = Path(__file__).with_name("loki_streams.json")
DEFAULT_TENANT = "fake"
_TOKEN = re.compile(
    r'\s+|"(?:[^"\\]|\\.)*"|`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?[a-zA-Z]*'
    r"|\|=|\|~|!=|!~|=~|==|>=|<=|[{}()\[\],|=<>/*+-]"
)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RANGE_FNS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate"}
_AGGS = {"sum", "count", "max", "min", "avg"}


class ParseError(Exception):
    pass


@dataclass
class Stream:
    tenant: str
    labels: dict[str, str]
    entries: list[tuple[int, str]]  # (ns, line), oldest first


@dataclass
class Seen:
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]


@dataclass
class FakeLoki:
    streams: list[Stream]
    patterns_served: bool = True
    delay: float = 0.0
    token: str | None = None  # when set, requests need `Authorization: Bearer <token>`
    requests: list[Seen] = field(default_factory=list)
    _failures: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self._http = LoopbackServer(app, "fake Loki")
        self.url = self._http.url

    def __enter__(self) -> FakeLoki:
        self._http.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.stop()

    def fail_next(self, status: int, body: str, times: int = 1) -> None:
        """The next `times` API requests get this status and text body, as Loki sends them."""
        self._failures.extend([(status, body)] * times)

    def api_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith("/loki/api/v1/")]

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        params = list(request.query_params.multi_items())
        self.requests.append(Seen(path, params, dict(request.headers)))
        await asyncio.sleep(self.delay)
        if (
            self.token is not None
            and request.headers.get("authorization") != f"Bearer {self.token}"
        ):
            return PlainTextResponse("no valid credentials", status_code=401)
        if path == "/ready":
            return PlainTextResponse("ready")
        if self._failures and path.startswith("/loki/api/v1/"):
            status, body = self._failures.pop(0)
            return PlainTextResponse(body, status_code=status)
        tenants = request.headers.get("x-scope-orgid", DEFAULT_TENANT).split("|")
        query = dict(params)
        try:
            if path == "/loki/api/v1/push" and request.method == "POST":
                return self._push(await request.json(), tenants[0])
            if path == "/loki/api/v1/series":
                return _ok(self._series(params, tenants))
            if path.startswith("/loki/api/v1/label/") and path.endswith("/values"):
                name = path.removeprefix("/loki/api/v1/label/").removesuffix("/values")
                return _ok(self._label_values(name, query, tenants))
            handlers = {
                "/loki/api/v1/query_range": self._query_range,
                "/loki/api/v1/query": self._query,
                "/loki/api/v1/labels": self._labels,
                "/loki/api/v1/index/stats": self._stats,
                "/loki/api/v1/index/volume": self._volume,
            }
            if self.patterns_served:
                handlers["/loki/api/v1/patterns"] = self._patterns
            handler = handlers.get(path)
            if handler is None:
                return PlainTextResponse("404 page not found", status_code=404)
            return handler(query, tenants)
        except ParseError as exc:
            return PlainTextResponse(str(exc), status_code=400)

    def _push(self, body: dict[str, Any], tenant: str) -> Response:
        for item in body["streams"]:
            entries = [(int(ts), line) for ts, line, *_ in item["values"]]
            self.streams.append(Stream(tenant, dict(item["stream"]), sorted(entries)))
        return Response(status_code=204)

    # ------------------------------------------------------------------ endpoints

    def _query_range(self, query: dict[str, str], tenants: list[str]) -> Response:
        start, end = _range(query)
        node = _Parser(query.get("query", "")).parse()
        if node[0] == "log":
            return self._log_answer(node, query, tenants, start, end)
        step = float(query.get("step", "60"))
        series: dict[tuple[tuple[str, str], ...], list[list[Any]]] = defaultdict(list)
        t = start / 1e9
        while t <= end / 1e9 + 1e-9:
            for labels, value in self._eval(node, tenants, t).items():
                series[labels].append([round(t, 3), _num(value)])
            t += step
        result = [{"metric": dict(k), "values": v} for k, v in sorted(series.items())]
        return _ok({"resultType": "matrix", "result": result, "stats": _stats_block()})

    def _query(self, query: dict[str, str], tenants: list[str]) -> Response:
        at = _time(query.get("time"), time.time_ns())
        node = _Parser(query.get("query", "")).parse()
        if node[0] == "log":
            return self._log_answer(node, query, tenants, at - 3600 * 10**9, at)
        vector = self._eval(node, tenants, at / 1e9)
        result = [
            {"metric": dict(k), "value": [round(at / 1e9, 3), _num(v)]}
            for k, v in sorted(vector.items())
        ]
        return _ok({"resultType": "vector", "result": result, "stats": _stats_block()})

    def _log_answer(
        self, node: tuple[Any, ...], query: dict[str, str], tenants: list[str], start: int, end: int
    ) -> Response:
        limit = int(query.get("limit", "100"))
        backward = query.get("direction", "backward") == "backward"
        found = [
            (ts, labels, line)
            for ts, labels, line in self._lines(node, tenants)
            if start <= ts < end
        ]
        found.sort(key=lambda e: e[0], reverse=backward)
        grouped: dict[tuple[tuple[str, str], ...], list[list[str]]] = defaultdict(list)
        for ts, labels, line in found[:limit]:
            grouped[tuple(sorted(labels.items()))].append([str(ts), line])
        result = [{"stream": dict(k), "values": v} for k, v in grouped.items()]
        return _ok({"resultType": "streams", "result": result, "stats": _stats_block()})

    def _labels(self, query: dict[str, str], tenants: list[str]) -> Response:
        streams = self._matching(query.get("query"), tenants, *_range(query))
        return _ok(sorted({name for s in streams for name in s.labels}))

    def _label_values(self, name: str, query: dict[str, str], tenants: list[str]) -> list[str]:
        streams = self._matching(query.get("query"), tenants, *_range(query))
        return sorted({s.labels[name] for s in streams if name in s.labels})

    def _series(self, params: list[tuple[str, str]], tenants: list[str]) -> list[dict[str, str]]:
        query = dict(params)
        matches = [v for k, v in params if k == "match[]"]
        if not matches:
            raise ParseError("at least one match[] argument is required")
        seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for match in matches:
            for s in self._matching(match, tenants, *_range(query)):
                seen[tuple(sorted(s.labels.items()))] = s.labels
        return list(seen.values())

    def _stats(self, query: dict[str, str], tenants: list[str]) -> Response:
        start, end = _range(query)
        streams = self._matching(query.get("query") or "", tenants, start, end)
        entries = [line for s in streams for ts, line in s.entries if start <= ts < end]
        return JSONResponse(
            {
                "streams": len(streams),
                "chunks": len(streams),
                "entries": len(entries),
                "bytes": sum(len(line.encode()) for line in entries),
            }
        )

    def _volume(self, query: dict[str, str], tenants: list[str]) -> Response:
        start, end = _range(query)
        targets = [t for t in query.get("targetLabels", "").split(",") if t]
        by_labels = query.get("aggregateBy") == "labels" and targets
        volumes: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        for s in self._matching(query.get("query") or "", tenants, start, end):
            key = {t: s.labels[t] for t in targets if t in s.labels} if by_labels else s.labels
            size = sum(len(line.encode()) for ts, line in s.entries if start <= ts < end)
            volumes[tuple(sorted(key.items()))] += size
        top = sorted(volumes.items(), key=lambda kv: -kv[1])[: int(query.get("limit", "100"))]
        result = [{"metric": dict(k), "value": [end // 10**9, str(v)]} for k, v in top]
        return _ok({"resultType": "vector", "result": result})

    def _patterns(self, query: dict[str, str], tenants: list[str]) -> Response:
        start, end = _range(query)
        shapes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for s in self._matching(query.get("query") or "", tenants, start, end):
            for ts, line in s.entries:
                if start <= ts < end:
                    shape = re.sub(r"[0-9]+|\"[^\"]*\"", "<_>", line)
                    shapes[shape][ts // 10**9 // 10 * 10] += 1
        data = [
            {"pattern": p, "samples": [[t, c] for t, c in sorted(samples.items())]}
            for p, samples in shapes.items()
        ]
        return _ok(data)

    # ------------------------------------------------------------------ evaluation

    def _matching(
        self, selector: str | None, tenants: list[str], start: int, end: int
    ) -> list[Stream]:
        matchers = _Parser(selector).selector_only() if selector else []
        return [
            s
            for s in self.streams
            if s.tenant in tenants
            and _matches(s.labels, matchers)
            and any(start <= ts < end for ts, _ in s.entries)
        ]

    def _lines(
        self, node: tuple[Any, ...], tenants: list[str]
    ) -> Iterator[tuple[int, dict[str, str], str]]:
        _, matchers, stages = node
        for s in self.streams:
            if s.tenant not in tenants or not _matches(s.labels, matchers):
                continue
            for ts, line in s.entries:
                labels = _pipeline(dict(s.labels), line, stages)
                if labels is not None:
                    yield ts, labels, line

    def _eval(self, node: tuple[Any, ...], tenants: list[str], t: float) -> dict[Any, float]:
        kind = node[0]
        if kind == "num":
            return {(): node[1]}
        if kind == "range":
            _, fn, log, seconds = node
            lo, hi = int((t - seconds) * 1e9), int(t * 1e9)
            out: dict[Any, float] = defaultdict(float)
            for ts, labels, line in self._lines(log, tenants):
                if lo < ts <= hi:
                    weight = len(line.encode()) if fn.startswith("bytes") else 1
                    out[tuple(sorted(labels.items()))] += weight
            if fn in ("rate", "bytes_rate"):
                return {k: v / seconds for k, v in out.items()}
            return dict(out)
        if kind == "agg":
            _, op, by, inner = node
            groups: dict[Any, list[float]] = defaultdict(list)
            for labels, value in self._eval(inner, tenants, t).items():
                kept = tuple((k, v) for k, v in labels if by is not None and k in by)
                groups[kept].append(value)
            fns = {"sum": sum, "count": len, "max": max, "min": min}
            return {
                k: (sum(v) / len(v) if op == "avg" else float(fns[op](v)))  # type: ignore[operator]
                for k, v in groups.items()
            }
        _, op, left_node, right_node = node
        left = self._eval(left_node, tenants, t)
        right = self._eval(right_node, tenants, t)
        if () in right and len(right) == 1:
            return _apply(op, left, {k: right[()] for k in left})
        if () in left and len(left) == 1:
            return _apply(op, {k: left[()] for k in right}, right)
        return _apply(op, left, right)


def _apply(op: str, left: dict[Any, float], right: dict[Any, float]) -> dict[Any, float]:
    out = {}
    for key, a in left.items():
        if key not in right:
            continue
        b = right[key]
        if op in ("+", "-", "*", "/"):
            out[key] = (
                a + b
                if op == "+"
                else a - b
                if op == "-"
                else a * b
                if op == "*"
                else (a / b if b else float("nan"))
            )
        elif (op == ">" and a > b) or (op == "<" and a < b) or (op == "==" and a == b):
            out[key] = a
    return out


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    return all(_compare(labels.get(name, ""), op, value) for name, op, value in matchers)


def _compare(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    hit = re.fullmatch(value, actual) is not None
    return hit if op == "=~" else not hit


def _pipeline(
    labels: dict[str, str], line: str, stages: list[tuple[str, ...]]
) -> dict[str, str] | None:
    for stage in stages:
        kind = stage[0]
        if kind == "line":
            _, op, value = stage
            found = value in line if op in ("|=", "!=") else re.search(value, line) is not None
            if found != (op in ("|=", "|~")):
                return None
        elif kind in ("json", "logfmt"):
            extracted = _json_fields(line) if kind == "json" else _logfmt_fields(line)
            if extracted is None:
                labels["__error__"] = "JSONParserErr"
                continue
            for name, value in extracted.items():
                labels[name + "_extracted" if name in labels else name] = value
        else:
            _, name, op, value = stage
            actual = labels.get(name, "")
            if op in (">", "<", ">=", "<=", "=="):
                try:
                    a, b = float(actual), float(value)
                except ValueError:
                    return None
                ok = {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b}[op]
                if not ok:
                    return None
            elif not _compare(actual, op, value):
                return None
    return labels


def _json_fields(line: str) -> dict[str, str] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}_{k}" if prefix else k, v)
        elif not isinstance(value, list):
            out[prefix] = value if isinstance(value, str) else json.dumps(value)

    walk("", data)
    return out


def _logfmt_fields(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)}


class _Parser:
    """The fake's own reading of its LogQL subset; a 400 names the column like Loki does."""

    def __init__(self, text: str | None) -> None:
        self.text = text or ""
        self.tokens: list[tuple[str, int]] = []
        pos = 0
        for m in _TOKEN.finditer(self.text):
            if m.start() != pos:
                break
            pos = m.end()
            if not m.group().isspace():
                self.tokens.append((m.group(), m.start()))
        if pos != len(self.text):
            self.fail_at(pos, self.text[pos])
        self.i = 0

    def fail_at(self, pos: int, found: str) -> None:
        raise ParseError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected {found}")

    def fail(self) -> None:
        if self.i < len(self.tokens):
            self.fail_at(self.tokens[self.i][1], self.tokens[self.i][0])
        self.fail_at(len(self.text), "$end")

    @property
    def tok(self) -> str:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.i >= len(self.tokens) or (expected is not None and self.tok != expected):
            self.fail()
        self.i += 1
        return self.tokens[self.i - 1][0]

    def string(self) -> str:
        token = self.take()
        if token.startswith("`"):
            return token[1:-1]
        if not token.startswith('"'):
            self.i -= 1
            self.fail()
        value: str = json.loads(token)
        return value

    def parse(self) -> tuple[Any, ...]:
        node = self.binary()
        if self.i != len(self.tokens):
            self.fail()
        return node

    def selector_only(self) -> list[tuple[str, str, str]]:
        node = self.parse()
        if node[0] != "log" or node[2]:
            raise ParseError("only a stream selector is accepted here")
        matchers: list[tuple[str, str, str]] = node[1]
        return matchers

    def binary(self) -> tuple[Any, ...]:
        left = self.operand()
        while self.tok in ("+", "-", "*", "/", ">", "<", "=="):
            op = self.take()
            right = self.operand()
            if left[0] == "log" or right[0] == "log":
                raise ParseError("parse error : unexpected binary operation on a log query")
            left = ("bin", op, left, right)
        return left

    def operand(self) -> tuple[Any, ...]:
        token = self.tok
        if token == "{":
            return self.log()
        if token == "(":
            self.take()
            node = self.binary()
            self.take(")")
            return node
        if token[:1].isdigit():
            return ("num", float(self.take()))
        if token in _RANGE_FNS:
            self.take()
            self.take("(")
            log = self.log()
            self.take("[")
            seconds = _duration(self.take())
            self.take("]")
            if self.tok in ("|=", "!=", "|~", "!~", "|"):
                log = ("log", log[1], log[2] + self.stages())
            self.take(")")
            return ("range", token, log, seconds)
        if token in _AGGS:
            self.take()
            by = self.grouping()
            self.take("(")
            inner = self.binary()
            self.take(")")
            by = by if by is not None else self.grouping()
            return ("agg", token, by, inner)
        self.fail()
        raise AssertionError

    def grouping(self) -> list[str] | None:
        if self.tok != "by":
            return None
        self.take()
        self.take("(")
        names = []
        while self.tok != ")":
            names.append(self.take())
            if self.tok == ",":
                self.take()
        self.take(")")
        return names

    def log(self) -> tuple[Any, ...]:
        self.take("{")
        matchers = []
        while self.tok != "}":
            name = self.take()
            op = self.take()
            if op not in ("=", "!=", "=~", "!~"):
                self.i -= 1
                self.fail()
            matchers.append((name, op, self.string()))
            if self.tok == ",":
                self.take()
        self.take("}")
        if not any(not _compare("", op, value) for _, op, value in matchers):
            raise ParseError(
                "parse error : queries require at least one regexp or equality matcher that "
                'does not have an empty-compatible value. For instance, app=~".*" does not '
                'meet this requirement, but app=~".+" will'
            )
        return ("log", matchers, self.stages())

    def stages(self) -> list[tuple[str, ...]]:
        stages: list[tuple[str, ...]] = []
        while True:
            if self.tok in ("|=", "!=", "|~", "!~"):
                op = self.take()
                stages.append(("line", op, self.string()))
            elif self.tok == "|":
                self.take()
                if self.tok in ("json", "logfmt"):
                    stages.append((self.take(),))
                    continue
                name = self.take()
                op = self.take()
                if op not in ("=", "!=", "=~", "!~", ">", "<", ">=", "<=", "=="):
                    self.i -= 1
                    self.fail()
                value = self.string() if self.tok[:1] in ('"', "`") else self.take()
                stages.append(("label", name, op, value))
            else:
                return stages


def _duration(text: str) -> float:
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ParseError(f"parse error : not a valid duration string: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _time(value: str | None, default: int) -> int:
    if not value:
        return default
    if value.isdigit() and len(value) > 12:
        return int(value)
    try:
        return int(float(value) * 1e9)
    except ValueError:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)


def _range(query: dict[str, str]) -> tuple[int, int]:
    end = _time(query.get("end"), time.time_ns())
    return _time(query.get("start"), end - 3600 * 10**9), end


def _num(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _stats_block() -> dict[str, Any]:
    return {"summary": {"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0}}


def fixture_streams(now_ns: int | None = None) -> list[Stream]:
    """The fixture's streams, their lines placed `ago` seconds before now."""
    now = time.time_ns() if now_ns is None else now_ns
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return [
        Stream(
            item.get("tenant", DEFAULT_TENANT),
            dict(item["labels"]),
            sorted((now - int(ago) * 10**9, line) for ago, line in item["lines"]),
        )
        for item in raw["streams"]
    ]


def push_fixture(url: str) -> None:
    """Writes the fixture's streams into a real Loki, each to its tenant."""
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in fixture_streams():
        values = [[str(ts), line] for ts, line in s.entries]
        by_tenant[s.tenant].append({"stream": s.labels, "values": values})
    for tenant, streams in by_tenant.items():
        response = httpx.post(
            f"{url.rstrip('/')}/loki/api/v1/push",
            json={"streams": streams},
            headers={"X-Scope-OrgID": tenant},
            timeout=30,
        )
        response.raise_for_status()


@pytest.fixture(name="fake_loki")
def fake_loki_server() -> Iterator[FakeLoki]:
    """A started fake serving the fixture streams; always the fake (failure injection)."""
    with FakeLoki(fixture_streams()) as fake:
        yield fake


@pytest.fixture(scope="session", name="live_loki")
def live_loki_url() -> str | None:
    """LOKI_URL, with the fixture pushed once, when the live tests are asked for."""
    url = os.environ.get("LOKI_URL")
    if url:
        push_fixture(url)
    return url


@pytest.fixture(name="loki_url")
def loki_url(live_loki: str | None, fake_loki: FakeLoki) -> str:
    """The Loki the behaviour tests run against: a real one when LOKI_URL is set, else the fake."""
    return live_loki or fake_loki.url
