"""The trace summary proved on the fixtures: the critical path, the failing span, the
slowest span by self time, and what a scoped role sees of spans outside its scope."""

from __future__ import annotations

import json
import time

from autodevops.servers.tempo.summary import Tree, summarize
from autodevops.servers.tempo.trace import Span, decode_id, read_trace
from tests.fakes.fake_tempo import FIXTURES, fan_out_trace


def _spans(name: str) -> list[Span]:
    return read_trace(json.loads((FIXTURES / f"{name}.json").read_text()))


def _everything(_: Span) -> bool:
    return True


def test_checkout_critical_path_runs_to_the_failing_database_call() -> None:
    tree = Tree(_spans("checkout"))
    path = tree.critical_path()
    names = [step.span.name for step in path]
    assert names[0] == "POST /api/checkout" and names[-1] == "INSERT payments"
    assert "POST /charge" in names and "POST inventory/reserve" not in names
    longest = max(path, key=lambda step: step.on_path_ns)
    assert longest.span.name == "INSERT payments" and longest.on_path_ns == 1010 * 10**6
    # the path's steps add up to the trace's duration
    assert sum(step.on_path_ns for step in path) == 1200 * 10**6


def test_checkout_summary_names_the_failure_and_its_exception() -> None:
    text = summarize("4bf9", _spans("checkout"), _everything, 100)
    errors = text.split("errors (6):")[1].split("slowest")[0]
    assert "payment: INSERT payments (1.01s): deadlock detected" in errors
    assert "exception: psycopg.errors.DeadlockDetected: deadlock detected" in errors
    assert 'File "payment/db.py", line 88, in charge' in errors
    # SQL literals and secrets never reach the text
    assert "VALUES (?, ?, ?)" in errors and "4111111111111111" not in text
    assert "s3cr3t" not in text and "abcd1234secretvalue" not in text
    slowest = text.split("slowest by self time")[1].splitlines()[1]
    assert slowest.split() == ["1.01s", "self", "of", "1.01s", "payment:", "INSERT", "payments",
                               "ERROR"]  # fmt: skip
    assert "services: 5, errors: 6" in text
    assert "payment: 2 spans, 2 errors, 1.03s" in text


def test_fan_out_slowest_shard_is_on_the_path_and_slowest() -> None:
    spans = _spans("fanout")
    tree = Tree(spans)
    path_names = [step.span.name for step in tree.critical_path()]
    assert "query shard-7" in path_names and "query shard-3" not in path_names
    text = summarize("0af7", spans, _everything, 100)
    first = text.split("slowest by self time")[1].splitlines()[1]
    assert first.split()[0] == "2.40s" and first.endswith("index: search shard")
    assert "index: 12 spans, 0 errors" in text


def test_spans_outside_the_scope_show_their_service_only() -> None:
    spans = _spans("cross_namespace")
    text = summarize("5b8e", spans, lambda s: s.resource.get("k8s.namespace.name") == "team-a", 100)
    assert "spans: 6 (3 outside your scope)" in text
    assert "billing (outside your scope)" in text
    for secret in ("GET /internal/invoice", "SELECT invoices", "statement timeout",
                   "alice@example.com", "customer"):  # fmt: skip
        assert secret not in text
    assert "1 in billing (outside your scope)" in text
    assert "web: GET /invoice" in text


def test_a_trace_of_5000_spans_stays_within_the_budget() -> None:
    spans = read_trace(fan_out_trace(5000))
    assert len(spans) == 5000
    started = time.perf_counter()
    text = summarize("f" * 32, spans, _everything, 40)
    assert time.perf_counter() - started < 5
    span_lines = [line for line in text.splitlines() if line.startswith("    ") is False
                  and (" of " in line)]  # fmt: skip
    assert len(span_lines) <= 40
    assert len(text.encode()) < 8000
    assert "upstream timeout" in text


def test_ids_read_from_hex_and_base64() -> None:
    assert decode_id("4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert decode_id("S/kvNXezTaajzpKdDg5HNg==") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert decode_id("") == ""
