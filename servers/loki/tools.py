"""The Loki tools: find the lines that explain an incident without flooding the model.

Cheap questions first (stats, volume, patterns: how much, where, what shape), then lines or
metrics. Every query passes the role's scope and guardrails in `ScopedLoki`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from autodevops.common.redact import redact_text, redact_value
from autodevops.servers.core.args import (
    Args,
    DurationArg,
    TimeArg,
    parse_duration,
    parse_time,
    range_step,
)
from autodevops.servers.core.errors import InvalidArgument
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from .client import NotServed, ScopedLoki

# A log line as query_logs renders it starts with its time and two spaces; `log_lines` reads
# them back (a line's own newlines are escaped, so one entry is one text line).
LINE_START = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  ")
MAX_POINTS_PER_SERIES = 1000
DEFAULT_POINTS = 120
DEFAULT_SINCE = 3600.0
_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_NARROW_LINES = (
    'Add a line filter (|= "error"), more label matchers or a shorter range, or lower limit.'
)

LogQL = Annotated[str, Field(min_length=1, max_length=8192)]
Selector = Annotated[str, Field(min_length=2, max_length=4096)]


class RangeArgs(Args):
    since: DurationArg | None = Field(
        None, description="how far back from end, e.g. 15m; default 1h"
    )
    start: TimeArg | None = Field(None, description="instead of since: RFC 3339, Unix s, now-2h")
    end: TimeArg = Field("now", description="default now")

    @model_validator(mode="after")
    def _since_or_start(self) -> RangeArgs:
        if self.since is not None and self.start is not None:
            raise ValueError("give since or start, not both")
        return self

    def bounds(self, longest: float) -> tuple[float, float]:
        """Start and end; without either since or start, the last hour or, when the role
        may read less, as much as it may."""
        end = parse_time(self.end)
        if self.start is not None:
            return parse_time(self.start), end
        since = parse_duration(self.since) if self.since else min(DEFAULT_SINCE, longest)
        return end - since, end

    @property
    def range_field(self) -> str:
        return "start" if self.start is not None else "since"


class LogsArgs(RangeArgs):
    query: LogQL = Field(description='LogQL log query, e.g. {app="api"} |= "error" | json')
    direction: Literal["newest_first", "oldest_first"] = "newest_first"
    limit: int = Field(100, ge=1, le=5000, description="most lines")


class MetricsArgs(RangeArgs):
    query: LogQL = Field(
        description='LogQL metric query, e.g. sum by (pod) (rate({app="api"}[5m]))'
    )
    instant: bool = Field(False, description="one value per series at end, not a range")
    step: DurationArg | None = Field(None, description="range resolution; default fits ~120 points")


class SelectorArgs(RangeArgs):
    selector: Selector = Field(description='stream selector, e.g. {namespace="team-a", app="api"}')


class LabelNamesArgs(RangeArgs):
    selector: Selector | None = Field(None, description="only streams matching this selector")


class LabelValuesArgs(LabelNamesArgs):
    label: str = Field(pattern=_LABEL, description="label name, e.g. app")


class VolumeArgs(SelectorArgs):
    by: list[Annotated[str, Field(pattern=_LABEL)]] = Field(
        default_factory=list, max_length=10, description="group by these labels; default: streams"
    )


@tool()
async def query_logs(args: LogsArgs, loki: ScopedLoki) -> Output:
    """Read log lines for a LogQL log query over a range (default the last hour), newest first.
    Use after stats/volume/patterns have shown where to look; filter early (|= "error",
    | json | level="error"). Lines show their time and the labels that differ between
    streams; long lines are cut."""
    query = loki.query(args.query, "log")
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, query, args.range_field)
    limit = min(args.limit, loki.scope.max_lines)
    params = {
        "query": query.text,
        "start": _ns(start),
        "end": _ns(end),
        "limit": str(limit),
        "direction": "backward" if args.direction == "newest_first" else "forward",
    }
    data = await loki.get("/loki/api/v1/query_range", params)
    if data.get("resultType") != "streams":
        raise InvalidArgument("query", "Loki did not answer with log lines; use query_metrics")
    notes = []
    if limit < args.limit:
        notes.append(f"limit lowered to {limit}, your role's maximum")
    return render_log_lines(data.get("result") or [], args, limit, loki.scope.max_line_chars, notes)


@tool()
async def query_metrics(args: MetricsArgs, loki: ScopedLoki) -> Output:
    """Numbers from logs with a LogQL metric query (rate, count_over_time, bytes_over_time,
    sum by, topk, quantile_over_time with unwrap): error rates, which pod logs most, when a
    spike began. A range (default the last hour) gives per-series first/last/min/max/avg;
    instant=true gives one value per series at end."""
    query = loki.query(args.query, "metric")
    start, end = args.bounds(loki.scope.max_range_seconds)
    if args.instant:
        loki.check_range(end, end, query, "query")
        params = {"query": query.text, "time": _ns(end), "limit": str(loki.scope.max_lines)}
        data = await loki.get("/loki/api/v1/query", params)
        return _metric_result(data)
    loki.check_range(start, end, query, args.range_field)
    step = range_step(end - start, args.step, MAX_POINTS_PER_SERIES, DEFAULT_POINTS)
    params = {
        "query": query.text,
        "start": _ns(start),
        "end": _ns(end),
        "step": f"{step:g}",
        "limit": str(loki.scope.max_lines),
    }
    data = await loki.get("/loki/api/v1/query_range", params)
    output = _metric_result(data)
    if isinstance(output, Table):
        output.notes.append(f"range {_iso(start)} .. {_iso(end)}, step {step:g}s")
    return output


@tool()
async def label_names(args: LabelNamesArgs, loki: ScopedLoki) -> Output:
    """List the label names of log streams in a range (default the last hour), optionally only
    of streams matching a selector: what can be selected on."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    selector = loki.selector(args.selector)
    if loki.scoped:
        streams = await _series(loki, selector, start, end)
        names = sorted({name for labels in streams for name in labels})
    else:
        params = _range_params(start, end, selector)
        names = sorted(await loki.get("/loki/api/v1/labels", params, "selector") or [])
    return Table(["LABEL"], [[n] for n in names], narrow="Pass a selector.")


