"""A label whose values are redacted cannot be compared with a guess or carried out under
another name, whatever PromQL does it; the same label grouped under its own name stays
redacted in the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autodevops.servers.prometheus.scope import label_uses
from devstack.services import audit_lines
from tests.mcp_helpers import call_text, prometheus_mcp

NOTE = "autodevops_test_secret_note"
REFUSED_QUERIES = [
    f'label_replace({NOTE}, "x", "$1", "note", "password=(.*)")',
    f'label_replace({NOTE}, "x", "$1", "note", "password=(h).*")',
    f'{NOTE}{{note=~"password=hunter2"}}',
    f'{NOTE}{{note=~"password=wrong-guess"}}',
    f'{NOTE}{{note!="password=hunter2"}}',
    f'absent({NOTE}{{note="password=hunter2"}})',
    f'label_join({NOTE}, "x", "", "namespace", "note")',
    f'count_values("note", {NOTE})',
    f'sort_by_label({NOTE}, "note")',
    f'label_replace(vector(1), "note", "password=hunter2", "", "") and on(note) {NOTE}',
    f'sum(rate({NOTE}{{note=~"p.*"}}[5m])) or vector(0)',
]


@pytest.fixture(params=["viewer", "team-a"])
async def session(request: Any, prometheus: Any, tmp_path: Path) -> Any:
    async with prometheus_mcp(prometheus.url, request.param, tmp_path) as s:
        yield s


@pytest.mark.parametrize("query", REFUSED_QUERIES)
async def test_queries_that_compare_or_move_a_redacted_label_are_refused(
    session: Any, query: str
) -> None:
    client, audit = session
    for tool, extra in (("query", {}), ("query_range", {"start": "now-10m"})):
        text, error = await call_text(client, tool, {"query": query, **extra})
        assert error and "values of the label note are redacted" in text, text
        assert "hunter2" not in text
        assert audit_lines(audit)[-1]["reason"] == "out_of_scope"


async def test_a_right_and_a_wrong_guess_get_the_same_answer(session: Any) -> None:
    client, _ = session
    right, _ = await call_text(client, "query", {"query": f'{NOTE}{{note="password=hunter2"}}'})
    wrong, _ = await call_text(client, "query", {"query": f'{NOTE}{{note="password=nope"}}'})
    assert right == wrong


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("series", {"match": ['{note=~"password=h.*"}']}),
        ("label_values", {"label": "namespace", "match": [f'{NOTE}{{note="password=x"}}']}),
        ("label_names", {"match": ['{note=~"password=.*"}']}),
    ],
)
async def test_discovery_selectors_are_checked_the_same_way(
    session: Any, tool: str, arguments: dict[str, Any]
) -> None:
    client, _ = session
    text, error = await call_text(client, tool, arguments)
    assert error and "a matcher on note" in text, text


async def test_the_label_under_its_own_name_stays_visible_and_redacted(session: Any) -> None:
    client, _ = session
    text, error = await call_text(client, "query", {"query": f"count by (note) ({NOTE})"})
    assert not error and 'note="password=[REDACTED]"' in text and "hunter2" not in text
    text, error = await call_text(client, "label_values", {"label": "note"})
    assert not error and "hunter2" not in text


async def test_labels_without_redacted_values_are_queried_as_before(session: Any) -> None:
    client, _ = session
    text, error = await call_text(
        client,
        "query",
        {"query": 'label_replace(up{job="prometheus"}, "where", "$1", "instance", "(.*):.*")'},
    )
    assert not error, text
    text, error = await call_text(client, "query", {"query": f'{NOTE}{{namespace="team-a"}}'})
    assert not error and "[REDACTED]" in text


def test_label_uses_names_every_way_a_value_is_compared_or_moved() -> None:
    assert label_uses("up") == {}
    assert label_uses('rate({job="a",__name__="x"}[5m])') == {"job": "a matcher on job"}
    assert label_uses('label_replace(x, "dst", "$1", "src", "(.*)")') == {
        "dst": "label_replace target dst",
        "src": "label_replace source src",
    }
    assert label_uses('label_join(x, "d", "-", "a", "b")').keys() == {"d", "a", "b"}
    assert label_uses('count_values("v", x)') == {"v": "count_values into v"}
    assert label_uses('sort_by_label_desc(x, "a", "b")').keys() == {"a", "b"}
    assert label_uses("sum by (a) (x) * on (b) group_left (c) y") == {}
