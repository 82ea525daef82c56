"""The API server stopped mid-test: a clear error naming it, within the call time limit."""

from __future__ import annotations

import time
from pathlib import Path

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.kubernetes.client import KubeBackend
from autodevops.servers.kubernetes.server import SPEC
from devstack import kube as kube_stack
from devstack.services import audit_lines
from tests.kube_helpers import POLICY
from tests.mcp_helpers import call_text, server_session


async def test_api_server_stopped_mid_session(tmp_path: Path) -> None:
    private = kube_stack.start(tmp_path / "private-kube")
    try:
        policy = {
            **POLICY,
            "roles": {"reader": {**POLICY["roles"]["reader"], "limits": {"timeout_seconds": 5}}},
        }
        backend = KubeBackend(str(private.kubeconfig))
        async with server_session(SPEC, backend, policy, "reader", tmp_path) as (client, audit):
            text, error = await call_text(client, "list_resources", {"kind": "namespaces"})
            assert not error and "kube-system" in text
            private.stop()
            started = time.monotonic()
            text, error = await call_text(client, "list_resources", {"kind": "namespaces"})
            assert time.monotonic() - started < 6
        assert error, text
        assert text.startswith(f"Kubernetes API at {private.url}: unreachable"), text
        assert "Check: that the API server is running" in text and "Traceback" not in text
        assert audit_lines(audit)[-1]["outcome"] == "backend_error"
        try:
            await KubeBackend(str(private.kubeconfig)).check_ready()
        except BackendUnavailable as exc:
            assert private.url in exc.message
        else:
            raise AssertionError("check_ready must fail while the API server is down")
    finally:
        private.stop()
