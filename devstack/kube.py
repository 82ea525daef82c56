"""A real Kubernetes control plane on loopback: etcd, API server, controllers, scheduler, kwok.

All of them run from one binary built from k8s.io/kubernetes and sigs.k8s.io/kwok (see kube/
and install.py). There is no kubelet: kwok plays it for one fake node, so pods are scheduled
and reported Running and their (fixed) logs are served, but no container runs: exec, attach
and port-forward answer with errors.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import base, install, pki

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"
RECORDS = (KWOK, SCHEDULER, CONTROLLER_MANAGER, APISERVER, ETCD)
FAKE_NODE = "kwok-node-0"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Fake pod IPs stay on loopback, so nothing that dials a pod can leave the machine.
FAKE_POD_CIDR = "127.16.0.1/16"
# What every container on the fake node "logged" (CRI log format), served through kwok.
FAKE_LOG = (
    "2026-01-01T00:00:00.000000000Z stdout F starting autodevops fake container\n"
    "2026-01-01T00:00:01.000000000Z stdout F listening on :8080\n"
    "2026-01-01T00:00:02.000000000Z stderr F warning: connecting with password=hunter2\n"
    "2026-01-01T00:00:03.000000000Z stdout F ready\n"
)
ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
START_TIMEOUT = 120.0
MERGE_PATCH = "application/merge-patch+json"


def _kubeconfig(url: str, ca: Path, user: str, auth: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "autodevops-stack",
                "cluster": {
                    "server": url,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": auth}],
        "contexts": [
            {"name": user, "context": {"cluster": "autodevops-stack", "user": user}},
        ],
        "current-context": user,
    }


def _cert_auth(cert: pki.Cert) -> dict[str, str]:
    return {
        "client-certificate-data": base64.b64encode(cert.cert.read_bytes()).decode(),
        "client-key-data": base64.b64encode(cert.key.read_bytes()).decode(),
    }


def write_kubeconfig(path: Path, url: str, ca: Path, user: str, auth: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_kubeconfig(url, ca, user, auth), sort_keys=False))
    path.chmod(0o600)
    return path


class KubeError(RuntimeError):
    """An API call answered with an error status; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class KubeHandle:
    """A running control plane and helpers to talk to it as admin or as any token."""

    url: str
    kubeconfig: Path
    ca_file: Path
    admin: pki.Cert
    state_dir: Path
    procs: dict[str, base.Proc] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def stop(self) -> None:
        for name in RECORDS:
            proc = self.procs.get(name)
            if proc:
                proc.stop()
                base.forget(self.state_dir, name)

    def ssl_context(self, *, as_admin: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if as_admin:
            ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return ctx

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call as admin (client cert) or as the bearer token; KubeError on >= 400."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        ctx = self.ssl_context(as_admin=token is None)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail: Any = json.loads(raw)
            except ValueError:
                detail = raw.decode(errors="replace")
            raise KubeError(exc.code, detail) from None
        return json.loads(raw) if raw else None

    def create_token(
        self,
        namespace: str,
        service_account: str,
        *,
        audiences: list[str] | None = None,
        seconds: int = 3600,
    ) -> str:
        """Issue a ServiceAccount token through the TokenRequest API."""
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = audiences
        result = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        token: str = result["status"]["token"]
        return token

    def kubeconfig_for_token(self, token: str, path: Path, user: str = "token") -> Path:
        """Write a kubeconfig that authenticates with a bearer token (e.g. a ServiceAccount's)."""
        return write_kubeconfig(path, self.url, self.ca_file, user, {"token": token})

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl (from the helm/kubectl npm package) against this cluster."""
        from .tools import install_tools

        argv = [str(install_tools().kubectl), f"--kubeconfig={kubeconfig or self.kubeconfig}"]
        result = subprocess.run(
            [*argv, *args], input=input, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise base.ComponentError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def api_client(self, token: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` as admin, or as the given bearer token."""
        from kubernetes import client, config

        if token is None:
            return config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(self.kubeconfig)
            )
        cfg = client.Configuration()
        cfg.host = self.url
        cfg.ssl_ca_cert = str(self.ca_file)
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(cfg)


def _paths(state_dir: Path) -> tuple[Path, Path]:
    workdir = state_dir / "kube"
    return workdir, workdir / "pki"


