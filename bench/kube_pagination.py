"""Listing 5,000 objects through the Kubernetes MCP server, page by page, versus kubectl.

Both read the same ConfigMaps from a real local API server in pages of 500 (kubectl's
default chunk size): total time and peak memory of each process. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.stdio_session import StdioSession
from devstack import kube as kube_stack
from devstack.tools import install_tools

NAMESPACE = "bench"
PAGE = 500
POLICY = f"""
server: kubernetes
stdio_role: reader
roles:
  reader:
    tools: [list_resources]
    limits: {{max_items: {PAGE}, max_bytes: 10000000, calls_per_minute: 100000}}
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=5000)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        kube = kube_stack.start(Path(workdir) / "kube")
        try:
            _create(kube, options.objects)
            policy = Path(workdir) / "policy.yaml"
            policy.write_text(POLICY)
            through_mcp = _mcp(kube.kubeconfig, policy)
            with_kubectl = _kubectl(kube.kubeconfig)
        finally:
            kube.stop()
    return {"objects": options.objects, "mcp_server": through_mcp, "kubectl": with_kubectl}


def _create(kube: Any, count: int) -> None:
    kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    filler = "x" * 512

    def create(index: int) -> None:
        kube.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps",
            {"metadata": {"name": f"cm-{index:05d}"}, "data": {"filler": filler}},
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, range(count)))


def _mcp(kubeconfig: Path, policy: Path) -> dict[str, Any]:
    session = StdioSession("kubernetes", "--kubeconfig", str(kubeconfig), "--policy", str(policy))
    try:
        session.initialize()
        began = time.perf_counter()
        rows, pages, token = 0, 0, None
        while True:
            arguments: dict[str, Any] = {
                "kind": "configmaps",
                "namespace": NAMESPACE,
                "limit": PAGE,
            }
            if token:
                arguments["continue_from"] = token
            lines = session.call("list_resources", arguments).splitlines()
            pages += 1
            rows += sum(1 for line in lines if line.startswith("cm-"))
            more = [line for line in lines if line.startswith("next page")]
            if not more:
                break
            token = more[0].split("continue_from=", 1)[1]
        seconds = time.perf_counter() - began
        return {
            "rows": rows,
            "pages": pages,
            "seconds": round(seconds, 3),
            "peak_rss_mb": round(session.peak_rss_mb(), 1),
        }
    finally:
        session.close()


def _kubectl(kubeconfig: Path) -> dict[str, Any]:
    """kubectl's own peak memory, from the kernel's accounting of that one child."""
    kubectl = str(install_tools().kubectl)
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [
                kubectl,
                f"--kubeconfig={kubeconfig}",
                "-n",
                NAMESPACE,
                "get",
                "configmaps",
                f"--chunk-size={PAGE}",
                "--no-headers",
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        rows = sum(1 for line in out if line.startswith(b"cm-"))
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
