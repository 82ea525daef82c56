"""The peers the benchmarks compare with, installed from their registries at pinned versions.

containers/kubernetes-mcp-server (Go) publishes its static binary in the npm package of each
platform; ``npm pack`` fetches it (checksummed by the registry) into the cache, keyed by version.
pab1it0's prometheus-mcp-server (Python, on fastmcp) goes into a virtualenv of its own in the
cache, from PyPI, with the fastmcp this project uses, so the comparison is of the servers.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from devstack import base

KUBERNETES_MCP_SERVER_VERSION = "0.0.67"
PROMETHEUS_MCP_SERVER_VERSION = "1.6.2"
PROMETHEUS_MCP_SERVER_FASTMCP = "4.2.3"
_ARCH = {"x86_64": "amd64"}  # the platforms published at that version


def install_kubernetes_mcp_server() -> Path:
    """The cached kubernetes-mcp-server binary; fetched with npm first if it is not there."""
    arch = _ARCH.get(platform.machine())
    if arch is None:
        raise base.ComponentError(
            f"kubernetes-mcp-server {KUBERNETES_MCP_SERVER_VERSION}: "
            f"no npm package for {platform.machine()}"
        )
    package = f"kubernetes-mcp-server-linux-{arch}"
    binary = base.cache_dir() / "peers" / f"{package}-{KUBERNETES_MCP_SERVER_VERSION}" / package
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if not npm:
        raise base.ComponentError("npm is not on PATH; it fetches kubernetes-mcp-server")
    base.progress(f"fetching {package}@{KUBERNETES_MCP_SERVER_VERSION} with npm pack")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        packed = base.run(
            [
                npm,
                "pack",
                f"{package}@{KUBERNETES_MCP_SERVER_VERSION}",
                "--pack-destination",
                tmp,
                "--silent",
            ],
            cwd=tmp,
        )
        tgz = Path(tmp) / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            member = tar.extractfile(f"package/bin/{package}")
            if member is None:
                raise base.ComponentError(f"{package} has no bin/{package}")
            partial = binary.with_suffix(".tmp")
            partial.write_bytes(member.read())
    partial.chmod(0o755)
    partial.replace(binary)
    return binary


def install_prometheus_mcp_server() -> Path:
    """The `prometheus-mcp-server` command of a cached virtualenv; pip-installed first if it
    is not there (a virtualenv names its interpreter by path, so it is made where it stays,
    and counts as installed once the marker written last exists)."""
    name = f"prometheus-mcp-server-{PROMETHEUS_MCP_SERVER_VERSION}"
    venv = base.cache_dir() / "peers" / f"{name}-fastmcp-{PROMETHEUS_MCP_SERVER_FASTMCP}"
    marker = venv / "installed"
    if marker.exists():
        return venv / "bin" / "prometheus-mcp-server"
    base.progress(f"installing {name} from PyPI into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    base.run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    base.run(
        [
            *pip,
            f"prometheus-mcp-server=={PROMETHEUS_MCP_SERVER_VERSION}",
            f"fastmcp=={PROMETHEUS_MCP_SERVER_FASTMCP}",
        ]
    )
    marker.touch()
    return venv / "bin" / "prometheus-mcp-server"
