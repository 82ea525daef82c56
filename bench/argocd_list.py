"""Listing 1,000 Argo CD applications through the Argo CD MCP server, in both modes, against
what the leading peer answers (the whole Application objects as JSON, one per row).

Core mode reads them from a private local API server with Argo CD's CRDs; API mode from the
fake Argo CD API server (the same objects). Pages of 500 rows. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.stdio_session import StdioSession
from devstack import kube as kube_stack
from devstack.argocd import install_crds
from tests.fakes.fake_argocd import FakeArgoCD
from tests.servers.argocd.data import many

PAGE = 500
TOKEN = "bench-token-0123456789"
POLICY = f"""
server: argocd
stdio_role: reader
roles:
  reader:
    tools: [list_applications]
    scope: {{app_namespaces: {{allow: [argocd]}}}}
    limits: {{max_items: {PAGE}, max_bytes: 10000000, calls_per_minute: 100000}}
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=1000)
    options = parser.parse_args(argv)
    apps = many(options.applications)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(POLICY)
        token = Path(workdir) / "token"
        token.write_text(TOKEN)
        with FakeArgoCD({TOKEN: "p, role:all, applications, *, */*, allow"}) as fake:
            for app in apps:
                fake.add(app)
            whole = httpx.get(
                f"{fake.url}/api/v1/applications", headers={"Authorization": f"Bearer {TOKEN}"}
            ).text
            api = _mcp(
                policy, "--mode", "api", "--argocd-url", fake.url, "--argocd-token-file", str(token)
            )
        kube = kube_stack.start(Path(workdir) / "kube")
        try:
            install_crds(kube)
            _create(kube, apps)
            core = _mcp(policy, "--mode", "core", "--kubeconfig", str(kube.kubeconfig))
        finally:
            kube.stop()
    return {
        "applications": options.applications,
        "api_mode": api,
        "core_mode": core,
        "whole_objects_json_characters": len(whole),
    }


def _create(kube: Any, apps: list[dict[str, Any]]) -> None:
    kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": "argocd"}})
    path = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda app: kube.request("POST", path, app), apps))


def _mcp(policy: Path, *options: str) -> dict[str, Any]:
    session = StdioSession("argocd", "--policy", str(policy), *options)
    try:
        session.initialize()
        began = time.perf_counter()
        rows, pages, characters, offset = 0, 0, 0, 0
        while True:
            text = session.call("list_applications", {"offset": offset, "limit": PAGE})
            pages += 1
            characters += len(text)
            rows += sum(1 for line in text.splitlines() if "-svc-" in line)
            more = [line for line in text.splitlines() if "next page: offset=" in line]
            if not more:
                break
            offset = int(more[0].rsplit("=", 1)[1])
        return {
            "rows": rows,
            "pages": pages,
            "seconds": round(time.perf_counter() - began, 3),
            "answer_characters": characters,
            "peak_rss_mb": round(session.peak_rss_mb(), 1),
        }
    finally:
        session.close()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
