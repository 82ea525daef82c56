"""Pieces of the gate that need no backend: rendering limits, rate limit, schemas, argument
types."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from autodevops.servers.core.args import (
    Args,
    DurationArg,
    TimeArg,
    parse_duration,
    parse_time,
)
from autodevops.servers.core.output import (
    Cut,
    Lines,
    Table,
    Text,
    join_labels,
    parse_cut,
    parse_table,
    render,
    split_labels,
)
from autodevops.servers.core.ratelimit import RateLimiter
from autodevops.servers.core.schema import compact_schema


def test_render_cuts_items_with_a_notice() -> None:
    table = Table(["A", "B"], [[str(i), "x"] for i in range(10)], narrow="Filter by A.")
    rendered = render(table, max_items=3, max_bytes=10_000)
    lines = rendered.text.splitlines()
    assert lines[:4] == ["A  B", "0  x", "1  x", "2  x"]
    assert lines[-1] == "[cut: showing 3 of 10 rows (limit 3). Filter by A.]"
    assert rendered.cut and rendered.items == 3


def test_render_cuts_bytes_on_a_line_boundary() -> None:
    rendered = render(Text("line\n" * 1000, narrow="Ask less."), max_items=10, max_bytes=400)
    assert len(rendered.text.encode()) <= 400 and rendered.cut
    body, notice = rendered.text.rsplit("\n", 1)
    assert set(body.splitlines()) == {"line"}
    assert notice.startswith("[cut: result exceeded 400 bytes") and "Ask less." in notice


def test_lines_render_as_themselves_and_cut_like_rows() -> None:
    lines = Lines(['{"a":1,  "b":"two  spaces"}', '{"a":2}', '{"a":3}'], "Use a filter.", ["n"])
    rendered = render(lines, max_items=2, max_bytes=10_000)
    assert rendered.text.splitlines()[:2] == lines.lines[:2], "no alignment, no folding"
    assert rendered.text.split("\n\n")[1].splitlines()[0] == "n"
    assert parse_cut(rendered.text) == Cut("Use a filter.", shown=2, total=3, limit=2)
    assert render(Lines([]), 5, 1000).text == "(none)"


def test_render_whole_result_is_not_marked_cut() -> None:
    rendered = render(Table(["A"], []), max_items=5, max_bytes=1000)
    assert rendered.text == "A\n(none)" and not rendered.cut


ROWS = [
    ["team-a", "5m", "Warning", "FailedMount", "Pod/web-1", "3", 'configmap "app" not found'],
    ["team-b", "12s", "Normal", "", "Deployment/api", "1", "Scaled up replica set to 2"],
    ["kube-system", "3d", "Warning", "BackOff", "Pod/coredns-5d78c9869d-abcde", "120", ""],
]
COLUMNS = ["NAMESPACE", "AGE", "TYPE", "REASON", "OBJECT", "COUNT", "LAST MESSAGE"]


def test_a_rendered_table_reads_back_as_its_rows() -> None:
    """Cells with spaces, empty cells in the middle and at the end, a header with a space."""
    table = Table(COLUMNS, ROWS, notes=["next page (4 more): continue_from=abc"])
    text = render(table, max_items=10, max_bytes=10_000).text
    parsed = parse_table(text)
    assert parsed.columns == COLUMNS
    assert parsed.rows == ROWS
    assert parsed.notes == ["next page (4 more): continue_from=abc"]
    assert parsed.cut is None
    assert parsed.records()[1]["LAST MESSAGE"] == "Scaled up replica set to 2"
    assert [parsed.header, *parsed.lines] == text.splitlines()[:4], "the lines as rendered"


def test_a_note_that_looks_like_a_row_stays_a_note() -> None:
    wide = [["x" * 80, "1"]]
    note = "range 2026-01-31T11:00:00Z .. 2026-01-31T12:00:00Z, step 30s"
    parsed = parse_table(render(Table(["SERIES", "POINTS"], wide, notes=[note]), 10, 10_000).text)
    assert (parsed.rows, parsed.notes) == (wide, [note])


def test_a_cut_table_reads_back_its_rows_and_the_cut() -> None:
    table = Table(COLUMNS, ROWS, narrow="Filter by namespace.", notes=["a note"])
    parsed = parse_table(render(table, max_items=2, max_bytes=10_000).text)
    assert parsed.rows == ROWS[:2] and parsed.notes == ["a note"]
    assert parsed.cut == Cut("Filter by namespace.", shown=2, total=3, limit=2)


def test_a_table_cut_by_bytes_keeps_whole_rows() -> None:
    rows = [[f"pod-{i:03d}", "Running", "node with a long name"] for i in range(100)]
    text = render(Table(["NAME", "STATUS", "NODE"], rows, narrow="Ask less."), 500, 1000).text
    parsed = parse_table(text)
    assert parsed.cut == Cut("Ask less.", max_bytes=1000)
    assert 0 < len(parsed.rows) < 100 and parsed.rows == rows[: len(parsed.rows)]


def test_an_empty_table_reads_back_empty() -> None:
    parsed = parse_table(render(Table(["A", "B"], []), 5, 1000).text)
    assert (parsed.columns, parsed.rows, parsed.notes, parsed.cut) == (["A", "B"], [], [], None)


def test_cells_are_read_back_as_rendered_folded_whitespace() -> None:
    parsed = parse_table(render(Table(["A", "B"], [["two\nlines  here", "x"]]), 5, 1000).text)
    assert parsed.rows == [["two lines here", "x"]]


def test_only_a_final_notice_is_a_cut() -> None:
    assert parse_cut('{"items": []}') is None
    assert parse_cut("[cut: showing 1 of 2 rows (limit 1). x]\nlast line") is None
    text = render(Text("line\n" * 100, narrow="Use since."), 10, 200).text
    assert parse_cut(text) == Cut("Use since.", max_bytes=200)


def test_labels_in_a_cell_read_back() -> None:
    labels = {"namespace": "team-a", "code": "500", "expr": "a=b"}
    assert split_labels(join_labels(labels)) == labels
    assert split_labels("") == {}


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(window_seconds=60)
    assert [limiter.allow("u", 2, now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.allow("other", 2, now=2)
    assert limiter.allow("u", 2, now=60.5)


def test_compact_schema_drops_titles_but_keeps_a_field_named_title() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}},
    }
    assert compact_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1h30m", 5400), ("250ms", 0.25), ("7d", 604800), (" 2w ", 1209600)],
)
def test_durations_in_prometheus_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("now", 1_000_000.0),
        ("now-1h30m", 1_000_000.0 - 5400),
        ("1700000000.5", 1_700_000_000.5),
        ("2026-01-31T12:00:00Z", 1_769_860_800.0),
        ("2026-01-31T13:00:00+01:00", 1_769_860_800.0),
    ],
)
def test_times_relative_to_now_rfc3339_or_unix(text: str, seconds: float) -> None:
    assert parse_time(text, now=1_000_000.0) == seconds


class _Window(Args):
    start: TimeArg
    step: DurationArg | None = None


def test_time_and_duration_arguments_are_refused_with_field_and_reason() -> None:
    with pytest.raises(ValidationError) as bad_time:
        _Window.model_validate({"start": "yesterday"})
    assert bad_time.value.errors()[0]["loc"] == ("start",)
    assert "'yesterday' is not a time; use now, now-1h" in str(bad_time.value)
    with pytest.raises(ValidationError) as bad_step:
        _Window.model_validate({"start": "now", "step": "5 minutes"})
    assert "'5 minutes' is not a duration" in str(bad_step.value)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        _Window.model_validate({"start": "now", "stpe": "1m"})