@tool()
async def label_values(args: LabelValuesArgs, loki: ScopedLoki) -> Output:
    """List the values of one label (every app, pod or namespace that logged) in a range,
    optionally only on streams matching a selector."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    selector = loki.selector(args.selector)
    if loki.scoped:
        streams = await _series(loki, selector, start, end)
        values = sorted({labels[args.label] for labels in streams if args.label in labels})
    else:
        params = _range_params(start, end, selector)
        path = f"/loki/api/v1/label/{args.label}/values"
        values = sorted(await loki.get(path, params, "selector") or [])
    return Table([args.label.upper()], [[v] for v in values], narrow="Pass a selector.")


@tool()
async def series(args: SelectorArgs, loki: ScopedLoki) -> Output:
    """List the log streams (label sets) matching a selector in a range: which pods and
    containers logged."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    selector = loki.selector(args.selector)
    assert selector is not None
    streams = await _series(loki, selector, start, end)
    rows = sorted([_labels_text(labels)] for labels in streams)
    return Table(["STREAM"], rows, narrow="Add label matchers to the selector.")


@tool()
async def stats(args: SelectorArgs, loki: ScopedLoki) -> Output:
    """How much a selector would read in a range: streams, chunks, lines and bytes. Call it
    before query_logs on an unfamiliar selector, and narrow when it is large."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    params = _range_params(start, end, loki.selector(args.selector))
    data = await loki.get("/loki/api/v1/index/stats", params, "selector")
    return Text(
        f"streams {data.get('streams', 0)}, chunks {data.get('chunks', 0)}, "
        f"lines {data.get('entries', 0)}, bytes {_bytes(data.get('bytes', 0))} "
        f"({_iso(start)} .. {_iso(end)})"
    )


@tool()
async def volume(args: VolumeArgs, loki: ScopedLoki) -> Output:
    """Bytes logged per stream, or per the labels in `by` (e.g. [app], [pod]), for a selector
    in a range, largest first: who is noisy, where an incident's logs are."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    params = _range_params(start, end, loki.selector(args.selector))
    params["limit"] = str(loki.scope.max_lines)
    if args.by:
        params["targetLabels"] = ",".join(args.by)
        params["aggregateBy"] = "labels"
    data = await loki.get("/loki/api/v1/index/volume", params, "selector")
    result = sorted(data.get("result") or [], key=lambda s: -float(s["value"][1]))
    rows = [[_labels_text(s["metric"]), _bytes(s["value"][1])] for s in result]
    return Table(
        ["STREAM" if not args.by else "LABELS", "BYTES"], rows, narrow="Narrow the selector."
    )


@tool()
async def patterns(args: SelectorArgs, loki: ScopedLoki) -> Output:
    """The shapes of the log lines of a selector with their counts, most frequent first
    (<_> marks the parts that vary): the cheapest summary of a noisy stream. Needs a Loki
    that serves patterns (3.0+ with the pattern ingester on)."""
    start, end = args.bounds(loki.scope.max_range_seconds)
    loki.check_range(start, end, None, args.range_field)
    params = _range_params(start, end, loki.selector(args.selector))
    try:
        data = await loki.get("/loki/api/v1/patterns", params, "selector")
    except NotServed:
        return Text(
            "this Loki does not serve patterns (it needs Loki 3.0+ with the pattern ingester "
            "enabled); use volume for where the bytes are, or query_metrics with "
            "count_over_time for how often a line occurs"
        )
    counted = [
        (sum(int(float(s[1])) for s in item.get("samples") or []), item.get("pattern", ""))
        for item in data or []
    ]
    rows = [[str(count), pattern] for count, pattern in sorted(counted, key=lambda c: -c[0])]
    return Table(["COUNT", "PATTERN"], rows, narrow="Narrow the selector or the range.")


