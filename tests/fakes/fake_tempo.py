"""A FAKE Tempo for tests: a real HTTP server on loopback serving traces from OTLP-JSON files.

Tempo is AGPL and is neither built nor shipped here, so this fake speaks the documented HTTP
API in Tempo's own JSON shapes: `/api/search` (TraceQL in `q`, `start`, `end`, `limit`,
`spss`; `spanSets`, `serviceStats`), trace by ID v1 (`{"batches": ...}`) and v2
(`{"trace": {"resourceSpans": ...}}`, base64 IDs and enum names as protobuf JSON writes them),
`/api/v2/search/tags`, `/api/v2/search/tag/<tag>/values`, `/api/metrics/query_range`, `/ready`
and its errors: 400 with Tempo's text for a bad query, 404 `trace not found`, 404
`404 page not found` for a route an older Tempo lacks, 401 `no org id` in multi-tenant mode.

Its TraceQL is a subset, evaluated here: attribute and intrinsic comparisons, `=~`, `&&`/`||`,
`{} && {}`, `{} || {}`, `>>`, `>`, `~`, `| count()`/`avg()`/... comparisons and `rate()` /
`count_over_time()` `by (...)`. It reads the query with the server's own parser, so it
checks what the server sends rather than re-deriving the grammar; the live tests
(`TEMPO_URL`) send the same queries to a real Tempo.

Fixture times are moved so that the traces ended minutes ago. IDs in the files are hex.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from autodevops.servers.tempo import traceql as tq
from autodevops.servers.tempo.trace import Span, read_trace
from tests.fakes.loopback import LoopbackServer

FIXTURES = Path(__file__).parent / "tempo_traces"
CHECKOUT = "4bf92f3577b34da6a3ce929d0e0e4736"
FANOUT = "0af7651916cd43dd8448eb211c80319c"
CROSS_NAMESPACE = "5b8efff798038103d269b633813fc60c"
_KINDS = {1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT",
          4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER"}  # fmt: skip
_CODES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_INTRINSIC_ALIASES = {
    "span:duration": "duration", "span:name": "name", "span:status": "status",
    "span:kind": "kind", "span:statusMessage": "statusMessage",
    "trace:rootService": "rootServiceName", "trace:duration": "traceDuration",
}  # fmt: skip


class _BadQuery(Exception):
    pass


@dataclass
class StoredTrace:
    trace_id: str
    body: dict[str, Any]
    tenant: str | None
    spans: list[Span] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    @property
    def root(self) -> Span:
        ids = {s.span_id for s in self.spans}
        return min((s for s in self.spans if s.parent_id not in ids), key=lambda s: s.start_ns)


class FakeTempo:
    """`with FakeTempo() as tempo:`; `version` "2.2" lacks trace v2 and metrics, like Tempo
    2.2; `tenants` maps trace IDs to a tenant and turns on multi-tenancy; `token` requires
    that bearer token; `delay` slows every API answer."""

    def __init__(
        self,
        *,
        version: str = "2.6",
        tenants: dict[str, str] | None = None,
        token: str | None = None,
        delay: float = 0.0,
        extra: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.version = version
        self._version = tuple(int(part) for part in version.split("."))
        self.multi_tenant = tenants is not None
        self.token = token
        self.delay = delay
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.traces: dict[str, StoredTrace] = {}
        bodies = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
        shift = time.time_ns() - 10 * 60 * 10**9 - _earliest(bodies)
        moved_bodies = [_shift(copy.deepcopy(b), shift) for b in bodies]
        for moved in [*moved_bodies, *extra]:
            trace_id = _first_trace_id(moved)
            stored = StoredTrace(trace_id, moved, (tenants or {}).get(trace_id))
            stored.spans = read_trace(moved)
            self.traces[trace_id] = stored
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET"])])
        self._http = LoopbackServer(app, "fake Tempo")
        self.url = self._http.url

    def __enter__(self) -> FakeTempo:
        self._http.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.stop()

    @property
    def queries(self) -> list[str]:
        return [params["q"] for _, params, _ in self.requests if "q" in params]

    # ----------------------------------------------------------------- HTTP

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        params = dict(request.query_params)
        self.requests.append((path, params, dict(request.headers)))
        if path == "/ready":
            return PlainTextResponse("ready")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return PlainTextResponse("Unauthorized", status_code=401)
        tenant = request.headers.get("x-scope-orgid")
        if self.multi_tenant and not tenant:
            return PlainTextResponse("no org id", status_code=401)
        modern = self._version >= (2, 5)
        try:
            if path == "/api/search":
                return JSONResponse(self._search(params, tenant))
            if match := re.fullmatch(r"/api(/v2)?/traces/([0-9a-fA-F]+)", path):
                if match.group(1) and not modern:
                    return _no_route()
                return self._trace(match.group(2), tenant, v2=bool(match.group(1)))
            if path == "/api/v2/search/tags":
                return JSONResponse(self._tags(params, tenant))
            if match := re.fullmatch(r"/api/v2/search/tag/([^/]+)/values", path):
                return JSONResponse(self._tag_values(match.group(1), params, tenant))
            if path == "/api/metrics/query_range" and self._version >= (2, 4):
                return JSONResponse(self._metrics(params, tenant))
            if path == "/api/status/buildinfo":
                return JSONResponse({"version": self.version, "revision": "fake"})
        except _BadQuery as exc:
            return PlainTextResponse(f"invalid TraceQL query: {exc}", status_code=400)
        return _no_route()

    def _visible(self, tenant: str | None) -> Iterator[StoredTrace]:
        for stored in self.traces.values():
            if not self.multi_tenant or stored.tenant == tenant:
                yield stored

    def _trace(self, trace_id: str, tenant: str | None, *, v2: bool) -> Response:
        stored = self.traces.get(trace_id.lower().rjust(32, "0"))
        if stored is None or stored not in list(self._visible(tenant)):
            return PlainTextResponse("trace not found", status_code=404)
        batches = _protobuf_json(stored.body)["resourceSpans"]
        if v2:
            return JSONResponse({"trace": {"resourceSpans": batches}})
        return JSONResponse({"batches": batches})

    # ----------------------------------------------------------------- search

    def _search(self, params: dict[str, str], tenant: str | None) -> dict[str, Any]:
        tree = _parse(params.get("q", "{}"))
        start = int(params.get("start", 0)) * 10**9
        end = int(params.get("end", 2**40)) * 10**9
        limit = int(params.get("limit", 20))
        per_set = int(params.get("spss", 3))
        found = []
        for stored in sorted(self._visible(tenant), key=lambda t: -t.start_ns):
            if not start <= stored.start_ns <= end:
                continue
            matched = _spanset(tree, stored)
            if matched:
                found.append(_search_row(stored, matched, per_set, tree))
        return {"traces": found[:limit], "metrics": {"inspectedTraces": len(self.traces)}}

    def _matching_spans(self, params: dict[str, str], tenant: str | None) -> list[Span]:
        tree = _parse(params["q"]) if params.get("q") else None
        spans = []
        for stored in self._visible(tenant):
            spans.extend(_spanset(tree, stored) if tree is not None else stored.spans)
        return spans

    def _tags(self, params: dict[str, str], tenant: str | None) -> dict[str, Any]:
        spans = self._matching_spans(params, tenant)
        scopes = {
            "resource": sorted({k for s in spans for k in s.resource}),
            "span": sorted({k for s in spans for k in s.attributes}),
            "intrinsic": ["duration", "kind", "name", "rootName", "rootServiceName", "status",
                          "statusMessage", "traceDuration"],
        }  # fmt: skip
        wanted = params.get("scope", "all")
        return {
            "scopes": [
                {"name": name, "tags": tags}
                for name, tags in scopes.items()
                if wanted in ("all", name)
            ]
        }

    def _tag_values(self, tag: str, params: dict[str, str], tenant: str | None) -> dict[str, Any]:
        node = _parse("{ " + tag + " != nil }")
        assert isinstance(node, tq.SpansetFilter) and isinstance(node.condition, tq.Binary)
        field_node = node.condition.lhs
        values: dict[str, str] = {}
        for span in self._matching_spans(params, tenant):
            value = _value(field_node, span, None)
            if value is not None:
                values[str(value)] = _type_name(value)
        return {"tagValues": [{"type": t, "value": v} for v, t in sorted(values.items())]}

    def _metrics(self, params: dict[str, str], tenant: str | None) -> dict[str, Any]:
        tree = _parse(params["q"])
        if not isinstance(tree, tq.Pipeline) or not isinstance(tree.stages[-1], tq.Call):
            raise _BadQuery("a metrics query needs a metrics function")
        call = tree.stages[-1]
        if call.fn not in ("rate", "count_over_time"):
            raise _BadQuery(f"the fake Tempo does not evaluate {call.fn}()")
        source = tq.Pipeline(tree.source, tree.stages[:-1]) if tree.stages[:-1] else tree.source
        start, end = int(params["start"]), int(params["end"])
        step = float(_DURATION.fullmatch(params.get("step", "60s")).group(1))  # type: ignore[union-attr]
        series: dict[tuple[tuple[str, str], ...], dict[int, float]] = defaultdict(dict)
        for stored in self._visible(tenant):
            for span in _spanset(source, stored):
                at = span.start_ns / 1e9
                if not start <= at < end:
                    continue
                key = tuple(
                    (tq.render(tq.SpansetFilter(b))[2:-2], str(_value(b, span, stored)))
                    for b in call.by or ()
                )
                bucket = int(start + (at - start) // step * step)
                add = 1 / step if call.fn == "rate" else 1
                series[key][bucket] = series[key].get(bucket, 0.0) + add
        return {
            "series": [
                {
                    "labels": [{"key": k, "value": {"stringValue": v}} for k, v in key],
                    "samples": [
                        {"timestampMs": str(t * 1000), "value": v}
                        for t, v in sorted(points.items())
                    ],
                    "promLabels": "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}",
                }
                for key, points in sorted(series.items())
            ],
            "metrics": {},
        }


# --------------------------------------------------------------------- TraceQL evaluation


def _parse(text: str) -> tq.Spanset:
    try:
        return tq.parse(text)
    except tq.TraceQLSyntaxError as exc:
        raise _BadQuery(f"parse error: {exc}") from exc


def _spanset(node: tq.Spanset, trace: StoredTrace) -> list[Span]:
    if isinstance(node, tq.SpansetFilter):
        if node.condition is None:
            return list(trace.spans)
        return [s for s in trace.spans if _value(node.condition, s, trace) is True]
    if isinstance(node, tq.SpansetOp):
        lhs, rhs = _spanset(node.lhs, trace), _spanset(node.rhs, trace)
        return _combine(node.op, lhs, rhs, trace)
    current = _spanset(node.source, trace)
    for stage in node.stages:
        if isinstance(stage, tq.ScalarFilter):
            if not _compare(stage.op, _scalar(stage.lhs, current), _scalar(stage.rhs, current)):
                return []
        elif isinstance(stage, tq.Call):
            if stage.fn not in ("by", "select", "coalesce"):
                raise _BadQuery(f"{stage.fn}() is only valid in a metrics query")
        else:
            allowed = {s.span_id for s in _spanset(stage, trace)}
            current = [s for s in current if s.span_id in allowed]
    return current


def _combine(op: str, lhs: list[Span], rhs: list[Span], trace: StoredTrace) -> list[Span]:
    by_id = {s.span_id: s for s in trace.spans}
    left = {s.span_id for s in lhs}
    if op == "&&":
        return _unique(lhs + rhs) if lhs and rhs else []
    if op == "||":
        return _unique(lhs + rhs)
    if op == ">":
        return [s for s in rhs if s.parent_id in left]
    if op == "~":
        parents = {s.parent_id for s in lhs}
        return [s for s in rhs if s.parent_id in parents and s.span_id not in left]
    if op == ">>":
        found = []
        for span in rhs:
            parent = by_id.get(span.parent_id)
            while parent is not None:
                if parent.span_id in left:
                    found.append(span)
                    break
                parent = by_id.get(parent.parent_id)
        return found
    raise _BadQuery(f"the fake Tempo does not evaluate the operator {op}")


def _unique(spans: list[Span]) -> list[Span]:
    return list({s.span_id: s for s in spans}.values())


def _scalar(node: tq.Scalar, spans: list[Span]) -> Any:
    if isinstance(node, tq.Static):
        return _static(node)
    if isinstance(node, tq.ScalarOp):
        raise _BadQuery("the fake Tempo does not evaluate arithmetic on aggregates")
    if node.fn == "count":
        return len(spans)
    assert node.field is not None
    values = [v for s in spans if isinstance(v := _value(node.field, s, None), int | float)]
    if not values:
        return None
    return {"avg": sum(values) / len(values), "min": min(values), "max": max(values),
            "sum": sum(values)}[node.fn]  # fmt: skip


def _value(node: tq.Field, span: Span, trace: StoredTrace | None) -> Any:
    if isinstance(node, tq.Static):
        return _static(node)
    if isinstance(node, tq.Attribute):
        if node.scope == "span":
            return span.attributes.get(node.name)
        if node.scope == "resource":
            return span.resource.get(node.name)
        if node.scope == "":
            return span.attributes.get(node.name, span.resource.get(node.name))
        raise _BadQuery(f"the fake Tempo does not evaluate {node.scope}. attributes")
    if isinstance(node, tq.Intrinsic):
        name = _INTRINSIC_ALIASES.get(node.name, node.name)
        values = {
            "duration": span.duration_ns, "name": span.name, "status": span.status,
            "statusMessage": span.status_message, "kind": span.kind,
        }  # fmt: skip
        if name in values:
            return values[name]
        if trace is not None and name == "rootServiceName":
            return trace.root.service
        if trace is not None and name == "traceDuration":
            return trace.end_ns - trace.start_ns
        raise _BadQuery(f"the fake Tempo does not evaluate {node.name}")
    if isinstance(node, tq.Unary):
        inner = _value(node.operand, span, trace)
        return (not inner) if node.op == "!" else -inner
    lhs, rhs = _value(node.lhs, span, trace), _value(node.rhs, span, trace)
    if node.op == "&&":
        return lhs is True and rhs is True
    if node.op == "||":
        return lhs is True or rhs is True
    if node.op in ("=~", "!~"):
        if not isinstance(lhs, str):
            return False
        hit = re.fullmatch(str(rhs), lhs) is not None
        return hit if node.op == "=~" else not hit
    if node.op in ("+", "-", "*", "/"):
        raise _BadQuery("the fake Tempo does not evaluate arithmetic")
    return _compare(node.op, lhs, rhs)


def _compare(op: str, lhs: Any, rhs: Any) -> bool:
    if op == "!=" and rhs is None:
        return lhs is not None
    if lhs is None or rhs is None:
        return op == "=" and lhs is rhs
    if isinstance(lhs, bool) != isinstance(rhs, bool) or (
        isinstance(lhs, str) != isinstance(rhs, str)
    ):
        return op == "!="
    try:
        return bool({
            "=": lhs == rhs, "!=": lhs != rhs, "<": lhs < rhs, "<=": lhs <= rhs,
            ">": lhs > rhs, ">=": lhs >= rhs,
        }[op])  # fmt: skip
    except TypeError:
        return False


def _static(node: tq.Static) -> Any:
    if node.kind == "int":
        return int(node.text)
    if node.kind == "float":
        return float(node.text)
    if node.kind == "duration":
        sign = -1 if node.text.startswith("-") else 1
        total = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(node.text))
        return sign * int(total)
    if node.kind == "bool":
        return node.text == "true"
    if node.kind == "nil":
        return None
    return node.text


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    return "string"


# --------------------------------------------------------------------- Tempo's JSON shapes


def _search_row(
    trace: StoredTrace, matched: list[Span], per_set: int, tree: tq.Spanset
) -> dict[str, Any]:
    root = trace.root
    stats: dict[str, dict[str, int]] = {}
    for span in trace.spans:
        entry = stats.setdefault(span.service, {"spanCount": 0})
        entry["spanCount"] += 1
        if span.failed:
            entry["errorCount"] = entry.get("errorCount", 0) + 1
    named = sorted(_named_attributes(tree), key=lambda a: (a.scope, a.name))
    spanset = {
        "spans": [
            {
                "spanID": s.span_id,
                "name": s.name,
                "startTimeUnixNano": str(s.start_ns),
                "durationNanos": str(s.duration_ns),
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": s.service}},
                    *(
                        {"key": a.name, "value": _any(v)}
                        for a in named
                        if (v := _value(a, s, trace)) is not None
                    ),
                ],
            }
            for s in sorted(matched, key=lambda s: s.start_ns)[:per_set]
        ],
        "matched": len(matched),
    }
    duration_ms = (trace.end_ns - trace.start_ns) // 10**6
    row: dict[str, Any] = {
        "traceID": trace.trace_id.lstrip("0"),
        "rootServiceName": root.service,
        "rootTraceName": root.name,
        "startTimeUnixNano": str(trace.start_ns),
        "spanSet": spanset,
        "spanSets": [spanset],
        "serviceStats": stats,
    }
    if duration_ms:
        row["durationMs"] = duration_ms
    return row


def _named_attributes(tree: tq.Spanset) -> set[tq.Attribute]:
    found: set[tq.Attribute] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, tq.Attribute):
            found.add(node)
        elif isinstance(node, tq.SpansetFilter):
            stack.append(node.condition)
        elif isinstance(node, tq.SpansetOp | tq.Binary):
            stack.extend((node.lhs, node.rhs))
        elif isinstance(node, tq.Unary):
            stack.append(node.operand)
        elif isinstance(node, tq.Pipeline):
            stack.append(node.source)
            stack.extend(node.stages)
    return found


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _protobuf_json(body: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON (hex IDs, enum numbers) as Tempo writes it: base64 IDs, enum names."""
    out = copy.deepcopy(body)
    for batch in out["resourceSpans"]:
        for group in batch.get("scopeSpans", []):
            for span in group.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                span["kind"] = _KINDS.get(span.get("kind", 0), "SPAN_KIND_UNSPECIFIED")
                status = span.get("status") or {}
                status["code"] = _CODES.get(status.get("code", 0), "STATUS_CODE_UNSET")
                if status["code"] == "STATUS_CODE_UNSET":
                    status.pop("code")
                span["status"] = status
    return out


