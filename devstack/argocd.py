"""Argo CD's CRDs for the local control plane, from the Go module of the release we test
against (`manifests/crds/` of `github.com/argoproj/argo-cd/v2`).

The module is fetched by `go mod download` into Go's module cache (the proxy's checksummed
zip), so a second call costs nothing. Argo CD itself is not run here; see the README.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from . import base
from .install import go_command

ARGOCD_MODULE = "github.com/argoproj/argo-cd/v2"
ARGOCD_VERSION = "v2.14.21"
CRDS = ("application-crd.yaml", "appproject-crd.yaml", "applicationset-crd.yaml")
CRD_NAMES = ("applications.argoproj.io", "appprojects.argoproj.io", "applicationsets.argoproj.io")


def crd_files() -> list[Path]:
    """The CRD manifests of the pinned Argo CD release, downloaded once."""
    result = subprocess.run(
        [go_command(), "mod", "download", "-json", f"{ARGOCD_MODULE}@{ARGOCD_VERSION}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=base.cache_dir(),
    )
    try:
        info = json.loads(result.stdout)
    except ValueError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        raise base.ComponentError(
            f"go mod download {ARGOCD_MODULE}@{ARGOCD_VERSION} failed ({result.returncode}): "
            f"{info.get('Error') or result.stderr.strip()}"
        )
    folder = Path(info["Dir"]) / "manifests" / "crds"
    return [folder / name for name in CRDS]


def install_crds(kube: Any, timeout: float = 60.0) -> None:
    """Apply the CRDs to a running control plane (a `KubeHandle`) and wait until served."""
    for path in crd_files():
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    deadline = time.monotonic() + timeout
    for name in CRD_NAMES:
        while True:
            crd = kube.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise base.ComponentError(f"CRD {name} was not established in {timeout:g}s")
            time.sleep(0.2)
