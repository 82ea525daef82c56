"""The Tempo tools: find traces with TraceQL, read one as a summary or in pages of spans,
discover tags and values, and TraceQL metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from autodevops.servers.core.args import Args, DurationArg, TimeArg, parse_duration, parse_time
from autodevops.servers.core.errors import InvalidArgument
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from . import traceql
from .attributes import format_attributes
from .client import ScopedTempo, Unsupported
from .summary import HIDDEN, Tree, iso, ms, summarize
from .trace import any_value

TraceQL = Annotated[str, Field(min_length=1, max_length=traceql.MAX_QUERY_CHARS)]
TraceID = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{1,32}$", description="hex trace ID")]
TagName = Annotated[
    str,
    Field(
        pattern=r"^(?:(?:span|resource|event|link|instrumentation)?\.[A-Za-z0-9_.:@-]+"
        r"|[A-Za-z]+(?::[A-Za-z]+)?)$",
        description="scoped tag, e.g. resource.service.name, span.http.route, name, status",
    ),
]
MAX_POINTS = 1000
DEFAULT_POINTS = 120


class SearchArgs(Args):
    query: TraceQL = Field(
        "{ }", description='TraceQL, e.g. { status = error && span.http.route = "/pay" }'
    )
    start: TimeArg = Field("now-1h", description="now-1h, RFC 3339 or Unix seconds")
    end: TimeArg = Field("now", description="default now")
    limit: int = Field(20, ge=1, le=100, description="traces")
    spans_per_set: int = Field(3, ge=1, le=20, description="matched spans shown per trace")
    order: Literal["recent", "slowest"] = Field(
        "recent", description="row order of the traces found (Tempo picks the most recent)"
    )


class TraceArgs(Args):
    trace_id: TraceID
    view: Literal["summary", "spans"] = Field(
        "summary", description="summary, or spans: every span, a page at a time"
    )
    page: int = Field(1, ge=1, le=10_000, description="page of spans (view=spans)")
    start: TimeArg | None = Field(None, description="narrow the lookup: trace start after this")
    end: TimeArg | None = Field(None, description="and before this")


class TagNamesArgs(Args):
    scope: Literal["all", "resource", "span", "intrinsic", "event", "link", "instrumentation"] = (
        "all"
    )
    start: TimeArg | None = Field(None, description="default: Tempo's recent data")
    end: TimeArg | None = None


class TagValuesArgs(Args):
    tag: TagName
    query: TraceQL | None = Field(
        None, description="only values on spans matching this filter, e.g. { status = error }"
    )
    start: TimeArg | None = Field(None, description="default: Tempo's recent data")
    end: TimeArg | None = None


class MetricsArgs(Args):
    query: TraceQL = Field(
        description="TraceQL ending in a metrics function, e.g. "
        "{ status = error } | rate() by (resource.service.name)"
    )
    start: TimeArg = Field("now-1h", description="now-1h, RFC 3339 or Unix seconds")
    end: TimeArg = Field("now", description="default now")
    step: DurationArg | None = Field(None, description="e.g. 1m; default fits ~120 points")


@tool()
async def search_traces(args: SearchArgs, tempo: ScopedTempo) -> Output:
    """Find traces with TraceQL: one row per trace with its root, duration, span and error
    counts and the matched spans. Use it to find slow or failing requests, then read one
    with get_trace."""
    start, end = _range(args.start, args.end)
    query = tempo.query(args.query)
    if traceql.is_metrics(query):
        raise InvalidArgument("query", "a metrics query (| rate() ...) goes to traceql_metrics")
    params = {
        "q": query,
        "start": str(int(start)),
        "end": str(math.ceil(end)),
        "limit": str(args.limit),
        "spss": str(args.spans_per_set),
    }
    data = await tempo.get("/api/search", params, "query")
    traces = list(data.get("traces") or [])
    if args.order == "slowest":
        traces.sort(key=lambda t: -float(t.get("durationMs") or 0))
    hide = {tempo.scope.attribute} if tempo.scope.scoped else set()
    rows = [_trace_row(t, tempo.scope.scoped, args.spans_per_set, hide) for t in traces]
    table = Table(
        ["TRACE ID", "START", "DURATION", "ROOT", "SPANS", "ERRORS", "MATCHED"],
        rows,
        narrow="Add conditions to the query, shorten the range or lower limit.",
    )
    if tempo.scope.scoped:
        table.notes.append("scoped: only spans in your scope match; root span names are not shown")
    return table


@tool()
async def get_trace(args: TraceArgs, tempo: ScopedTempo) -> Output:
    """Read one trace by ID, summarized: the critical path, errors with their messages and
    exceptions, the slowest spans by self time, services with span counts. view=spans lists
    every span, a page at a time."""
    params = {}
    if args.start:
        params["start"] = str(int(parse_time(args.start)))
    if args.end:
        params["end"] = str(math.ceil(parse_time(args.end)))
    trace_id = args.trace_id.lower().rjust(32, "0")
    spans = await tempo.trace(trace_id, params)
    if args.view == "summary":
        text = summarize(trace_id, spans, tempo.in_scope, tempo.budget)
        return Text(text, narrow="Use view=spans with page=N for the span list.")
    tree = Tree(spans)
    ordered = tree.depth_first()
    size = tempo.budget
    pages = max(1, math.ceil(len(ordered) / size))
    if args.page > pages:
        raise InvalidArgument("page", f"the trace has {pages} page(s) of {size} spans")
    first = min(s.start_ns for s in spans)
    rows = []
    for depth, span in ordered[(args.page - 1) * size : args.page * size]:
        shown = tempo.in_scope(span)
        detail = ""
        if shown:
            detail = " ".join(
                part for part in (span.status_message, format_attributes(span.attributes)) if part
            )
        rows.append(
            [
                str(depth),
                span.span_id,
                span.service,
                span.name if shown else HIDDEN,
                f"+{ms(span.start_ns - first)}",
                ms(span.duration_ns),
                ms(tree.self_time(span)),
                span.status if shown else "",
                detail,
            ]
        )
    table = Table(
        ["DEPTH", "SPAN", "SERVICE", "NAME", "AT", "DURATION", "SELF", "STATUS", "DETAIL"],
        rows,
        narrow=f"Ask for page={args.page + 1}." if args.page < pages else "",
    )
    table.notes.append(
        f"page {args.page} of {pages} ({size} spans a page, {len(ordered)} spans, "
        f"trace started {iso(first)})"
    )
    return table


@tool()
async def tag_names(args: TagNamesArgs, tempo: ScopedTempo) -> Output:
    """List the attribute (tag) names in traces, by scope (resource, span, intrinsic), to
    learn what a TraceQL query can filter on."""
    params = _optional_range(args.start, args.end)
    if args.scope != "all":
        params["scope"] = args.scope
    if tempo.scope.scoped:
        params["q"] = tempo.query("{ }")
    data = await tempo.get("/api/v2/search/tags", params, "scope")
    rows = [
        [group.get("name", ""), tag]
        for group in data.get("scopes") or []
        for tag in sorted(group.get("tags") or [])
    ]
    return Table(["SCOPE", "TAG"], rows, narrow="Pick one scope (resource, span).")


@tool()
async def tag_values(args: TagValuesArgs, tempo: ScopedTempo) -> Output:
    """List the values of one tag (e.g. resource.service.name, span.http.route, status),
    optionally only on spans matching a TraceQL filter."""
    params = _optional_range(args.start, args.end)
    if args.query or tempo.scope.scoped:
        params["q"] = tempo.query(args.query or "{ }")
    data = await tempo.get(f"/api/v2/search/tag/{args.tag}/values", params, "tag")
    values = [
        (str(v.get("value", "")), str(v.get("type", ""))) for v in data.get("tagValues") or []
    ]
    attribute = tempo.scope.attribute
    if tempo.scope.scoped and args.tag in (f"resource.{attribute}", f".{attribute}"):
        values = [(v, kind) for v, kind in values if v in tempo.scope.values]
    rows = [[value, kind] for value, kind in sorted(values)]
    return Table(["VALUE", "TYPE"], rows, narrow="Pass a query to narrow the spans.")


@tool()
async def traceql_metrics(args: MetricsArgs, tempo: ScopedTempo) -> Output:
    """TraceQL metrics over a range (Tempo 2.4+): request, error and latency series from
    spans, e.g. { status = error } | rate() by (resource.service.name); per-series
    first/last/min/max/avg."""
    start, end = _range(args.start, args.end)
    query = tempo.query(args.query)
    if not traceql.is_metrics(query):
        raise InvalidArgument(
            "query",
            "end it in a metrics function, e.g. | rate(), | count_over_time(), "
            "| quantile_over_time(duration, .9)",
        )
    span = end - start
    step = max(1.0, math.ceil(span / DEFAULT_POINTS))
    if args.step is not None:
        step = parse_duration(args.step)
        if span / step + 1 > MAX_POINTS:
            least = math.ceil(span / (MAX_POINTS - 1))
            raise InvalidArgument("step", f"more than {MAX_POINTS} points; use step >= {least}s")
    params = {
        "q": query,
        "start": str(int(start)),
        "end": str(math.ceil(end)),
        "step": f"{step:g}s",
    }
    try:
        data = await tempo.get("/api/metrics/query_range", params, "query")
    except Unsupported as exc:
        raise Unsupported(
            "TraceQL metrics need Tempo 2.4 or later with the metrics API enabled "
            f"({exc.message}); use search_traces with a filter such as "
            "{ status = error } and count the rows instead"
        ) from exc
    rows = [_series_row(s) for s in data.get("series") or []]
    table = Table(
        ["SERIES", "POINTS", "FIRST", "LAST", "MIN", "MAX", "AVG"],
        rows,
        narrow="Group by fewer attributes or add conditions.",
    )
    table.notes.append(f"range {_iso_s(start)} .. {_iso_s(end)}, step {step:g}s")
    return table


def _range(start_text: str, end_text: str) -> tuple[float, float]:
    start, end = parse_time(start_text), parse_time(end_text)
    if end <= start:
        raise InvalidArgument("start", "must be before end")
    return start, end


def _optional_range(start: str | None, end: str | None) -> dict[str, str]:
    params = {}
    if start:
        params["start"] = str(int(parse_time(start)))
        params["end"] = str(math.ceil(parse_time(end or "now")))
    return params


def _trace_row(trace: Mapping[str, Any], scoped: bool, per_set: int, hide: set[str]) -> list[str]:
    stats = trace.get("serviceStats") or {}
    spans = sum(int(s.get("spanCount", 0)) for s in stats.values()) if stats else None
    errors = sum(int(s.get("errorCount", 0)) for s in stats.values()) if stats else None
    root = str(trace.get("rootServiceName", ""))
    if not scoped and trace.get("rootTraceName"):
        root += f": {trace['rootTraceName']}"
    duration = trace.get("durationMs")
    start_ns = int(trace.get("startTimeUnixNano") or 0)
    return [
        str(trace.get("traceID", "")),
        iso(start_ns) if start_ns else "",
        ms(int(float(duration) * 1e6)) if duration is not None else "<1ms",
        root,
        "" if spans is None else str(spans),
        "" if errors is None else str(errors),
        _matched(trace, per_set, hide),
    ]


def _matched(trace: Mapping[str, Any], per_set: int, hide: set[str]) -> str:
    """The matched spans in short; `hide` drops attributes every row would repeat."""
    sets: Sequence[Mapping[str, Any]] = trace.get("spanSets") or (
        [trace["spanSet"]] if trace.get("spanSet") else []
    )
    seen: set[str] = set()
    parts: list[str] = []
    total = 0
    for spanset in sets:
        total += int(spanset.get("matched") or 0)
        for span in spanset.get("spans") or []:
            if span.get("spanID") in seen or len(parts) >= per_set:
                continue
            seen.add(span.get("spanID"))
            attrs = {a.get("key"): any_value(a.get("value")) for a in span.get("attributes") or []}
            service = attrs.pop("service.name", "")
            for key in hide:
                attrs.pop(key, None)
            shown = format_attributes(attrs)
            text = f"{span.get('name', '?')} ({service}, {ms(int(span.get('durationNanos') or 0))}"
            parts.append(text + (f", {shown})" if shown else ")"))
    return f"{total}: " + "; ".join(parts) if parts else str(total)


def _series_row(series: Mapping[str, Any]) -> list[str]:
    labels = {
        str(item.get("key")): any_value(item.get("value")) for item in series.get("labels") or []
    }
    name = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) or series.get(
        "promLabels", "{}"
    )
    values = [float(s.get("value", 0.0)) for s in series.get("samples") or []]
    finite = [v for v in values if math.isfinite(v)] or values
    return [
        f"{{{name}}}" if not str(name).startswith("{") else str(name),
        str(len(values)),
        *(
            [_num(values[0]), _num(values[-1]), _num(min(finite)), _num(max(finite)),
             _num(sum(finite) / len(finite))]
            if values
            else ["", "", "", "", ""]
        ),
    ]  # fmt: skip


def _num(value: float) -> str:
    return f"{value:.6g}"


def _iso_s(at: float) -> str:
    return iso(int(at * 1e9))[:19] + "Z"


TOOLS = [search_traces, get_trace, tag_names, tag_values, traceql_metrics]