# --------------------------------------------------------------------------- helpers


async def _series(
    loki: ScopedLoki, selector: str | None, start: float, end: float
) -> list[dict[str, str]]:
    params: list[tuple[str, str]] = [("start", _ns(start)), ("end", _ns(end))]
    if selector is not None:
        params.append(("match[]", selector))
    return list(await loki.get("/loki/api/v1/series", params, "selector") or [])


def _range_params(start: float, end: float, selector: str | None) -> dict[str, str]:
    params = {"start": _ns(start), "end": _ns(end)}
    if selector is not None:
        params["query"] = selector
    return params


def render_log_lines(
    streams: Sequence[Mapping[str, Any]],
    args: LogsArgs,
    limit: int,
    max_chars: int,
    notes: list[str],
) -> Text:
    label_sets = [redact_value(dict(s.get("stream") or {})) for s in streams]
    common = dict(set.intersection(*(set(ls.items()) for ls in label_sets))) if label_sets else {}
    entries = []
    for labels, stream in zip(label_sets, streams, strict=True):
        differing = {k: v for k, v in labels.items() if k not in common}
        own = _labels_text(differing) if differing else ""
        for value in stream.get("values") or []:
            entries.append((int(value[0]), own, value[1]))
    entries.sort(key=lambda e: e[0], reverse=args.direction == "newest_first")
    entries = entries[:limit]
    lines = []
    if common:
        lines.append(f"labels on every line: {_labels_text(dict(sorted(common.items())))}")
    for ns, own, line in entries:
        prefix = f"{_iso_ns(ns)}  {own}  " if own else f"{_iso_ns(ns)}  "
        lines.append(prefix + _shown_line(line, max_chars))
    if not entries:
        lines.append("(no lines)")
    order = "newest first" if args.direction == "newest_first" else "oldest first"
    summary = f"{len(entries)} lines, {order}"
    if len(entries) >= limit:
        last = _iso_ns(entries[-1][0])
        more = "end" if args.direction == "newest_first" else "start"
        summary += (
            f"; the limit of {limit} lines was reached, more lines exist: narrow the query, "
            f"or page on with {more}={last}"
        )
    lines.append("")
    lines.append(f"[{'; '.join([summary, *notes])}]")
    return Text("\n".join(lines), narrow=_NARROW_LINES)


def log_lines(text: str) -> list[str]:
    """The log lines of a rendered query_logs answer, in the order shown (time, the labels
    that differ, the line); none when it found none."""
    return [line for line in text.splitlines() if LINE_START.match(line)]


def _shown_line(line: str, max_chars: int) -> str:
    """A log line redacted by its structure when it is JSON (so it stays JSON), else as text;
    on one output line, and cut at the role's length with a marker saying how much."""
    shown = redact_text(line)
    if line.lstrip().startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            shown = json.dumps(redact_value(json.loads(line)), ensure_ascii=False)
    shown = shown.replace("\r", "\\r").replace("\n", "\\n")
    if len(shown) > max_chars:
        cut = len(shown) - max_chars
        shown = f"{shown[:max_chars]}…[line cut: {cut} more characters]"
    return shown


def _metric_result(data: Mapping[str, Any]) -> Output:
    kind = data.get("resultType")
    result: Any = data.get("result") or []
    narrow = "Aggregate (sum by (...)), use topk(), or add label matchers."
    if kind == "scalar":
        at, value = result
        return Text(f"scalar {_number(value)} at {_iso(float(at))}")
    if kind == "vector":
        rows = [[_labels_text(s["metric"]), _number(s["value"][1])] for s in result]
        return Table(["SERIES", "VALUE"], rows, narrow=narrow)
    if kind != "matrix":
        raise InvalidArgument("query", "Loki answered with log lines; use query_logs")
    rows = []
    for s in result:
        values = [float(v) for _, v in s.get("values", [])]
        finite = [v for v in values if math.isfinite(v)] or values
        shown = [""] * 5
        if values:
            summary = [values[0], values[-1], min(finite), max(finite), sum(finite) / len(finite)]
            shown = [_number(v) for v in summary]
        rows.append([_labels_text(s["metric"]), str(len(values)), *shown])
    return Table(["SERIES", "POINTS", "FIRST", "LAST", "MIN", "MAX", "AVG"], rows, narrow=narrow)


def _labels_text(labels: Mapping[str, str]) -> str:
    return (
        "{"
        + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items()))
        + "}"
    )


def _number(value: Any) -> str:
    number = float(value)
    return f"{number:.6g}" if math.isfinite(number) else str(value)


def _bytes(value: Any) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _ns(seconds: float) -> str:
    return str(int(seconds * 1_000_000_000))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ns(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ns % 1_000_000_000 // 1_000_000:03d}Z"


TOOLS = [
    query_logs,
    query_metrics,
    label_names,
    label_values,
    series,
    stats,
    volume,
    patterns,
]
