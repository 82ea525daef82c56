"""A real Argo CD for the API-mode tests: the local stack's Argo CD (repo server, API server,
application controller) syncing from a git repository of test manifests into the local control
plane, where kwok runs the pods.

The applications, each in its own folder of the repository:
- team-a-shop: a Deployment, Service, ConfigMap and Secret, synced and healthy;
- team-a-stuck: a Deployment whose pods fit no node, so it exceeds its progress deadline and
  is Degraded;
- team-a-broken: a Deployment without a selector, so its sync fails at the API server;
- team-a-slow: a PreSync hook Job that never completes, so a sync stays Running;
- team-b-shop (another project) and platform-mail (a name outside team-a's globs).

They live in the namespace `delivery` (Argo CD's "applications in any namespace"), apart from
the core-mode tests' Applications in `argocd`, which the controller is told to leave alone.
"""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autodevops.servers.argocd.rbac import argocd_policy_csv
from autodevops.servers.core.policy import Policy
from devstack.argocd import ArgoHandle
from devstack.kube import KubeError

from .data import POLICY

NAMESPACE = "delivery"
APPS = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/applications"
PROJECTS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects"
ACCOUNT = "tests-mcp"
# The tests' roles, for Applications in the namespace the real ones live in.
REAL_POLICY: dict[str, Any] = copy.deepcopy(POLICY)
for _role in REAL_POLICY["roles"].values():
    _role.setdefault("scope", {})["app_namespaces"] = {"allow": [NAMESPACE]}


def _deployment(name: str, **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": name, "image": "registry.example.com/x:1"}]}
    pod.update(spec.pop("pod", {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
            **spec,
        },
    }


NOWHERE = {"nodeSelector": {"autodevops.test/nowhere": "true"}}


def _config(name: str, level: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"LOG_LEVEL": level},
    }


def manifests(level: str = "info") -> dict[str, list[dict[str, Any]]]:
    """Each application's folder; `level` is team-a-shop's LOG_LEVEL (a second commit)."""
    broken = _deployment("broken")
    del broken["spec"]["selector"]
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "migrate",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "registry.example.com/m:1"}],
                    **NOWHERE,
                }
            },
        },
    }
    web = [
        _deployment("web"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        _config("web-config", level),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-creds"},
            "stringData": {"password": "hunter2-in-git"},
        },
    ]
    return {
        "team-a-shop": web,
        "team-a-stuck": [_deployment("stuck", progressDeadlineSeconds=2, pod=NOWHERE)],
        "team-a-broken": [broken],
        "team-a-slow": [hook, _config("slow-config", "info")],
        "team-b-shop": [_config("b-config", "info")],
        "platform-mail": [_config("mail-config", "info")],
    }


DESTINATIONS = {"team-b-shop": "team-b"}


@dataclass
class GitRepo:
    """A git repository on disk that Argo CD reads by its file:// URL."""

    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.com", *args],
            cwd=self.path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def commit(self, folders: dict[str, list[dict[str, Any]]], message: str) -> str:
        for name, objects in folders.items():
            folder = self.path / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "manifests.yaml").write_text(yaml.safe_dump_all(objects))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@dataclass
class RealArgo:
    """The running Argo CD, its test repository and commits, and the tests' account."""

    argocd: ArgoHandle
    repo: GitRepo
    commits: list[str]
    tokens: Path

    @property
    def token_file(self) -> Path:
        """The tests' account, with the RBAC lines derived from REAL_POLICY."""
        return self.tokens / f"{ACCOUNT}.token"

    @property
    def nobody_token_file(self) -> Path:
        return self.tokens / "tests-nobody.token"

    def app(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.argocd.kube.request("GET", f"{APPS}/{name}")
        return result

    def wait(
        self, name: str, done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90
    ) -> dict[str, Any]:
        """The application once done(app) holds, as the controller writes it."""
        deadline = time.monotonic() + timeout
        while True:
            app = self.app(name)
            if done(app):
                return app
            if time.monotonic() > deadline:
                status = app.get("status") or {}
                raise AssertionError(
                    f"{name}: not {what} after {timeout:g}s: sync {status.get('sync')}, "
                    f"health {status.get('health')}, operation {status.get('operationState')}"
                )
            time.sleep(0.5)

    def sync(self, name: str, **body: Any) -> None:
        """A sync as an operator would start it, through Argo CD's API as admin."""
        body = {"name": name, "appNamespace": NAMESPACE, "prune": False, **body}
        self.argocd.request("POST", f"/api/v1/applications/{name}/sync", body)


def phase(app: dict[str, Any]) -> str:
    return str(((app.get("status") or {}).get("operationState") or {}).get("phase") or "")


def health(app: dict[str, Any]) -> str:
    return str((app.get("status") or {}).get("health", {}).get("status") or "")


def sync_status(app: dict[str, Any]) -> str:
    return str((app.get("status") or {}).get("sync", {}).get("status") or "")


def _compared(app: dict[str, Any], repo: GitRepo) -> bool:
    sync = (app.get("status") or {}).get("sync") or {}
    return (
        bool(sync.get("status"))
        and sync.get("comparedTo", {}).get("source", {}).get("repoURL") == repo.url
    )


def _project(name: str, destinations: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["*"],
            "sourceNamespaces": [NAMESPACE],
            "destinations": [
                {"server": "https://kubernetes.default.svc", "namespace": ns} for ns in destinations
            ],
        },
    }


def _application(name: str, repo: GitRepo) -> dict[str, Any]:
    project = "team-b" if name.startswith("team-b") else "team-a"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"team": project}},
        "spec": {
            "project": project,
            "source": {"repoURL": repo.url, "path": name, "targetRevision": "main"},
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": DESTINATIONS.get(name, "team-a"),
            },
        },
    }


def _put(kube: Any, path: str, obj: dict[str, Any]) -> None:
    try:
        kube.request("DELETE", f"{path}/{obj['metadata']['name']}")
    except KubeError as exc:
        if exc.status != 404:
            raise
    kube.request("POST", path, obj)


def set_up(argocd: ArgoHandle, folder: Path) -> RealArgo:
    """The repository, projects, namespaces, accounts and applications; then the first syncs,
    waiting for each application's real outcome."""
    kube = argocd.kube
    repo = GitRepo(folder / "deploy")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    first = repo.commit(manifests("info"), "first")
    for namespace in (NAMESPACE, "team-a", "team-b"):
        kube.kubectl("create", "namespace", namespace, check=False)
    _put(kube, PROJECTS, _project("team-a", ["team-a", "team-a-*"]))
    _put(kube, PROJECTS, _project("team-b", ["team-b"]))
    for name in manifests():
        _put(kube, APPS, _application(name, repo))
    csv = argocd_policy_csv(Policy.model_validate(REAL_POLICY), ACCOUNT)
    tokens = {
        ACCOUNT: csv,
        "tests-nobody": "",
        "tests-admin": "g, tests-admin, role:admin\n",
    }
    for account, lines in tokens.items():
        (folder / f"{account}.token").write_text(argocd.account(account, lines))
    real = RealArgo(argocd, repo, [first], folder)
    for name in ("team-a-shop", "team-a-stuck", "team-a-broken", "team-b-shop", "platform-mail"):
        real.wait(name, lambda app: _compared(app, repo), "compared with git")
        real.sync(name)
    real.wait(
        "team-a-shop", lambda app: health(app) == "Healthy" and phase(app) == "Succeeded", "healthy"
    )
    real.wait("team-a-stuck", lambda app: health(app) == "Degraded", "degraded")
    real.wait("team-a-broken", lambda app: phase(app) == "Failed", "failed")
    return real
