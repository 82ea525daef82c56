"""The Prometheus tools: what an SRE asks of Prometheus, answered as compact tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from autodevops.servers.core.args import (
    Args,
    DurationArg,
    NoArgs,
    TimeArg,
    parse_time,
    parse_timestamp,
    range_step,
)
from autodevops.servers.core.errors import InvalidArgument
from autodevops.servers.core.output import Output, Table, Text, join_labels
from autodevops.servers.core.spec import tool

from .client import ScopedPrometheus

MAX_POINTS_PER_SERIES = 1000
DEFAULT_POINTS = 120


PromQL = Annotated[str, Field(min_length=1, max_length=10_000)]


class QueryArgs(Args):
    query: PromQL = Field(description="PromQL expression")
    time: TimeArg | None = Field(None, description="evaluation time; default now")


class RangeArgs(Args):
    query: PromQL = Field(description="PromQL expression")
    start: TimeArg = Field("now-1h", description="now-1h, RFC 3339 or Unix seconds")
    end: TimeArg = Field("now", description="default now")
    step: DurationArg | None = Field(
        None, description="resolution, e.g. 1m; default fits ~120 points"
    )


class SeriesArgs(Args):
    match: list[PromQL] = Field(min_length=1, max_length=20, description="series selectors")
    start: TimeArg = Field("now-1h", description="default now-1h")
    end: TimeArg = Field("now", description="default now")


class LabelNamesArgs(Args):
    match: list[PromQL] = Field(default_factory=list, max_length=20, description="series selectors")


class LabelValuesArgs(Args):
    label: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", description="label name, e.g. job")
    match: list[PromQL] = Field(default_factory=list, max_length=20, description="series selectors")


class MetadataArgs(Args):
    metric: str | None = Field(
        None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="metric name"
    )


class TargetsArgs(Args):
    state: Literal["active", "dropped", "any"] = "active"
    job: str | None = Field(None, description="only this scrape job")
    health: Literal["up", "down", "unknown"] | None = None


class AlertsArgs(Args):
    state: Literal["firing", "pending", "any"] = "any"


class RulesArgs(Args):
    type: Literal["alert", "record", "any"] = "any"
    group: str | None = Field(None, description="only this rule group")


@tool()
async def query(args: QueryArgs, prom: ScopedPrometheus) -> Output:
    """Evaluate PromQL at one instant (current values, ratios, top-k). Prefer aggregations
    such as sum by (label) over raw series."""
    params = {"query": await prom.checked_promql(args.query, "query")}
    if args.time:
        params["time"] = f"{parse_time(args.time):.3f}"
    data = await prom.get("/api/v1/query", params)
    return _result(data, "Use a more selective selector, an aggregation or topk().")


@tool()
async def query_range(args: RangeArgs, prom: ScopedPrometheus) -> Output:
    """Evaluate PromQL over a time range (trends, spikes, before/after a change); returns
    per-series first/last/min/max/avg. The step is bounded to keep answers small."""
    start, end = parse_time(args.start), parse_time(args.end)
    if end <= start:
        raise InvalidArgument("start", "must be before end")
    step = range_step(end - start, args.step, MAX_POINTS_PER_SERIES, DEFAULT_POINTS)
    params = {
        "query": await prom.checked_promql(args.query, "query"),
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step:g}",
    }
    data = await prom.get("/api/v1/query_range", params)
    output = _result(data, "Aggregate (sum by (...)) or use a more selective selector.")
    if isinstance(output, Table):
        output.notes.append(f"range {_iso(start)} .. {_iso(end)}, step {step:g}s")
    return output


@tool()
async def series(args: SeriesArgs, prom: ScopedPrometheus) -> Output:
    """List the series (label sets) that match selectors, to find which labels exist
    before writing a query."""
    params = [("match[]", m) for m in await prom.checked_selectors(args.match)]
    params += [("start", f"{parse_time(args.start):.3f}"), ("end", f"{parse_time(args.end):.3f}")]
    data = await prom.get("/api/v1/series", params, field="match")
    rows = [[_series_name(item)] for item in data]
    return Table(["SERIES"], rows, narrow="Add label matchers to the selectors.")


@tool()
async def label_names(args: LabelNamesArgs, prom: ScopedPrometheus) -> Output:
    """List label names, optionally only those on series matching selectors."""
    params = [("match[]", m) for m in await prom.checked_selectors(args.match)]
    data = await prom.get("/api/v1/labels", params, field="match")
    return Table(["LABEL"], [[name] for name in data], narrow="Pass match selectors.")


@tool()
async def label_values(args: LabelValuesArgs, prom: ScopedPrometheus) -> Output:
    """List the values of one label (e.g. every job or namespace), optionally only on
    series matching selectors."""
    params = [("match[]", m) for m in await prom.checked_selectors(args.match)]
    data = await prom.get(f"/api/v1/label/{args.label}/values", params, field="match")
    return Table([args.label.upper()], [[v] for v in data], narrow="Pass match selectors.")


@tool()
async def metric_metadata(args: MetadataArgs, prom: ScopedPrometheus) -> Output:
    """Type, help text and unit of metrics: what a metric means before querying it."""
    params = {"metric": args.metric} if args.metric else {}
    data: Mapping[str, list[dict[str, str]]] = await prom.get("/api/v1/metadata", params, "metric")
    rows = [
        [name, entry.get("type", ""), entry.get("unit", ""), entry.get("help", "")]
        for name, entries in sorted(data.items())
        for entry in entries[:1]
    ]
    return Table(["METRIC", "TYPE", "UNIT", "HELP"], rows, narrow="Pass a metric name.")


@tool()
async def targets(args: TargetsArgs, prom: ScopedPrometheus) -> Output:
    """Scrape targets and their health (up/down, last error, last scrape): why a metric is
    missing or stale."""
    data = await prom.get("/api/v1/targets", {"state": args.state}, field="state")
    rows = []
    for target in [*data.get("activeTargets", []), *data.get("droppedTargets", [])]:
        labels = target.get("labels") or target.get("discoveredLabels", {})
        if not prom.in_scope(labels):
            continue
        if args.job and labels.get("job", target.get("scrapePool")) != args.job:
            continue
        health = target.get("health", "dropped")
        if args.health and health != args.health:
            continue
        rows.append(
            [
                labels.get("job", target.get("scrapePool", "")),
                labels.get("instance", target.get("scrapeUrl", "")),
                health,
                _ago(target.get("lastScrape")),
                target.get("lastError", ""),
            ]
        )
    return Table(
        ["JOB", "INSTANCE", "HEALTH", "LAST SCRAPE", "LAST ERROR"],
        rows,
        narrow="Filter by job or health.",
    )


@tool()
async def alerts(args: AlertsArgs, prom: ScopedPrometheus) -> Output:
    """Alerts that are firing or pending now, with severity, labels and summary."""
    data = await prom.get("/api/v1/alerts", field="state")
    rows = []
    for alert in data.get("alerts", []):
        labels = alert.get("labels", {})
        if not prom.in_scope(labels) or args.state not in ("any", alert.get("state")):
            continue
        rows.append(_alert_row(alert))
    return Table(
        ["ALERT", "STATE", "SEVERITY", "SINCE", "LABELS", "SUMMARY"],
        rows,
        narrow="Filter by state.",
    )


@tool()
async def rules(args: RulesArgs, prom: ScopedPrometheus) -> Output:
    """Alerting and recording rules: their expression, health, last error and state."""
    params = {} if args.type == "any" else {"type": args.type}
    data = await prom.get("/api/v1/rules", params, field="type")
    rows = []
    for group in data.get("groups", []):
        if args.group and group.get("name") != args.group:
            continue
        for rule in group.get("rules", []):
            active = [a for a in rule.get("alerts", []) if prom.in_scope(a.get("labels", {}))]
            state = rule.get("state", "") if rule.get("type") == "alerting" else ""
            if state and prom.scoped and not active:
                state = "inactive"
            rows.append(
                [
                    group.get("name", ""),
                    rule.get("name", ""),
                    "alert" if rule.get("type") == "alerting" else "record",
                    rule.get("health", ""),
                    f"{state} ({len(active)})" if state else "",
                    rule.get("query", ""),
                    rule.get("lastError", ""),
                ]
            )
    return Table(
        ["GROUP", "RULE", "TYPE", "HEALTH", "STATE", "EXPR", "LAST ERROR"],
        rows,
        narrow="Filter by type or group.",
    )


@tool()
async def server_info(args: NoArgs, prom: ScopedPrometheus) -> Output:
    """Prometheus version, uptime, retention, storage and series count: is Prometheus
    itself healthy."""
    build = await prom.get("/api/v1/status/buildinfo")
    runtime = await prom.get("/api/v1/status/runtimeinfo")
    lines = [
        f"version: {build.get('version')} (revision {build.get('revision', '')[:12]}, "
        f"{build.get('goVersion')})",
        f"started: {runtime.get('startTime')}",
        f"storage retention: {runtime.get('storageRetention')}",
        f"config reload ok: {runtime.get('reloadConfigSuccess')} "
        f"(last {runtime.get('lastConfigTime')})",
        f"goroutines: {runtime.get('goroutineCount')}, "
        f"corruption count: {runtime.get('corruptionCount')}",
    ]
    return Text("\n".join(lines))


def _result(data: Mapping[str, Any], narrow: str) -> Output:
    kind = data.get("resultType")
    result: Any = data.get("result") or []
    if kind == "scalar" or kind == "string":
        at, value = result
        return Text(f"{kind} {_number(value) if kind == 'scalar' else value} at {_iso(at)}")
    if kind == "vector":
        rows = [[_series_name(s["metric"]), _number(s["value"][1])] for s in result]
        return Table(["SERIES", "VALUE"], rows, narrow=narrow)
    rows = []
    for s in result:
        values = [float(v) for _, v in s.get("values", [])]
        finite = [v for v in values if math.isfinite(v)] or values
        rows.append(
            [
                _series_name(s["metric"]),
                str(len(values)),
                _number(values[0]) if values else "",
                _number(values[-1]) if values else "",
                _number(min(finite)) if finite else "",
                _number(max(finite)) if finite else "",
                _number(sum(finite) / len(finite)) if finite else "",
            ]
        )
    return Table(["SERIES", "POINTS", "FIRST", "LAST", "MIN", "MAX", "AVG"], rows, narrow=narrow)


def _series_name(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _number(value: Any) -> str:
    number = float(value)
    return f"{number:.6g}" if math.isfinite(number) else str(value)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(float(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(stamp: str | None) -> str:
    if not stamp or stamp.startswith("0001"):
        return "never"
    try:
        moment = parse_timestamp(stamp)
    except ValueError:
        return stamp
    seconds = (datetime.now(UTC) - moment).total_seconds()
    return f"{seconds:.0f}s ago"


def _alert_row(alert: Mapping[str, Any]) -> list[str]:
    labels = dict(alert.get("labels", {}))
    name = labels.pop("alertname", "")
    severity = labels.pop("severity", "")
    shown = join_labels(dict(sorted(labels.items())))
    annotations = alert.get("annotations", {})
    return [
        name,
        alert.get("state", ""),
        severity,
        alert.get("activeAt", "")[:19],
        shown,
        annotations.get("summary", annotations.get("description", "")),
    ]


TOOLS = [
    query,
    query_range,
    series,
    label_names,
    label_values,
    metric_metadata,
    targets,
    alerts,
    rules,
    server_info,
]
