"""What a tool returns, how the gate turns it into one compact text for a model, and how a
program reads that text back.

A result is sent once, as text: tables read well for models and cost far fewer tokens
than JSON sent twice (text plus structured content). Programs that need fields ask a tool
for JSON where it offers it; where they must read a table or learn whether a result was cut,
they use `parse_table` and `parse_cut`, which sit here beside the renderer they invert.

Lines (JSON lines, say) render as themselves, one item per line, with notes and cut notice
as a table's.

A rendered table is its header, one line per row (or `(none)`), then, after a blank line, its
notes, and last a cut notice when rows or bytes were cut. Columns are aligned with at least two
spaces; a cell's own whitespace is folded to single spaces, so cells never hold two in a row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MAX_CELL = 300
_NONE = "(none)"
_ROWS_CUT = re.compile(r"\[cut: showing (\d+) of (\d+) rows \(limit (\d+)\)\. (.*)\]")
_BYTES_CUT = re.compile(r"\[cut: result exceeded (\d+) bytes and was truncated\. (.*)\]")
_COLUMN = re.compile(r"\S+(?: \S+)*")


@dataclass
class Table:
    """Rows under a header, like `kubectl get`; `narrow` tells how to ask for fewer rows."""

    columns: list[str]
    rows: list[list[str]]
    narrow: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Text:
    text: str
    narrow: str = ""


@dataclass
class Lines:
    """One item per line (JSON lines, say), cut at the item limit like a table's rows; no
    header, no alignment, no folding: each line is shown as it is."""

    lines: list[str]
    narrow: str = ""
    notes: list[str] = field(default_factory=list)


Output = Table | Text | Lines


@dataclass
class Rendered:
    text: str
    items: int
    cut: bool


@dataclass(frozen=True)
class Cut:
    """What a cut notice says: rows shown of a total under the item limit, or the byte limit
    a result passed (then how many rows were lost is unknown)."""

    narrow: str
    shown: int | None = None
    total: int | None = None
    limit: int | None = None
    max_bytes: int | None = None


@dataclass
class ParsedTable:
    """A rendered table read back; `header` and `lines` are the text of the header and of
    each row as rendered, for quoting."""

    columns: list[str]
    rows: list[list[str]]
    notes: list[str]
    cut: Cut | None
    header: str = ""
    lines: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def render(output: Output, max_items: int, max_bytes: int) -> Rendered:
    """Apply the item and byte limits; a cut result ends with a notice saying how to narrow."""
    if isinstance(output, Text):
        return _cut_bytes(output.text, max_bytes, output.narrow, items=1, cut=False)
    if isinstance(output, Lines):
        rows: list[Any] = output.lines
        shown = rows[:max_items]
        lines = list(shown) or [_NONE]
    else:
        rows = output.rows
        shown = rows[:max_items]
        lines = _align([output.columns, *shown])
        if not rows:
            lines.append(_NONE)
    total = len(rows)
    cut = total > max_items
    if output.notes:
        lines.append("")
        lines.extend(output.notes)
    if cut:
        lines.append(
            f"[cut: showing {len(shown)} of {total} rows (limit {max_items}). "
            f"{output.narrow or 'Narrow the request.'}]"
        )
    return _cut_bytes("\n".join(lines), max_bytes, output.narrow, items=len(shown), cut=cut)


def parse_cut(text: str) -> Cut | None:
    """The cut notice a rendered result (table, text or JSON) ends with, if it was cut."""
    last = text.rsplit("\n", 1)[-1]
    if match := _ROWS_CUT.fullmatch(last):
        shown, total, limit, narrow = match.groups()
        return Cut(narrow, shown=int(shown), total=int(total), limit=int(limit))
    if match := _BYTES_CUT.fullmatch(last):
        return Cut(match.group(2), max_bytes=int(match.group(1)))
    return None


def parse_table(text: str) -> ParsedTable:
    """A table as `render` wrote it: columns start where their header names start.

    Column names must not be empty, nor every cell of a row (its line would be blank, like
    the one before the notes); a row with fewer cells than columns reads back with empty ones.
    """
    cut = parse_cut(text)
    lines = text.split("\n")
    if cut is not None:
        lines.pop()
    header, body = lines[0], lines[1:]
    starts = [(m.group(), m.start()) for m in _COLUMN.finditer(header)]
    columns = [name for name, _ in starts]
    notes: list[str] = []
    if "" in body:
        notes = body[body.index("") + 1 :]
        body = body[: body.index("")]
    if body == [_NONE]:
        body = []
    rows = []
    for line in body:
        ends = [start for _, start in starts[1:]] + [len(line)]
        rows.append([line[start:end].strip() for (_, start), end in zip(starts, ends, strict=True)])
    return ParsedTable(columns, rows, notes, cut, header, body)


def join_labels(labels: Mapping[str, str]) -> str:
    """Labels in one cell, `name=value,name=value`; `split_labels` reads them back (a value
    holding a comma does not survive the trip)."""
    return ",".join(f"{name}={value}" for name, value in labels.items())


def split_labels(cell: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in cell.split(",") if "=" in part)
    return {name: value for name, value in pairs}


def _align(rows: list[list[str]]) -> list[str]:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]))]
    return [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells
    ]


def _cell(value: str) -> str:
    flat = " ".join(str(value).split())
    return flat if len(flat) <= _MAX_CELL else flat[: _MAX_CELL - 1] + "…"


def _cut_bytes(text: str, max_bytes: int, narrow: str, items: int, cut: bool) -> Rendered:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return Rendered(text, items, cut)
    notice = (
        f"\n[cut: result exceeded {max_bytes} bytes and was truncated. "
        f"{narrow or 'Narrow the request.'}]"
    )
    keep = max(0, max_bytes - len(notice.encode("utf-8")))
    head = data[:keep].decode("utf-8", errors="ignore")
    head = head[: head.rfind("\n")] if "\n" in head else head
    return Rendered(head + notice, items, True)
