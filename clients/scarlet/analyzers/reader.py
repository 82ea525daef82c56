"""The run's reads: paged lists and tables through the MCP pool, answers cached, failures
noted. A tool that is refused or down becomes a note: the run goes on with what it could read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.core.output import parse_cut, parse_table

from .findings import EXCERPT_LINES, Evidence, excerpt

PAGE = 50
MAX_PAGES = 40


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
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    def evidence(self, detail: Any) -> Evidence:
        return Evidence(self.tool, self.arguments, excerpt(f"{self.namespace}/{self.name}", detail))


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


class Reader:
    """The run's tool calls: paged lists, parsed tables, answers cached, failures noted."""

    def __init__(self, pool: McpPool, scope: AnalyzerScope) -> None:
        self.pool = pool
        self.scope = scope
        self.notes: list[str] = []
        self._lists: dict[str, list[Item]] = {}
        self._events: dict[str, list[tuple[Rows, Row]]] = {}
        self.failed: set[str] = set()

    @property
    def targets(self) -> list[str | None]:
        return list(self.scope.namespaces) if self.scope.namespaces is not None else [None]

    async def call(self, what: str, tool: str, arguments: dict[str, Any]) -> str | None:
        """The answer's text, or None with a note saying what could not be read and why."""
        result = await self.pool.call(tool, arguments)
        if result.outcome == "ok":
            return result.text
        reason = (result.text.strip().splitlines() or [result.outcome])[0]
        if result.outcome == "unknown_tool":
            reason = f"{tool} is not offered to Scarlet (its policy hides it, or no such server)"
        self.notes.append(f"{what} unavailable: {reason}")
        return None

    async def objects(self, kind: str, what: str) -> list[Item]:
        if kind not in self._lists:
            items: list[Item] = []
            for namespace in self.targets:
                items += await self._list(kind, what, namespace)
            self._lists[kind] = items
        return self._lists[kind]

    async def _list(self, kind: str, what: str, namespace: str | None) -> list[Item]:
        """Every page of one kind; a page cut by the role's byte limit is asked again smaller."""
        tool = "kubernetes__list_resources"
        where = f" in {namespace}" if namespace else ""
        base: dict[str, Any] = {"kind": kind, "output": "json"}
        if namespace:
            base["namespace"] = namespace
        items: list[Item] = []
        seen: set[tuple[str, str]] = set()
        cursor: str | None = None
        limit = PAGE
        for _ in range(MAX_PAGES):
            arguments = {**base, "limit": limit}
            if cursor:
                arguments["continue_from"] = cursor
            text = await self.call(what + where, tool, arguments)
            if text is None:
                self.failed.add(kind)
                return items
            document = parse_json(text)
            if document is None:
                if parse_cut(text) is not None and limit > 1:
                    limit = max(1, limit // 4)
                    continue
                self.notes.append(f"{what}{where} unreadable: {text.strip()[-200:]}")
                return items
            page = [Item(o, tool, arguments) for o in document.get("items", [])]
            new = [i for i in page if (i.namespace, i.name) not in seen]
            seen.update((i.namespace, i.name) for i in new)
            items += new
            cursor = (document.get("next_page") or {}).get("continue_from")
            if not cursor:
                return items
            if not new:
                self.notes.append(f"{what}{where}: the next page repeated the last one; stopped")
                return items
        self.notes.append(f"{what}{where}: stopped after {MAX_PAGES} pages; narrow the scope")
        return items

    async def pods(self) -> list[Item]:
        return await self.objects("pods", "pods")

    async def events(self, reason: str) -> list[tuple[Rows, Row]]:
        """Warning events with this reason in scope, each with the table it came from."""
        if reason not in self._events:
            found: list[tuple[Rows, Row]] = []
            for namespace in self.targets:
                arguments: dict[str, Any] = {"type": "Warning", "reason": reason}
                if namespace:
                    arguments["namespace"] = namespace
                text = await self.call("events", "kubernetes__events", arguments)
                if text is not None:
                    table = parse_rows("kubernetes__events", arguments, text)
                    found += [(table, row) for row in table.rows]
            self._events[reason] = found
        return self._events[reason]

    async def pod_events(self, reason: str, pod: Item) -> tuple[list[Evidence], list[str]]:
        """The pod's events with this reason: as evidence, and their messages."""
        rows = [
            (table, row)
            for table, row in await self.events(reason)
            if row.cells.get("OBJECT") == f"Pod/{pod.name}"
            and row.cells.get("NAMESPACE") == pod.namespace
        ]
        return [t.evidence([r]) for t, r in rows], [r.cells.get("MESSAGE", "") for _, r in rows]


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
