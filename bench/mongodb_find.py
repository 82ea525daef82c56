"""The MongoDB MCP server against FerretDB from the local stack.

Over stdio with a plain JSON-RPC client: a find cut at the role's cap over 100,000
documents (time, and the server's peak RSS), the added latency of a one-document find
through MCP versus pymongo straight to the database, cold start and catalogue size.
Run: `make bench` or `python -m bench.run mongodb`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from bench.stdio_session import StdioSession
from devstack import ferretdb

BENCH_POLICY = """
server: mongodb
stdio_role: reader
roles:
  reader:
    tools: ["*"]
    scope: {max_time_ms: 60000}
    limits: {max_items: 100, max_bytes: 24000, timeout_seconds: 90, calls_per_minute: 100000}
"""
DATABASE = "bench"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--cut-calls", type=int, default=20)
    parser.add_argument("--starts", type=int, default=3)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        work = Path(workdir)
        (work / "policy.yaml").write_text(BENCH_POLICY)
        server = ferretdb.start(work / "stack")
        try:
            (work / "uri").write_text(server.url)
            seed(server.url, options.documents)
            return measure(server.url, work, options)
        finally:
            server.stop()


def seed(url: str, documents: int) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    with client:
        events: Collection[dict[str, Any]] = client[DATABASE].events
        batch = []
        for i in range(documents):
            batch.append({"i": i, "status": "ok" if i % 10 else "failed", "note": f"event {i}"})
            if len(batch) == 10_000:
                events.insert_many(batch)
                batch = []
        if batch:
            events.insert_many(batch)
        events.create_index("i")


def _session(work: Path) -> StdioSession:
    return StdioSession(
        "mongodb", "--uri-file", str(work / "uri"), "--policy", str(work / "policy.yaml")
    )


def measure(url: str, work: Path, options: argparse.Namespace) -> dict[str, Any]:
    colds = []
    catalogue = 0
    for _ in range(options.starts):
        session = _session(work)
        tools = session.initialize()
        colds.append(time.perf_counter() - session.started)
        catalogue = len(json.dumps(tools, separators=(",", ":")))
        session.close()

    # The command the tool sends for limit 1: limit 2 (one more says whether more match), on
    # a filter that matches more, so that FerretDB ends the cursor in its first batch (when a
    # limit is not reached it continues the scan batch by batch, seconds on 100,000 documents).
    direct = []
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    with client:
        events: Collection[dict[str, Any]] = client[DATABASE].events
        for n in range(options.calls):
            began = time.perf_counter()
            found = list(events.find({"i": {"$gte": n}}, limit=2, batch_size=2))
            direct.append(time.perf_counter() - began)
            assert len(found) == 2

    session = _session(work)
    session.initialize()
    one, cut = [], []
    try:
        for n in range(options.calls):
            filter_ = {"i": {"$gte": n}}
            arguments = {"database": DATABASE, "collection": "events", "filter": filter_}
            began = time.perf_counter()
            session.call("find", {**arguments, "limit": 1})
            one.append(time.perf_counter() - began)
        rss_one = session.peak_rss_mb()
        for _ in range(options.cut_calls):
            began = time.perf_counter()
            text = session.call(
                "find", {"database": DATABASE, "collection": "events", "limit": 1000}
            )
            cut.append(time.perf_counter() - began)
        assert "[cut: " in text, "the answer says it was cut"
        rss_cut = session.peak_rss_mb()
    finally:
        session.close()

    direct_ms = statistics.median(direct) * 1000
    mcp_ms = statistics.median(one) * 1000
    return {
        "documents": options.documents,
        "find_cut_at_cap_median_ms": round(statistics.median(cut) * 1000, 1),
        "find_cut_result_bytes": len(text.encode()),
        "peak_rss_mb_after_one_document_finds": round(rss_one, 1),
        "peak_rss_mb_after_cut_finds": round(rss_cut, 1),
        "direct_find_one_median_ms": round(direct_ms, 3),
        "mcp_stdio_find_one_median_ms": round(mcp_ms, 3),
        "added_ms": round(mcp_ms - direct_ms, 3),
        "cold_start_to_tools_list_s": round(statistics.median(colds), 3),
        "catalogue_chars": catalogue,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
