"""The run's reads: structured (JSON) lists through the MCP pool, narrowed to the run's subject
by namespace and field or label selectors, answers cached.

A read that is refused, down, cut or rate limited past its pacing becomes a named piece of
missing evidence: the run goes on with what it could read, and its status says "partial".
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from autodevops.clients.core.pool import SEPARATOR, McpPool
from autodevops.servers.core.output import parse_cut, parse_table

from .findings import EXCERPT_LINES, Evidence, Finding, excerpt
from .subject import Subject

LIST = "kubernetes__list_resources"
PAGE = 200
MAX_CALLS_PER_LIST = 8
# A role's rate limit counts calls per minute: a refused read is asked again after these
# pauses, so a burst of runs is paced by the servers' limit instead of losing its evidence.
PACING_SECONDS = (2.0, 4.0, 8.0, 16.0, 30.0)


# The list a subject's kind is read from, narrowed to it by name; the kinds whose pods are
# found by their selector.
LISTS = {
    "Pod": "pods",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Job": "jobs.batch",
    "CronJob": "cronjobs.batch",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
SELECTS_PODS = {"Deployment", "StatefulSet", "DaemonSet", "Service"}


@dataclass
class AnalyzerScope:
    """`namespaces=None` means every namespace Scarlet's identity may list."""

    namespaces: list[str] | None = None


@dataclass
class Item:
    """One listed object and the call that returned it, so evidence can name that call."""

    obj: dict[str, Any]
    tool: str
    arguments: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.obj.get("metadata") or {})

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.obj.get("spec") or {})

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.obj.get("status") or {})

    def evidence(self, detail: Any) -> Evidence:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return Evidence(self.tool, self.arguments, excerpt(where, detail))


@dataclass
class Row:
    cells: dict[str, str]
    line: str


@dataclass
class Rows:
    tool: str
    arguments: dict[str, Any]
    header: str
    rows: list[Row]

    def evidence(self, rows: list[Row]) -> Evidence:
        lines = [self.header, *(r.line for r in rows[: EXCERPT_LINES - 1])]
        return Evidence(self.tool, self.arguments, "\n".join(lines))