def _no_route() -> Response:
    return PlainTextResponse("404 page not found", status_code=404)


def _earliest(bodies: list[dict[str, Any]]) -> int:
    return min(int(s.get("startTimeUnixNano", 0)) for b in bodies for s in _raw_spans(b))


def _raw_spans(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for batch in body["resourceSpans"]:
        for group in batch.get("scopeSpans", []):
            yield from group.get("spans", [])


def _shift(body: dict[str, Any], nanos: int) -> dict[str, Any]:
    for span in _raw_spans(body):
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(span[key]) + nanos)
        for event in span.get("events", []):
            event["timeUnixNano"] = str(int(event["timeUnixNano"]) + nanos)
    return body


def _first_trace_id(body: dict[str, Any]) -> str:
    return str(next(_raw_spans(body))["traceId"]).lower()


def fan_out_trace(spans: int, trace_id: str = "f" * 32) -> dict[str, Any]:
    """A synthetic OTLP-JSON trace of `spans` spans: a root calling services in parallel,
    each with a chain of children; one branch fails. For the bench and size tests."""
    now = time.time_ns() - 60 * 10**9
    batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    root_id = "0" * 15 + "1"
    batches["api"].append(_synthetic(trace_id, root_id, "", "GET /report", now, 4_000, 2))
    made, branch = 1, 0
    while made < spans:
        parent, service = root_id, f"svc-{branch % 20}"
        start = now + 1_000_000 * (branch % 50)
        for depth in range(min(9, spans - made)):
            span_id = f"{made + 1:016x}"
            failed = branch == 3 and depth == 4
            duration_ms = 5 + (branch * 7 + depth * 13) % 300
            batches[service].append(
                _synthetic(trace_id, span_id, parent, f"step {depth}", start, duration_ms,
                           3 if depth % 2 else 2, failed)
            )  # fmt: skip
            parent, made = span_id, made + 1
            start += 500_000
        branch += 1
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "k8s.namespace.name", "value": {"stringValue": "bench"}},
                    ]
                },
                "scopeSpans": [{"spans": items}],
            }
            for service, items in batches.items()
        ]
    }


def _synthetic(
    trace_id: str, span_id: str, parent: str, name: str, start: int, duration_ms: int,
    kind: int, failed: bool = False,
) -> dict[str, Any]:  # fmt: skip
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ms * 10**6),
        "attributes": [{"key": "http.route", "value": {"stringValue": f"/{name}"}}],
        "status": {"code": 2, "message": "upstream timeout"} if failed else {},
    }
    if parent:
        span["parentSpanId"] = parent
    return span
