"""Schedules need one leader among Scarlet replicas: a Kubernetes Lease on the real API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from autodevops.clients.scarlet.leader import LeaseElector

NAMESPACE = "default"


def electors(kube: Any, lease: str, seconds: int) -> tuple[LeaseElector, LeaseElector]:
    api = kube.api_client()
    return (
        LeaseElector(api, NAMESPACE, lease, "replica-a", lease_seconds=seconds),
        LeaseElector(api, NAMESPACE, lease, "replica-b", lease_seconds=seconds),
    )


async def test_one_leader_at_a_time_and_takeover_after_expiry(kube: Any) -> None:
    first, second = electors(kube, "scarlet-schedules-test", 2)
    assert await first.try_acquire() is True, f"the first takes it ({first.last_error!r})"
    assert await second.try_acquire() is False
    assert second.last_error is None, "a live holder is not an error"
    assert await first.try_acquire() is True, f"the holder renews ({first.last_error!r})"
    lease = kube.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/scarlet-schedules-test"
    )
    assert lease["spec"]["holderIdentity"] == "replica-a"
    await asyncio.sleep(2.5)
    taken = await second.try_acquire()
    assert taken is True, f"an expired lease is taken over ({second.last_error!r})"
    assert await first.try_acquire() is False
    lease = kube.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/scarlet-schedules-test"
    )
    assert lease["spec"]["holderIdentity"] == "replica-b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_an_unreachable_api_server_means_not_leader(kube: Any) -> None:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:9"
    configuration.retries = 0
    elector = LeaseElector(client.ApiClient(configuration), NAMESPACE, "x", "replica-c")
    assert await elector.try_acquire() is False
    assert elector.last_error is not None, "the reason is kept for the logs"


async def test_the_holder_survives_one_transient_api_error(
    kube: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.client.exceptions import ApiException

    first, second = electors(kube, "scarlet-schedules-blip", 30)
    assert await first.try_acquire() is True, repr(first.last_error)
    real_read = first._api.read_namespaced_lease
    failures = iter([ApiException(status=503, reason="etcd leader changed")])

    def read_once_failing(*args: Any, **kwargs: Any) -> Any:
        for failure in failures:
            raise failure
        return real_read(*args, **kwargs)

    monkeypatch.setattr(first._api, "read_namespaced_lease", read_once_failing)
    assert await first.try_acquire() is True, f"renewed on the retry ({first.last_error!r})"
    assert await second.try_acquire() is False
