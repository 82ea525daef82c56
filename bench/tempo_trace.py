"""The Tempo MCP server reading a trace of 5,000 spans from the fake Tempo.

Over stdio with a plain JSON-RPC client: `get_trace` as a summary and as its first page of
spans (time, median of 10, and answer size), against fetching the raw trace straight from
the fake (which serves it from the same process), and the server's peak RSS after them.
Run: `.venv/bin/python -m bench.run tempo`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stdio_session import StdioSession
from tests.fakes.fake_tempo import FakeTempo, fan_out_trace

TRACE_ID = "f" * 32
BENCH_POLICY = """
server: tempo
stdio_role: viewer
roles:
  viewer:
    tools: ["*"]
    scope: {max_spans: 150}
    limits: {calls_per_minute: 100000, max_items: 150, max_bytes: 48000}
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=10)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(BENCH_POLICY)
        with FakeTempo(extra=[fan_out_trace(options.spans, TRACE_ID)]) as tempo:
            return measure(tempo.url, policy, options.calls)


def _timed(session: StdioSession, arguments: dict[str, Any], calls: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(calls):
        began = time.perf_counter()
        text = session.call("get_trace", arguments)
        times.append(time.perf_counter() - began)
    return statistics.median(times), text


def measure(tempo_url: str, policy: Path, calls: int) -> dict[str, Any]:
    fetches = []
    with httpx.Client(base_url=tempo_url, timeout=30) as http:
        for _ in range(calls):
            began = time.perf_counter()
            raw = http.get(f"/api/v2/traces/{TRACE_ID}")
            raw.raise_for_status()
            fetches.append(time.perf_counter() - began)
    session = StdioSession("tempo", "--tempo-url", tempo_url, "--policy", str(policy))
    try:
        session.initialize()
        summary_s, summary = _timed(session, {"trace_id": TRACE_ID}, calls)
        page_s, page = _timed(session, {"trace_id": TRACE_ID, "view": "spans"}, calls)
        rss = session.peak_rss_mb()
    finally:
        session.close()
    return {
        "spans": summary.split("spans: ", 1)[1].split(" ", 1)[0],
        "raw_trace_bytes": len(raw.content),
        "raw_fetch_median_s": round(statistics.median(fetches), 3),
        "summary_median_s": round(summary_s, 3),
        "summary_bytes": len(summary.encode()),
        "summary_lines": summary.count("\n") + 1,
        "spans_page_median_s": round(page_s, 3),
        "spans_page_bytes": len(page.encode()),
        "peak_rss_mb": round(rss, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
