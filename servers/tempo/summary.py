"""A trace in a few hundred lines: the critical path, the errors, the slowest spans by self
time and the services involved, within the role's span budget.

Spans outside the caller's scope keep the trace's shape visible (their service, timing and
count) and nothing else: no name, no attributes, no status message.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .attributes import format_attributes
from .trace import Span

HIDDEN = "(outside your scope)"
_EXCEPTION_KEYS = ("exception.type", "exception.message")


@dataclass(frozen=True)
class Step:
    """One span on the critical path and the time it alone holds the trace back."""

    span: Span
    on_path_ns: int


class Tree:
    """Parent/child links of a trace; spans whose parent is missing are roots."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = list(spans)
        ids = {s.span_id for s in self.spans}
        self.children: dict[str, list[Span]] = defaultdict(list)
        self.roots: list[Span] = []
        for span in self.spans:
            if span.parent_id and span.parent_id in ids and span.parent_id != span.span_id:
                self.children[span.parent_id].append(span)
            else:
                self.roots.append(span)
        for kids in self.children.values():
            kids.sort(key=lambda s: (s.start_ns, s.span_id))
        self.roots.sort(key=lambda s: (s.start_ns, -s.duration_ns))

    @property
    def root(self) -> Span | None:
        return self.roots[0] if self.roots else None

    def depth_first(self) -> list[tuple[int, Span]]:
        """Every span once, parents before children, siblings by start time."""
        out: list[tuple[int, Span]] = []
        seen: set[str] = set()
        stack = [(0, root) for root in reversed(self.roots)]
        while stack:
            depth, span = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            out.append((depth, span))
            stack.extend((depth + 1, kid) for kid in reversed(self.children.get(span.span_id, [])))
        return out

    def self_time(self, span: Span) -> int:
        """The span's duration minus the time its children cover (overlaps counted once)."""
        covered = 0
        cursor = span.start_ns
        for kid in self.children.get(span.span_id, []):
            start, end = max(kid.start_ns, cursor), min(kid.end_ns, span.end_ns)
            if end > start:
                covered += end - start
                cursor = end
        return max(0, span.duration_ns - covered)

    def critical_path(self) -> list[Step]:
        """The chain of spans that sets the trace's duration, root first.

        Walking back from a span's end, the child that finished last holds it up until its
        own start, then the last child to finish before that, and so on; time not covered by
        such a child is the span's own.
        """
        root = self.root
        if root is None:
            return []
        steps: list[Step] = []
        work = [(root, root.end_ns)]
        while work:
            span, bound = work.pop()
            cursor = first = min(span.end_ns, bound)
            own = 0
            kids = sorted(self.children.get(span.span_id, []), key=lambda s: -s.end_ns)
            for kid in kids:
                # A child still running when the chosen one started does not hold the span
                # up; only the first may outlive its parent (clipped to the parent's end).
                if kid.start_ns >= cursor or kid.end_ns <= span.start_ns:
                    continue
                if kid.end_ns > cursor and cursor != first:
                    continue
                end = min(kid.end_ns, cursor)
                own += cursor - end
                work.append((kid, end))
                cursor = max(kid.start_ns, span.start_ns)
            own += max(0, cursor - span.start_ns)
            steps.append(Step(span, own))
        steps.sort(key=lambda step: (step.span.start_ns, step.span.span_id))
        return steps


