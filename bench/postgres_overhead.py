"""The PostgreSQL MCP server against a real local PostgreSQL.

Over stdio with a plain JSON-RPC client: cold start to a listed catalogue, the catalogue's
size, the added latency of a one-row query through MCP versus psycopg straight to the
database, and a query returning 100,000 rows cut at the cap (time, and the server's peak RSS
against psycopg fetching them all). Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.stdio_session import StdioSession
from devstack import postgres

BENCH_POLICY = """
server: postgres
stdio_role: viewer
roles:
  viewer:
    tools: ["*"]
    limits: {calls_per_minute: 100000}
"""
ROWS = "SELECT g AS n, md5(g::text) AS digest FROM generate_series(1, 100000) g"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        # As root the database runs as the postgres user, which must reach its directory.
        Path(workdir).chmod(0o755)
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(BENCH_POLICY)
        server = postgres.start(Path(workdir) / "stack")
        dsn_file = Path(workdir) / "dsn"
        dsn_file.write_text(server.url)
        try:
            return measure(server.url, dsn_file, policy, options.calls, options.starts)
        finally:
            server.stop()


def _session(dsn_file: Path, policy: Path) -> StdioSession:
    return StdioSession("postgres", "--dsn-file", str(dsn_file), "--policy", str(policy))


def measure(dsn: str, dsn_file: Path, policy: Path, calls: int, starts: int) -> dict[str, Any]:
    colds = []
    catalogue = 0
    for _ in range(starts):
        session = _session(dsn_file, policy)
        tools = session.initialize()
        colds.append(time.perf_counter() - session.started)
        catalogue = len(json.dumps(tools, separators=(",", ":")))
        session.close()

    direct = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(calls):
            began = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            direct.append(time.perf_counter() - began)
        began = time.perf_counter()
        fetched = len(conn.execute(ROWS).fetchall())
        direct_all_s = time.perf_counter() - began
    direct_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    session = _session(dsn_file, policy)
    session.initialize()
    through = []
    try:
        for _ in range(calls):
            began = time.perf_counter()
            session.call("query", {"sql": "SELECT 1"})
            through.append(time.perf_counter() - began)
        before = session.peak_rss_mb()
        began = time.perf_counter()
        text = session.call("query", {"sql": ROWS})
        cut_s = time.perf_counter() - began
        after = session.peak_rss_mb()
    finally:
        session.close()
    assert "more rows exist" in text, text

    direct_ms = statistics.median(direct) * 1000
    mcp_ms = statistics.median(through) * 1000
    return {
        "calls": calls,
        "direct_one_row_median_ms": round(direct_ms, 3),
        "mcp_stdio_one_row_median_ms": round(mcp_ms, 3),
        "added_ms": round(mcp_ms - direct_ms, 3),
        "rows_100k_cut_at_cap_s": round(cut_s, 3),
        "server_peak_rss_mb_before_and_after": [round(before, 1), round(after, 1)],
        "psycopg_fetchall_100k_s": round(direct_all_s, 3),
        "psycopg_fetchall_rows": fetched,
        "bench_process_peak_rss_mb": round(direct_rss, 1),
        "cold_start_to_tools_list_s": round(statistics.median(colds), 3),
        "catalogue_chars": catalogue,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
