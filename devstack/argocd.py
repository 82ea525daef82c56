"""Argo CD on the local control plane: its CRDs (`manifests/crds/` of the Go module of the
release we test against, `github.com/argoproj/argo-cd/v2`), and Argo CD itself built from that
module: the repo server, the API server (TLS from the stack's CA) and the application
controller, all on loopback, with the stack's Redis.

The controller binds its metrics port on every interface and has no flag to say otherwise, so
it runs in a network namespace of its own (`netns.py`) where only loopback exists, reaching
the API server, repo server and Redis through unix sockets.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

from . import base, install, kube, netns, pki, redis
from .install import ARGOCD_VERSION, go_command

ARGOCD_MODULE = "github.com/argoproj/argo-cd/v2"
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


NAMESPACE = "argocd"
REPO_SERVER = "argocd-repo-server"
API_SERVER = "argocd-server"
CONTROLLER = "argocd-application-controller"
RECORDS = (CONTROLLER, API_SERVER, REPO_SERVER)
# The account the MCP server's token belongs to, with the RBAC derived from the shipped policy.
ACCOUNT = "autodevops-mcp"
START_TIMEOUT = 180.0
# Logged once the controller has listed clusters through the forwarders: it reaches the API.
CONTROLLER_READY = "has been assigned to shard"


@dataclass
class ArgoHandle:
    """A running Argo CD: ``url`` (its API over TLS, verified with ``ca_file``), and
    ``token_file``, the API token of the account ``autodevops-mcp``."""

    url: str
    ca_file: Path
    token_file: Path
    kube: kube.KubeHandle
    state_dir: Path
    procs: dict[str, base.Proc] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "ARGOCD_URL": self.url,
            "ARGOCD_CA_FILE": str(self.ca_file),
            "ARGOCD_TOKEN_FILE": str(self.token_file),
        }

    def stop(self) -> None:
        for name in RECORDS:
            proc = self.procs.get(name)
            if proc:
                proc.stop()
                base.forget(self.state_dir, name)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One call to Argo CD's REST API (as admin unless a token is given)."""
        headers = {"Authorization": f"Bearer {token or self.admin_token()}"}
        response = httpx.request(
            method, f"{self.url}{path}", json=body, headers=headers, verify=self.tls(), timeout=60,
        )  # fmt: skip
        if response.status_code >= 300:
            raise base.ComponentError(
                f"Argo CD {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def admin_token(self) -> str:
        """A session token of the admin account (its password is the generated initial one)."""
        secret = self.kube.request(
            "GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/argocd-initial-admin-secret"
        )
        password = base64.b64decode(secret["data"]["password"]).decode()
        response = httpx.post(
            f"{self.url}/api/v1/session",
            json={"username": "admin", "password": password},
            verify=self.tls(),
            timeout=30,
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def account(self, name: str, policy_csv: str) -> str:
        """A local account with these RBAC lines (`policy.<name>.csv`); returns a new API token."""
        self.kube.request(
            "PATCH",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/argocd-cm",
            {"data": {f"accounts.{name}": "apiKey"}},
            content_type=kube.MERGE_PATCH,
        )
        self.kube.request(
            "PATCH",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/argocd-rbac-cm",
            {"data": {f"policy.{name}.csv": policy_csv}},
            content_type=kube.MERGE_PATCH,
        )
        admin = self.admin_token()
        deadline = time.monotonic() + 30
        while True:  # the API server sees the new account once its informer has the ConfigMap
            try:
                token: str = self.request(
                    "POST", f"/api/v1/account/{name}/token", {"name": name}, token=admin
                )["token"]
                return token
            except base.ComponentError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _workdir(state_dir: Path) -> Path:
    return state_dir / "argocd"


def _shipped_policy_csv() -> str:
    from autodevops.servers.argocd.rbac import argocd_policy_csv
    from autodevops.servers.argocd.scope import ArgoScope
    from autodevops.servers.core.policy import load_policy

    shipped = resources.files("autodevops.policies") / "argocd.yaml"
    with resources.as_file(shipped) as path:
        csv: str = argocd_policy_csv(load_policy(path, ArgoScope), ACCOUNT)
    return csv


def _settings(handle: kube.KubeHandle, workdir: Path) -> None:
    """Argo CD's namespace, ConfigMaps and Secrets, the server's TLS certificate from the
    stack's CA; the signing key is made once per state directory."""
    key_file = workdir / "server.secretkey"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    tls = pki.leaf(handle.ca_file.parent, "argocd-server", "/CN=argocd-server", server=True)
    labels = {"app.kubernetes.io/part-of": "argocd"}

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": NAMESPACE, "labels": labels}

    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("argocd-cm"),
            # Reconcile often, so a test sees drift without waiting the default 3 minutes.
            "data": {f"accounts.{ACCOUNT}": "apiKey", "timeout.reconciliation": "20s"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("argocd-rbac-cm"),
            "data": {"policy.default": "", "policy.csv": _shipped_policy_csv()},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("argocd-secret"),
            "stringData": {"server.secretkey": key_file.read_text()},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": meta("argocd-server-tls"),
            "stringData": {"tls.crt": tls.cert.read_text(), "tls.key": tls.key.read_text()},
        },
    ]
    handle.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-",
        input=yaml.safe_dump_all(objects),
    )  # fmt: skip