def ms(nanos: int) -> str:
    value = nanos / 1e6
    if value >= 1000:
        return f"{value / 1000:.2f}s"
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def iso(nanos: int) -> str:
    return datetime.fromtimestamp(nanos / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def label(span: Span, visible: bool) -> str:
    return f"{span.service}: {span.name}" if visible else f"{span.service} {HIDDEN}"


def exceptions(span: Span) -> list[str]:
    found = []
    for event in span.events:
        if event.name != "exception":
            continue
        parts = [str(event.attributes[k]) for k in _EXCEPTION_KEYS if event.attributes.get(k)]
        frames = [
            line.strip()
            for line in str(event.attributes.get("exception.stacktrace", "")).splitlines()
            if line.strip().startswith(("File ", "at "))
        ]
        if frames:
            parts.append(frames[-1].removeprefix("at ")[:160])
        found.append(": ".join(parts) if parts else "exception")
    return found


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summarize(
    trace_id: str, spans: Sequence[Span], in_scope: Callable[[Span], bool], budget: int
) -> str:
    """The summary text; at most `budget` span lines across its sections."""
    tree = Tree(spans)
    root = tree.root
    if root is None:
        return f"trace {trace_id}: no spans"
    visible = {s.span_id: in_scope(s) for s in tree.spans}
    start = min(s.start_ns for s in tree.spans)
    end = max(s.end_ns for s in tree.spans)
    hidden = sum(1 for v in visible.values() if not v)
    # Parents before children: the last error listed is the deepest, most often the cause.
    errors = [s for _, s in tree.depth_first() if s.failed]
    share = max(3, budget // 4)
    lines = [
        f"trace {trace_id}",
        f"root: {label(root, visible[root.span_id])}, started {iso(start)}, took {ms(end - start)}",
        f"spans: {len(tree.spans)} ({hidden} outside your scope), "
        f"services: {len({s.service for s in tree.spans})}, errors: {len(errors)}",
    ]
    if len(tree.roots) > 1:
        lines.append(f"note: {len(tree.roots) - 1} spans have a parent missing from the trace")
    used = 0

    path = tree.critical_path()
    kept = sorted(path, key=lambda step: -step.on_path_ns)[: min(share, 25)]
    kept_ids = {step.span.span_id for step in kept}
    lines += ["", f"critical path ({len(path)} spans; time each holds the trace up):"]
    for step in path:
        if step.span.span_id not in kept_ids:
            continue
        span = step.span
        status = " ERROR" if span.failed and visible[span.span_id] else ""
        lines.append(
            f"  {ms(step.on_path_ns):>9} of {ms(span.duration_ns):>9}  "
            f"{label(span, visible[span.span_id])}{status}"
        )
        used += 1
    if len(path) > len(kept):
        lines.append(f"  ({len(path) - len(kept)} shorter steps not shown)")

    lines += ["", f"errors ({len(errors)}):"]
    if not errors:
        lines.append("  none")
    shown_errors = [s for s in errors if visible[s.span_id]]
    groups: dict[tuple[str, str, str], list[Span]] = defaultdict(list)
    for span in shown_errors:
        groups[(span.service, span.name, span.status_message)].append(span)
    for (_, _, message), group in list(groups.items())[: min(share, 10)]:
        span = group[0]
        count = f" x{len(group)}" if len(group) > 1 else ""
        lines.append(f"  {label(span, True)}{count} ({ms(span.duration_ns)}): {message or '-'}")
        for text in exceptions(span)[:2]:
            lines.append(f"    exception: {text}")
        details = format_attributes(span.attributes, summary=True)
        if details:
            lines.append(f"    {details}")
        used += 1
    if len(groups) > min(share, 10):
        lines.append(f"  ({len(groups) - min(share, 10)} more kinds of error not shown)")
    outside = Counter(s.service for s in errors if not visible[s.span_id])
    for service, hidden_errors in sorted(outside.items()):
        lines.append(f"  {hidden_errors} in {service} {HIDDEN}")

    room = max(1, min(share, 10, budget - used))
    slowest = sorted(
        (s for s in tree.spans if visible[s.span_id]), key=lambda s: -tree.self_time(s)
    )[:room]
    lines += ["", "slowest by self time (own work, children excluded):"]
    for span in slowest:
        lines.append(
            f"  {ms(tree.self_time(span)):>9} self of {ms(span.duration_ns):>9}  "
            f"{label(span, True)}{' ERROR' if span.failed else ''}"
        )
    if not slowest:
        lines.append("  none in your scope")

    lines += ["", "services (spans, errors, self time):"]
    per_service: dict[str, list[Span]] = defaultdict(list)
    for span in tree.spans:
        per_service[span.service].append(span)
    for service, members in sorted(per_service.items(), key=lambda kv: -len(kv[1])):
        fails = sum(1 for s in members if s.failed)
        own = sum(tree.self_time(s) for s in members)
        mark = "" if any(visible[s.span_id] for s in members) else f" {HIDDEN}"
        lines.append(
            f"  {service}{mark}: {_count(len(members), 'span')}, {_count(fails, 'error')}, "
            f"{ms(own)}"
        )
    lines += [
        "",
        "For every span: get_trace with view=spans (pages of the span budget).",
    ]
    return "\n".join(lines)
