"""The stack's components by name, and the one way to get each running: reuse, else start.

The CLI and the pytest fixtures both go through ``ensure``, so a test session and ``stack up``
start things identically, and a second ``up`` reuses what already runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import base


class Handle(Protocol):
    """What every running component offers."""

    def env(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Component:
    """How to start, find and name the processes of one component."""

    name: str
    module: str
    start: str
    records: tuple[str, ...]
    needs: tuple[str, ...] = ()

    def _fn(self, attr: str) -> Callable[[Path], Any]:
        fn: Callable[[Path], Any] = getattr(importlib.import_module(self.module), attr)
        return fn

    def attach(self, state_dir: Path) -> Handle | None:
        handle: Handle | None = self._fn("attach")(state_dir)
        return handle

    def start_fresh(self, state_dir: Path) -> Handle:
        handle: Handle = self._fn(self.start)(state_dir)
        return handle


_PKG = __package__ or "devstack"

COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "prometheus", f"{_PKG}.prometheus", "start_prometheus", ("prometheus", "exporter")
        ),
        Component("postgres", f"{_PKG}.postgres", "start", ("postgres",)),
        Component("redis", f"{_PKG}.redis", "start", ("redis",)),
        Component("ferretdb", f"{_PKG}.ferretdb", "start", ("ferretdb",)),
        Component("s3", f"{_PKG}.versitygw", "start", ("versitygw",)),
        Component("jaeger", f"{_PKG}.jaeger", "start", ("jaeger",)),
        Component("ollama", f"{_PKG}.ollama", "start", ("ollama",)),
        Component(
            "kube",
            f"{_PKG}.kube",
            "start",
            ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"),
        ),
        Component(
            "argocd",
            f"{_PKG}.argocd",
            "start",
            ("argocd-application-controller", "argocd-server", "argocd-repo-server"),
            needs=("kube", "redis"),
        ),
    )
}


def stop_records(state_dir: Path, names: tuple[str, ...]) -> None:
    """Stop and forget the recorded processes with these names (stale leftovers included)."""
    for name in names:
        proc = base.load(state_dir, name)
        if proc:
            proc.stop()
            base.forget(state_dir, name)


def ensure(name: str, state_dir: Path) -> tuple[Handle, bool]:
    """A running component: the one already up for state_dir, else a new one (started=True).
    What it needs is ensured first (and left running)."""
    component = COMPONENTS[name]
    state_dir = Path(state_dir).resolve()
    for need in component.needs:
        ensure(need, state_dir)
    with base.locked(state_dir):
        handle = component.attach(state_dir)
        if handle is not None:
            return handle, False
        stop_records(state_dir, component.records)
        return component.start_fresh(state_dir), True


def stop_all(state_dir: Path) -> list[str]:
    """Stop every process recorded under state_dir; returns the names stopped."""
    state_dir = Path(state_dir).resolve()
    if not state_dir.exists():
        return []
    with base.locked(state_dir):
        return _stop_all(state_dir)


def _stop_all(state_dir: Path) -> list[str]:
    stopped = []
    # Each component's records are listed clients first (kwok ... etcd), and a component comes
    # after those it needs: stop the last component first, each in its records' order.
    order = [name for c in reversed(COMPONENTS.values()) for name in c.records]
    recorded = sorted(p.parent.name for p in state_dir.glob("*/run.json"))
    names = [n for n in order if n in recorded] + [n for n in recorded if n not in order]
    for name in names:
        proc = base.load(state_dir, name)
        if proc is None:
            continue
        if proc.alive():
            proc.stop()
            stopped.append(name)
        base.forget(state_dir, name)
    return stopped