@dataclass
class Reader:
    """The run's tool calls, what they could not read, and the findings so far (a later
    analyzer may explain an earlier one's symptom instead of repeating it)."""

    pool: McpPool
    scope: AnalyzerScope
    subject: Subject = field(default_factory=Subject)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    calls: int = 0
    paced_seconds: float = 0.0
    _lists: dict[tuple[Any, ...], list[Item] | None] = field(default_factory=dict)

    @property
    def targets(self) -> list[str | None]:
        """The namespaces to read: the subject's, else the configured ones, else all."""
        allowed, wanted = self.scope.namespaces, self.subject.namespace
        if wanted is None:
            return [None] if allowed is None else list(allowed)
        return [wanted] if allowed is None or wanted in allowed else []

    async def call(self, what: str, tool: str, arguments: dict[str, Any]) -> str | None:
        """The answer's text, or None with `what` named as missing evidence and why."""
        pauses = iter(PACING_SECONDS)
        while True:
            self.calls += 1
            result = await self.pool.call(tool, arguments)
            if result.outcome == "ok":
                return result.text
            reason = (result.text.strip().splitlines() or [result.outcome])[0]
            pause = next(pauses, None) if reason.startswith("rate limit:") else None
            if pause is not None:
                self.paced_seconds += pause
                await asyncio.sleep(pause)
                continue
            if result.outcome == "unknown_tool":
                server = tool.partition(SEPARATOR)[0]
                if server not in {s.name for s in self.pool.status()}:
                    # Not missing evidence: this Scarlet is not given that server at all.
                    self.notes.append(f"{what} not read: no {server} server is configured")
                    return None
                reason = f"{tool} is not offered to Scarlet (its policy hides it)"
            self.missing.append(f"{what} unavailable: {reason}")
            return None

    async def objects(
        self,
        kind: str,
        what: str,
        *,
        labels: str | None = None,
        fields: str | None = None,
        cluster: bool = False,
    ) -> list[Item] | None:
        """Objects of one kind in the run's namespaces (or cluster-scoped ones), narrowed by
        selectors; None when no list could be read whole. A namespace whose list could not be
        read is named as missing and left out: no absence is concluded from it."""
        if not cluster and fields is None and LISTS.get(self.subject.kind or "") == kind:
            fields = f"metadata.name={self.subject.name}"
        key = (kind, labels, fields, cluster)
        if key not in self._lists:
            items: list[Item] | None = None
            for namespace in [None] if cluster else self.targets:
                listed = await self._list(kind, what, namespace, labels, fields)
                if listed is not None:
                    items = (items or []) + listed
            if not cluster and not self.targets:
                self.missing.append(
                    f"{what}: namespace {self.subject.namespace} is outside Scarlet's "
                    "configured namespaces"
                )
                items = None
            self._lists[key] = items
        return self._lists[key]

    async def _list(
        self,
        kind: str,
        what: str,
        namespace: str | None,
        labels: str | None,
        fields: str | None,
    ) -> list[Item] | None:
        """Every page of one list; a page cut by the role's byte limit is asked again with as
        many objects as fitted in the cut one, within a few calls."""
        where = f"{what} in {namespace}" if namespace else what
        base: dict[str, Any] = {"kind": kind, "output": "json"}
        if namespace:
            base["namespace"] = namespace
        if labels:
            base["label_selector"] = labels
        if fields:
            base["field_selector"] = fields
        items: list[Item] = []
        cursor: str | None = None
        limit = PAGE
        for _ in range(MAX_CALLS_PER_LIST):
            arguments = {**base, "limit": limit}
            if cursor:
                arguments["continue_from"] = cursor
            text = await self.call(where, LIST, arguments)
            if text is None:
                return None
            document = parse_json(text)
            if document is None:
                if parse_cut(text) is not None and limit > 1:
                    limit = _fitting(text, limit)
                    continue
                self.missing.append(f"{where} unreadable: {text.strip()[-200:]}")
                return None
            items += [Item(o, LIST, arguments) for o in document.get("items", [])]
            cursor = (document.get("next_page") or {}).get("continue_from")
            if not cursor:
                return await self._rest(items, document, kind, what, labels, fields)
        self.missing.append(
            f"{where}: cut by the result limit after {MAX_CALLS_PER_LIST} calls "
            f"({len(items)} read); raise the role's max_bytes or narrow the subject"
        )
        return None

    async def _rest(
        self,
        items: list[Item],
        document: dict[str, Any],
        kind: str,
        what: str,
        labels: str | None,
        fields: str | None,
    ) -> list[Item]:
        """A list over several namespaces has no next page: the server names the namespaces
        that hold more, and each is read on its own (one that fails is named as missing)."""
        seen = {(i.namespace, i.name) for i in items}
        for namespace in document.get("more_in_namespaces") or []:
            more = await self._list(kind, what, str(namespace), labels, fields) or []
            items += [i for i in more if (i.namespace, i.name) not in seen]
        return items

    async def pods(self) -> list[Item]:
        """The pods of the subject: all of its namespace's, or only the named object's, by
        its name or its label selector."""
        return await self.objects("pods", "pods", labels=await self._pod_labels()) or []

    async def _pod_labels(self) -> str | None:
        kind, name = self.subject.kind, self.subject.name
        if kind == "Job":
            return f"batch.kubernetes.io/job-name={name}"
        if kind not in SELECTS_PODS:
            return None
        owners = await self.objects(LISTS[kind], f"{kind} {name}") or []
        spec = owners[0].spec if owners else {}
        labels = spec.get("selector") or {}
        labels = labels.get("matchLabels", {}) if kind != "Service" else labels
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None

    async def warnings(self) -> list[Item]:
        """The Warning events of the run's namespaces, read once for every analyzer."""
        return await self.objects("events", "warning events", fields="type=Warning") or []

    async def events_of(self, kind: str, namespace: str, name: str, *reasons: str) -> list[Item]:
        return [
            e
            for e in await self.warnings()
            if (e.obj.get("involvedObject") or {}).get("kind") == kind
            and (e.obj.get("involvedObject") or {}).get("name") == name
            and e.namespace == namespace
            and (not reasons or e.obj.get("reason") in reasons)
        ]


def _fitting(cut: str, limit: int) -> int:
    """How many objects a page may hold: those the cut answer began, less the one it was cut
    in (the server writes JSON with one space of indent, so each item opens a line `  {`)."""
    begun = cut.count("\n  {")
    return max(1, min(limit // 2, begun - 1))


def event_detail(event: Item) -> dict[str, Any]:
    obj = event.obj
    involved = obj.get("involvedObject") or {}
    return {
        "reason": obj.get("reason"),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "message": str(obj.get("message", "")).strip(),
        "count": obj.get("count", 1),
    }


def parse_json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_rows(tool: str, arguments: dict[str, Any], text: str) -> Rows:
    """A server table read with the servers' own parser; each row keeps its line, to quote."""
    table = parse_table(text)
    rows = [Row(cells, line) for cells, line in zip(table.records(), table.lines, strict=True)]
    return Rows(tool, arguments, table.header, rows)
