"""Ollama, built from its Go module, serving the stack's chat and embedding models on loopback.

The module zip drops llama.cpp's vendor/ folders, so the build takes their headers from
elsewhere: nlohmann/json and stb from Debian (`install.APT_PACKAGES`), miniaudio.h from the
PyPI source package `miniaudio`, pinned by sha256 and unpacked into the cache. Without the
CPU flags the cgo code targets plain x86-64 and runs several times slower.

Models live in the cache (`ollama-models/`), shared by every stack on the machine and created
once (`models.py`); servers never prune them, since another stack's creation may be under way.
"""

from __future__ import annotations

import fcntl
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import base, install, models

NAME = "ollama"
MINIAUDIO = (
    "miniaudio",
    "1.71",
    "ff51e2887bb673e2e757752b586b3dc924d59aa5fbcae9bbc45f4a111bd3262b",
)
CPU_FLAGS = "-O2 -mavx -mavx2 -mfma -mf16c -mbmi2"


def headers_dir() -> Path:
    """The include directory holding `miniaudio/miniaudio.h`."""
    name, version, _ = MINIAUDIO
    return base.cache_dir() / "headers" / f"{name}-{version}"


def _install_miniaudio() -> Path:
    target = headers_dir()
    header = target / "miniaudio" / "miniaudio.h"
    if header.exists():
        return target
    name, version, sha256 = MINIAUDIO
    base.progress(f"fetching miniaudio.h from the PyPI source package {name}=={version}")
    with tempfile.TemporaryDirectory() as tmp:
        (sdist,) = models.pip_download(
            [f"{name}=={version} --hash=sha256:{sha256}"], Path(tmp), f"--no-binary={name}"
        )
        with tarfile.open(sdist) as tar:
            member = tar.extractfile(f"{name}-{version}/miniaudio/miniaudio.h")
            if member is None:
                raise base.ComponentError(f"{sdist.name} has no miniaudio/miniaudio.h")
            header.parent.mkdir(parents=True, exist_ok=True)
            partial = header.with_suffix(".tmp")
            partial.write_bytes(member.read())
            partial.replace(header)
    return target


def build_env() -> dict[str, str]:
    """The cgo flags of the build (Go's build cache is keyed by them: keep them stable)."""
    return {
        "CGO_ENABLED": "1",
        "CGO_CPPFLAGS": f"-I{headers_dir()}",
        "CGO_CFLAGS": CPU_FLAGS,
        "CGO_CXXFLAGS": CPU_FLAGS,
    }


def install_ollama() -> Path:
    """The cached binary; fetch the headers and build it first if it is not there yet."""
    if install.OLLAMA.binary.exists():
        return install.OLLAMA.binary
    needed = ("nlohmann-json3-dev", "libstb-dev")
    missing = [p for p in needed if p in install.missing_apt_packages()]
    if missing:
        raise base.ComponentError(
            f"building Ollama needs the Debian packages {' '.join(missing)}: run as root, or "
            f"`sudo apt-get install -y {' '.join(missing)}`"
        )
    _install_miniaudio()
    return install.go_build(install.OLLAMA, build_env())


@dataclass
class OllamaHandle:
    """A running `ollama serve`; ``url`` is http://127.0.0.1:PORT, with both models created."""

    url: str
    port: int
    proc: base.Proc
    state_dir: Path
    model: str = models.CHAT.name
    embed_model: str = models.EMBED.name

    def env(self) -> dict[str, str]:
        return {
            "OLLAMA_HOST": self.url,
            "AUTODEVOPS_OLLAMA_MODEL": self.model,
            "AUTODEVOPS_OLLAMA_EMBED_MODEL": self.embed_model,
        }

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def models_dir() -> Path:
    return base.cache_dir() / "ollama-models"


def _url(port: int) -> str:
    return f"http://{base.LOOPBACK}:{port}"


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def start(state_dir: Path) -> OllamaHandle:
    state_dir = Path(state_dir).resolve()
    exe = install_ollama()
    port = base.free_port()
    store = models_dir()
    store.mkdir(parents=True, exist_ok=True)
    proc = base.spawn(
        NAME,
        [str(exe), "serve"],
        state_dir,
        env={
            "OLLAMA_HOST": f"{base.LOOPBACK}:{port}",
            "OLLAMA_MODELS": str(store),
            "OLLAMA_NOPRUNE": "1",
            "OLLAMA_KEEP_ALIVE": "1h",
            "OLLAMA_NUM_PARALLEL": "1",
            "OLLAMA_MAX_LOADED_MODELS": "2",
        },
        ports={"http": port},
    )
    handle = OllamaHandle(_url(port), port, proc, state_dir)

    def answering_with_models() -> None:
        base.wait_until(proc, lambda: _answers(handle.url), timeout=30, what="answering")
        with (store / ".create.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time per store
            models.ensure_models(handle.url)

    return base.serving(handle, proc, state_dir, answering_with_models)


def attach(state_dir: Path) -> OllamaHandle | None:
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive() or proc.env.get("AUTODEVOPS_OLLAMA_MODEL") != models.CHAT.name:
        return None
    port = proc.ports["http"]
    try:
        if not _answers(_url(port)):
            return None
    except httpx.HTTPError:
        return None
    return OllamaHandle(_url(port), port, proc, state_dir)
