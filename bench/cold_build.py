"""Cold builds of the local stack's Go binaries, as a fresh machine's `make install` runs them.

Each build goes through `devstack.install.go_build` (the same command, flags and progress)
into a private cache directory with an empty `GOCACHE`, so nothing compiled earlier is
reused and the shared caches are left alone; `GOMODCACHE` stays shared (downloading is not
what is measured). Reports wall time, the CPU time of the build's processes, the binary's
size and the load average around each build. Run:
`python -m bench.cold_build` (all of them) or `python -m bench.cold_build kube jaeger`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from typing import Any

from devstack import base, install

BUILDS = {
    build.name: build
    for build in (install.KUBE, install.FERRETDB, install.JAEGER, install.VERSITYGW, install.ARGOCD)
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("builds", nargs="*", help=f"some of {', '.join(BUILDS)} (default: all)")
    options = parser.parse_args(argv)
    unknown = set(options.builds) - set(BUILDS)
    if unknown:
        parser.error(f"unknown builds {', '.join(sorted(unknown))}; known: {', '.join(BUILDS)}")
    report = {}
    for name in options.builds or BUILDS:
        report[name] = cold_build(BUILDS[name])
        base.progress(f"{name}: {json.dumps(report[name])}")  # each figure as soon as it is known
    return report


def cold_build(build: install.GoBuild) -> dict[str, Any]:
    saved = {key: os.environ.get(key) for key in (base.CACHE_ENV, "GOCACHE")}
    workdir = tempfile.mkdtemp(prefix=f"autodevops-cold-{build.name}-")
    os.environ[base.CACHE_ENV] = os.path.join(workdir, "cache")
    os.environ["GOCACHE"] = os.path.join(workdir, "gocache")
    try:
        load_before = os.getloadavg()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        binary = install.go_build(build)
        wall = time.monotonic() - started
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "wall_s": round(wall, 1),
            "cpu_user_s": round(cpu.ru_utime - cpu_before.ru_utime, 1),
            "cpu_system_s": round(cpu.ru_stime - cpu_before.ru_stime, 1),
            "binary_mb": round(binary.stat().st_size / 1e6, 1),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