def _healthz(url: str, ca_file: Path) -> bool:
    tls = ssl.create_default_context(cafile=str(ca_file))
    return httpx.get(f"{url}/healthz", verify=tls, timeout=3).status_code == 200


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def start(state_dir: Path) -> ArgoHandle:
    """Start the repo server, API server and controller against the running control plane and
    Redis of state_dir; wait until each is ready and the account's token is written."""
    state_dir = Path(state_dir).resolve()
    cluster, cache = kube.attach(state_dir), redis.attach(state_dir)
    if cluster is None or cache is None:
        raise base.ComponentError("Argo CD needs the stack's kube and redis running first")
    exe = str(install.go_build(install.ARGOCD))
    workdir = _workdir(state_dir)
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    install_crds(cluster)
    _settings(cluster, workdir)
    redis_addr = f"{base.LOOPBACK}:{cache.port}"
    env = {
        # "in-cluster" (https://kubernetes.default.svc) is the API server of this kubeconfig.
        "ARGOCD_FAKE_IN_CLUSTER": "true",
        "KUBECONFIG": str(cluster.kubeconfig),
        "TMPDIR": str(workdir / "tmp"),  # the repo server's checkouts
        "ARGOCD_GPG_ENABLED": "false",
        "HOME": str(workdir),
    }
    common = [f"--redis={redis_addr}", "--logformat=text"]
    # Applications may live in any namespace whose AppProject lists it in sourceNamespaces.
    any_namespace = "--application-namespaces=*"
    started: dict[str, base.Proc] = {}
    try:
        repo_port = base.free_port()
        started[REPO_SERVER] = repo = base.spawn(
            REPO_SERVER,
            [
                exe, REPO_SERVER, f"--address={base.LOOPBACK}", f"--port={repo_port}",
                f"--metrics-address={base.LOOPBACK}", f"--metrics-port={base.free_port()}",
                *common,
            ],
            state_dir, env=env, ports={"grpc": repo_port},
        )  # fmt: skip
        base.wait_until(
            repo, lambda: base.port_open(repo_port), timeout=START_TIMEOUT, what="listening"
        )
        repo_addr = f"{base.LOOPBACK}:{repo_port}"
        port = base.free_port()
        url = f"https://{base.LOOPBACK}:{port}"
        started[API_SERVER] = server = base.spawn(
            API_SERVER,
            [
                exe, API_SERVER, f"--address={base.LOOPBACK}", f"--port={port}",
                f"--metrics-address={base.LOOPBACK}", f"--metrics-port={base.free_port()}",
                f"--repo-server={repo_addr}", f"--namespace={NAMESPACE}",
                f"--kubeconfig={cluster.kubeconfig}", f"--staticassets={workdir / 'tmp'}",
                any_namespace, *common,
            ],
            state_dir, env=env, ports={"https": port},
        )  # fmt: skip
        base.wait_until(
            server,
            lambda: _healthz(url, cluster.ca_file),
            timeout=START_TIMEOUT,
            what="healthy (/healthz over TLS)",
        )
        api_port = int(cluster.url.rsplit(":", 1)[1])
        forwarded = f"{api_port},{repo_port},{cache.port}"
        log = state_dir / CONTROLLER / f"{CONTROLLER}.log"
        earlier = log.stat().st_size if log.exists() else 0  # the log is appended to
        started[CONTROLLER] = controller = base.spawn(
            CONTROLLER,
            [
                sys.executable, "-m", netns.__name__, str(workdir / "sockets"), forwarded, "--",
                exe, CONTROLLER, f"--repo-server={repo_addr}", f"--namespace={NAMESPACE}",
                f"--kubeconfig={cluster.kubeconfig}", "--status-processors=4",
                "--operation-processors=2", any_namespace, *common,
            ],
            state_dir, env=env,
        )  # fmt: skip
        base.wait_until(
            controller,
            lambda: CONTROLLER_READY in _read_from(log, earlier),
            timeout=START_TIMEOUT,
            what="connected to the control plane",
        )
        handle = ArgoHandle(url, cluster.ca_file, workdir / f"{ACCOUNT}.token", cluster, state_dir)
        handle.procs = started
        token = handle.request("POST", f"/api/v1/account/{ACCOUNT}/token", {"name": ACCOUNT})
        handle.token_file.write_text(token["token"])
        handle.token_file.chmod(0o600)
    except BaseException:
        for proc in started.values():
            proc.stop()
            base.forget(state_dir, proc.name)
        raise
    server.env = handle.env()
    base.save(state_dir, server)
    return handle


def attach(state_dir: Path) -> ArgoHandle | None:
    """Argo CD already running for this state dir, if all three parts are alive and healthy."""
    state_dir = Path(state_dir).resolve()
    procs = {name: base.load(state_dir, name) for name in RECORDS}
    cluster = kube.attach(state_dir)
    server = procs[API_SERVER]
    if cluster is None or server is None or not all(p and p.alive() for p in procs.values()):
        return None
    url = f"https://{base.LOOPBACK}:{server.ports['https']}"
    try:
        if not _healthz(url, cluster.ca_file):
            return None
    except httpx.HTTPError:
        return None
    handle = ArgoHandle(
        url, cluster.ca_file, _workdir(state_dir) / f"{ACCOUNT}.token", cluster, state_dir
    )
    handle.procs = {k: v for k, v in procs.items() if v is not None}
    return handle
