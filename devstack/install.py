"""Installing the stack: Debian packages, the Go builds, the helm/kubectl binaries and the MCP
conformance suite.

Everything lands in the cache directory keyed by version (and, for the Go builds, by a hash of
the project's own Go files), so a second ``install`` finds it all there and returns at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import base

HERE = Path(__file__).resolve().parent

KUBERNETES_VERSION = "v1.37.2"
FERRETDB_VERSION = "v1.24.2"
VERSITYGW_VERSION = "v1.8.0"
JAEGER_VERSION = "v1.76.0"
ARGOCD_VERSION = "v2.14.21"
OLLAMA_VERSION = "v0.17.4"

# Debian package -> a file it installs (presence means installed; no dpkg query needed).
APT_PACKAGES: dict[str, str] = {
    "prometheus": "/usr/bin/prometheus",
    "postgresql": "/usr/lib/postgresql",
    "redis-server": "/usr/bin/redis-server",
    "openssl": "/usr/bin/openssl",
    "chromium": "/usr/bin/chromium",
    # Headers Ollama's llama.cpp needs: the Go module zip drops its vendor/ folders.
    "nlohmann-json3-dev": "/usr/include/nlohmann/json_fwd.hpp",
    "libstb-dev": "/usr/include/stb/stb_image.h",
}


@dataclass(frozen=True)
class GoBuild:
    """One binary built from a Go module under devstack/ into the cache."""

    name: str
    version: str
    ldflags: str = "-s -w"
    package: str = "."  # or a tool the module's go.mod names (`go get -tool`)
    cgo: bool = True
    expect: str = ""  # how long a first build takes, said before it starts

    @property
    def source(self) -> Path:
        return HERE / self.name

    def recipe(self) -> list[str]:
        """The `go build` arguments after the output path: part of the cache key, so a changed
        flag or package rebuilds (a changed -ldflags only relinks, Go's own cache has the rest)."""
        return ["-trimpath", f"-ldflags={self.ldflags}", self.package]

    def source_hash(self) -> str:
        digest = hashlib.sha256(" ".join([*self.recipe(), f"cgo={self.cgo}"]).encode())
        for path in sorted(self.source.iterdir()):
            if path.suffix in (".go", ".mod", ".sum"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    @property
    def binary(self) -> Path:
        return base.cache_dir() / self.name / f"{self.version}-{self.source_hash()}" / self.name


_VERSION_PKG = "k8s.io/component-base/version"
KUBE = GoBuild(
    "kube",
    KUBERNETES_VERSION,
    " ".join(
        [
            "-s -w",
            f"-X {_VERSION_PKG}.gitVersion={KUBERNETES_VERSION}",
            f"-X {_VERSION_PKG}.gitMajor={KUBERNETES_VERSION[1:].split('.')[0]}",
            f"-X {_VERSION_PKG}.gitMinor={KUBERNETES_VERSION.split('.')[1]}",
            f"-X {_VERSION_PKG}.gitTreeState=clean",
        ]
    ),
)
FERRETDB = GoBuild("ferretdb", FERRETDB_VERSION)
# versitygw (Apache-2.0), a real S3 API over a folder, for the backups' bucket tests.
VERSITYGW = GoBuild(
    "versitygw", VERSITYGW_VERSION, package="github.com/versity/versitygw/cmd/versitygw"
)
# Jaeger (Apache-2.0), the OTLP receiver the suite's own traces are tested against.
JAEGER = GoBuild("jaeger", JAEGER_VERSION, package="github.com/jaegertracing/jaeger/cmd/jaeger")
# Argo CD's repo server, API server and application controller (one binary of ours that links
# only those three), static like Argo CD's own release builds.
ARGOCD = GoBuild(
    "argocd",
    ARGOCD_VERSION,
    f"-s -w -X github.com/argoproj/argo-cd/v2/common.version={ARGOCD_VERSION[1:]}",
    cgo=False,
)
# Ollama (MIT), the model server Jamie and Scarlet use; cgo (llama.cpp), see ollama.py.
OLLAMA = GoBuild(
    "ollama",
    OLLAMA_VERSION,
    f"-s -w -X github.com/ollama/ollama/version.Version={OLLAMA_VERSION[1:]}",
    package="github.com/ollama/ollama",
    expect="about 20 minutes and 1 GB of memory on 2 cores, once",
)


def missing_apt_packages() -> list[str]:
    return [pkg for pkg, marker in APT_PACKAGES.items() if not Path(marker).exists()]


def install_apt() -> None:
    """apt-get install the Debian packages that are missing (as root; else say what to do)."""
    missing = missing_apt_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise base.ComponentError(
            f"missing Debian packages {' '.join(missing)}: run as root, or "
            f"`sudo apt-get install -y {' '.join(missing)}`"
        )
    base.progress(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    base.run(["apt-get", "update", "-q"], env=env)
    base.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def go_command() -> str:
    go = shutil.which("go") or next(
        (str(p) for p in (Path("/usr/local/go/bin/go"), Path("/usr/lib/go/bin/go")) if p.exists()),
        None,
    )
    if not go:
        raise base.ComponentError("the go command is not on PATH; it builds the stack's binaries")
    return go


def go_build(build: GoBuild, cgo_env: Mapping[str, str] | None = None) -> Path:
    """Build one Go module into the cache unless its binary is there; shows package progress
    (and a heartbeat while one large cgo package compiles silently). `cgo_env`: cgo flags."""
    out = build.binary
    if out.exists():
        out.parent.touch()  # in use: kept by every checkout's _prune for a while
        _prune(build)
        return out
    go = go_command()
    logs = base.cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{build.name}-build.log"
    src = str(build.source)
    expect = f", {build.expect}" if build.expect else ""
    base.progress(f"building {build.name} {build.version} into {out}{expect} (log {log})")
    env = {**os.environ, **({} if build.cgo else {"CGO_ENABLED": "0"}), **(cgo_env or {})}
    deps = subprocess.run(
        [go, "list", "-deps", build.package],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    total = len(deps.stdout.split()) or 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    started = time.monotonic()
    argv = [
        *(["nice", "-n", "19"] if shutil.which("nice") else []),
        go, "build", "-v", "-o", str(tmp), *build.recipe(),
    ]  # fmt: skip
    compiled = [0]

    def copy(stream: Any, sink: Any) -> None:
        for line in stream:
            sink.write(line)
            compiled[0] += 1

    with log.open("w") as sink:
        proc = subprocess.Popen(
            argv,
            cwd=src,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        reader = threading.Thread(target=copy, args=(proc.stdout, sink), daemon=True)
        reader.start()
        while (code := _wait(proc, 30)) is None:
            base.progress(
                f"{build.name}: {compiled[0]} packages compiled (of up to {total}), "
                f"{time.monotonic() - started:.0f}s"
            )
        reader.join()
    if code != 0:
        raise base.ComponentError(
            f"go build of {build.name} failed ({code}); log {log}:\n{base.log_tail(log)}"
        )
    tmp.replace(out)
    base.progress(f"built {build.name} in {time.monotonic() - started:.0f}s")
    _prune(build)
    return out


def _wait(proc: subprocess.Popen[str], seconds: float) -> int | None:
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


# Builds of other versions or recipes unused for this long are dropped (each is 100+ MB); a
# recent one is kept, as checkouts of different branches share the cache and would otherwise
# delete each other's binary at every use.
PRUNE_AFTER_SECONDS = 3 * 24 * 3600


def _prune(build: GoBuild) -> None:
    keep = build.binary.parent
    stale = time.time() - PRUNE_AFTER_SECONDS
    for old in keep.parent.iterdir():
        if old != keep and old.is_dir() and old.stat().st_mtime < stale:
            shutil.rmtree(old, ignore_errors=True)


# What `make demo` runs: the other builds serve only the tests, and any component built here
# is also built on its first start (with the same progress), so a demo that grows still runs.
DEMO_BUILDS = (KUBE,)


def install(*, kube: bool = True, demo: bool = False) -> None:
    """Install everything the stack needs (`demo`: only what the demo runs); fast and silent
    when all is present."""
    from . import conformance, ollama, tools

    install_apt()
    tools.install_tools()
    if demo:
        ollama.install_ollama()  # the model acts; the longest build, so said first
        for build in DEMO_BUILDS:
            go_build(build)
        return
    conformance.install_conformance()
    go_build(FERRETDB)
    go_build(VERSITYGW)
    go_build(JAEGER)
    go_build(ARGOCD)
    ollama.install_ollama()
    if kube:
        go_build(KUBE)
