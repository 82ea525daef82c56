"""What a tool returns, and how the gate turns it into one compact text for a model.

A result is sent once, as text: tables read well for models and cost far fewer tokens
than JSON sent twice (text plus structured content).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_MAX_CELL = 300


@dataclass
class Table:
    """Rows under a header, like `kubectl get`; `narrow` tells how to ask for fewer rows."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    narrow: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Text:
    text: str
    narrow: str = ""


Output = Table | Text


@dataclass
class Rendered:
    text: str
    items: int
    cut: bool


def render(output: Output, max_items: int, max_bytes: int) -> Rendered:
    """Apply the item and byte limits; a cut result ends with a notice saying how to narrow."""
    if isinstance(output, Text):
        return _cut_bytes(output.text, max_bytes, output.narrow, items=1, cut=False)
    rows = output.rows
    total = len(rows)
    cut = total > max_items
    shown = rows[:max_items]
    lines = [output.title] if output.title else []
    lines.extend(_align([output.columns, *shown]))
    if not rows:
        lines.append("(none)")
    lines.extend(output.notes)
    if cut:
        lines.append(
            f"[cut: showing {len(shown)} of {total} rows (limit {max_items}). "
            f"{output.narrow or 'Narrow the request.'}]"
        )
    return _cut_bytes("\n".join(lines), max_bytes, output.narrow, items=len(shown), cut=cut)


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
