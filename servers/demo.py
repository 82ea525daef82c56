"""The main job at this stage: a real Prometheus, the Prometheus MCP server over streamable
HTTP with two tokens, and real MCP calls whose answers are printed for the reader."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

QUESTIONS = [
    ("viewer", "query", {"query": "sum by (namespace) (autodevops_test_requests_total)"}),
    ("viewer", "alerts", {"state": "firing"}),
    ("viewer", "query_range", {"query": "sum(up) by (job)", "start": "now-2m"}),
    ("team-a", "query", {"query": "sum by (namespace) (autodevops_test_requests_total)"}),
    ("team-a", "query", {"query": '{__name__=~".+", namespace="team-b"}'}),
]


def run_demo() -> int:
    from autodevops.stack.prometheus import start_prometheus

    with tempfile.TemporaryDirectory(prefix="autodevops-demo-") as workdir:
        work = Path(workdir)
        print("Starting a local Prometheus scraping a small exporter ...", flush=True)
        prometheus = start_prometheus(work / "prometheus")
        server: subprocess.Popen[bytes] | None = None
        try:
            tokens = {role: secrets.token_urlsafe(24) for role in ("viewer", "team-a")}
            server, url = _start_server(work, prometheus.url, tokens)
            print(f"Prometheus: {prometheus.url}\nMCP server: {url}/mcp\n", flush=True)
            asyncio.run(_ask(f"{url}/mcp", tokens))
            print("\nAudit log (one JSON line per call):")
            print((work / "audit.jsonl").read_text().splitlines()[-1])
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)
            prometheus.stop()
    return 0


def _start_server(
    work: Path, prometheus_url: str, tokens: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    from autodevops.stack.base import free_port

    policy = {
        "server": "prometheus",
        "roles": {
            "viewer": {"tools": ["*"]},
            "team-a": {
                "tools": ["query", "alerts"],
                "scope": {"labels": {"namespace": ["team-a"]}},
            },
        },
    }
    (work / "policy.yaml").write_text(yaml.safe_dump(policy))
    entries = [{"token": t, "subject": f"demo-{r}", "roles": [r]} for r, t in tokens.items()]
    (work / "tokens.yaml").write_text(yaml.safe_dump(entries))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "autodevops.servers.cli",
        "serve",
        "prometheus",
        "--transport",
        "http",
        "--port",
        str(port),
        "--prometheus-url",
        prometheus_url,
        "--policy",
        str(work / "policy.yaml"),
        "--tokens-file",
        str(work / "tokens.yaml"),
        "--audit-log",
        str(work / "audit.jsonl"),
    ]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the MCP server did not start within 30 s")


async def _ask(mcp_url: str, tokens: dict[str, str]) -> None:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    for role, tool, arguments in QUESTIONS:
        transport = StreamableHttpTransport(
            mcp_url, headers={"Authorization": f"Bearer {tokens[role]}"}
        )
        async with Client(transport) as client:
            result = await client.call_tool(tool, arguments, raise_on_error=False)
        status = "refused/error" if result.is_error else "ok"
        print(f"--- as {role}: {tool} {arguments} [{status}]")
        print(result.content[0].text)