def _get(url: str, ctx: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _insecure() -> ssl.SSLContext:
    """For the healthz of controller-manager/scheduler, whose serving certs are self-signed."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _healthz(port: int) -> Callable[[], bool]:
    """A probe of a controller's /healthz (always allowed without credentials)."""
    url = f"https://{base.LOOPBACK}:{port}/healthz"
    return lambda: _get(url, _insecure())[0] == 200


def _has_default_service_account(handle: KubeHandle) -> bool:
    try:
        handle.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
    except KubeError:
        return False
    return True


def _node_ready(handle: KubeHandle, name: str) -> bool:
    try:
        node = handle.request("GET", f"/api/v1/nodes/{name}")
    except KubeError:
        return False
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


# Something in the control plane drops the fake node's status addresses now and then (seen
# about a minute after start); without an address the API server cannot reach kwok for pod
# logs. This stage puts the address back whenever it is missing.
KEEP_NODE_ADDRESS = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-keep-address
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.addresses'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      addresses:
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}"""


# kwok's "fast" node stage sets the node Ready once and never again; the node lifecycle
# controller then marks it NotReady after its grace period (about 50 s) and its pods NotReady
# with it, so healthy workloads look unavailable. Like a kubelet, this stage reports the
# node's conditions again every 10-15 s, well inside that grace period, for as long as kwok runs.
NODE_HEARTBEAT_SECONDS = (10, 15)
NODE_HEARTBEAT = f"""\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat-devstack
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: {NODE_HEARTBEAT_SECONDS[0] * 1000}
    jitterDurationMilliseconds: {NODE_HEARTBEAT_SECONDS[1] * 1000}
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}}}
      conditions:
      {{{{ range NodeConditions }}}}
      - lastHeartbeatTime: {{{{ $now | Quote }}}}
        lastTransitionTime: {{{{ $lastTransitionTime | Quote }}}}
        message: {{{{ .message | Quote }}}}
        reason: {{{{ .reason | Quote }}}}
        status: {{{{ .status | Quote }}}}
        type: {{{{ .type | Quote }}}}
      {{{{ end }}}}"""


def _start_kwok(handle: KubeHandle, exe: str, workdir: Path, pkidir: Path) -> base.Proc:
    """kwok plays the kubelet for one fake node: keeps it Ready, moves its pods to Running."""
    stages = base.run([exe, "kwok-stages"]).stdout
    logs = workdir / "fake-container.log"
    logs.write_text(FAKE_LOG)
    cluster_logs = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "every-container"},
        "spec": {"selector": {}, "logs": [{"logsFile": str(logs), "follow": False}]},
    }
    config = workdir / "kwok.yaml"
    config.write_text(
        "\n---\n".join([stages, KEEP_NODE_ADDRESS, NODE_HEARTBEAT, yaml.safe_dump(cluster_logs)])
    )
    client = pki.leaf(pkidir, "kwok", "/O=system:masters/CN=kwok")
    serving = pki.leaf(pkidir, "kwok-serving", "/CN=kwok", server=True)
    cfg = write_kubeconfig(
        workdir / "kwok.kubeconfig", handle.url, handle.ca_file, "kwok", _cert_auth(client)
    )
    port = base.free_port()
    proc = base.spawn(
        KWOK,
        [
            exe,
            "kwok",
            f"--kubeconfig={cfg}",
            f"--config={config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            f"--node-ip={base.LOOPBACK}",
            f"--node-port={port}",
            f"--server-address={base.LOOPBACK}:{port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--cidr={FAKE_POD_CIDR}",
        ],
        handle.state_dir,
        ports={"https": port},
    )
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": FAKE_NODE,
            "annotations": {FAKE_NODE_ANNOTATION: "fake"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": FAKE_NODE,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
    }
    try:
        handle.request("POST", "/api/v1/nodes", node)
    except KubeError as exc:
        if exc.status != 409:
            raise
    base.wait_until(
        proc,
        lambda: _node_ready(handle, FAKE_NODE),
        timeout=START_TIMEOUT,
        what=f"reporting node {FAKE_NODE} Ready",
    )
    return proc


def start(state_dir: Path) -> KubeHandle:
    """Start etcd, API server, controller-manager, scheduler, kwok; wait until each is ready."""
    state_dir = Path(state_dir).resolve()
    exe = str(install.go_build(install.KUBE))
    workdir, pkidir = _paths(state_dir)
    authority = pki.ca(pkidir)
    serving = pki.leaf(pkidir, "apiserver", "/CN=kube-apiserver", server=True)
    admin = pki.leaf(pkidir, "admin", "/O=system:masters/CN=autodevops-admin")
    cm_cert = pki.leaf(pkidir, "controller-manager", "/CN=system:kube-controller-manager")
    sched_cert = pki.leaf(pkidir, "scheduler", "/CN=system:kube-scheduler")
    sa = pki.service_account_key(pkidir)

    started: dict[str, base.Proc] = {}
    try:
        etcd_port, peer_port = base.free_port(), base.free_port()
        etcd = base.spawn(
            ETCD,
            [
                exe,
                "etcd",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-url=http://{base.LOOPBACK}:{etcd_port}",
                f"--listen-peer-url=http://{base.LOOPBACK}:{peer_port}",
            ],
            state_dir,
            ports={"client": etcd_port, "peer": peer_port},
        )
        started[ETCD] = etcd
        etcd_url = f"http://{base.LOOPBACK}:{etcd_port}"
        base.wait_until(
            etcd, lambda: b'"true"' in _get(f"{etcd_url}/health")[1], timeout=60, what="healthy"
        )

        port = base.free_port()
        url = f"https://{base.LOOPBACK}:{port}"
        apiserver = base.spawn(
            APISERVER,
            [
                exe,
                "kube-apiserver",
                f"--etcd-servers={etcd_url}",
                f"--bind-address={base.LOOPBACK}",
                f"--advertise-address={base.LOOPBACK}",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={authority.cert}",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction,PodSecurity",
                # Privileged containers are allowed cluster-wide, so Pod Security admission
                # is what refuses them in a restricted namespace.
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                # Reach kwok's kubelet API by the node's IP (loopback), never by a DNS name.
                "--kubelet-preferred-address-types=InternalIP",
                f"--cert-dir={workdir / 'apiserver-certs'}",
                "--profiling=false",
                "--event-ttl=1h",
            ],
            state_dir,
            ports={"https": port},
        )
        started[APISERVER] = apiserver
        kubeconfig = write_kubeconfig(
            workdir / "admin.kubeconfig", url, authority.cert, "autodevops-admin", _cert_auth(admin)
        )
        handle = KubeHandle(url, kubeconfig, authority.cert, admin, state_dir, started)
        ctx = handle.ssl_context()
        base.wait_until(
            apiserver,
            lambda: _get(f"{url}/readyz", ctx)[0] == 200,
            timeout=START_TIMEOUT,
            what="ready (/readyz)",
        )

        for name, cert in ((CONTROLLER_MANAGER, cm_cert), (SCHEDULER, sched_cert)):
            cfg = write_kubeconfig(
                workdir / f"{name}.kubeconfig", url, authority.cert, name, _cert_auth(cert)
            )
            own = base.free_port()
            argv = [
                exe,
                name,
                f"--kubeconfig={cfg}",
                f"--authentication-kubeconfig={cfg}",
                f"--authorization-kubeconfig={cfg}",
                f"--bind-address={base.LOOPBACK}",
                f"--secure-port={own}",
                "--leader-elect=false",
            ]
            if name == CONTROLLER_MANAGER:
                argv += [
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={sa.key}",
                    f"--root-ca-file={authority.cert}",
                    f"--cluster-signing-cert-file={authority.cert}",
                    f"--cluster-signing-key-file={authority.key}",
                    f"--cert-dir={workdir / 'controller-manager-certs'}",
                ]
            started[name] = base.spawn(name, argv, state_dir, ports={"https": own})
        for name in (CONTROLLER_MANAGER, SCHEDULER):
            base.wait_until(
                started[name],
                _healthz(started[name].ports["https"]),
                timeout=START_TIMEOUT,
                what="healthy",
            )
        base.wait_until(
            started[CONTROLLER_MANAGER],
            lambda: _has_default_service_account(handle),
            timeout=START_TIMEOUT,
            what="creating default ServiceAccounts",
        )
        started[KWOK] = _start_kwok(handle, exe, workdir, pkidir)
    except BaseException:
        for proc in reversed(list(started.values())):
            proc.stop()
            base.forget(state_dir, proc.name)
        raise
    apiserver.env = handle.env()
    apiserver.info = {"url": url}
    base.save(state_dir, apiserver)
    return handle


def attach(state_dir: Path) -> KubeHandle | None:
    """The control plane already running for this state dir, if every part is alive and ready."""
    state_dir = Path(state_dir).resolve()
    procs = {name: base.load(state_dir, name) for name in RECORDS}
    if not all(p and p.alive() for p in procs.values()):
        return None
    workdir, pkidir = _paths(state_dir)
    apiserver = procs[APISERVER]
    assert apiserver is not None
    url = f"https://{base.LOOPBACK}:{apiserver.ports['https']}"
    admin = pki.Cert(pkidir / "admin.crt", pkidir / "admin.key")
    handle = KubeHandle(
        url,
        workdir / "admin.kubeconfig",
        pkidir / "ca.crt",
        admin,
        state_dir,
        {k: v for k, v in procs.items() if v is not None},
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if _get(f"{url}/readyz", handle.ssl_context())[0] == 200:
                return handle
        except OSError:
            pass
        time.sleep(0.5)
    return None
