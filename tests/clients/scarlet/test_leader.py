"""Schedules need one leader among Scarlet replicas: a Kubernetes Lease on the real API server."""

from __future__ import annotations

import asyncio
from typing import Any

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
    assert await first.try_acquire() is True
    assert await second.try_acquire() is False
    assert await first.try_acquire() is True, "the holder renews"
    lease = kube.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/scarlet-schedules-test"
    )
    assert lease["spec"]["holderIdentity"] == "replica-a"
    await asyncio.sleep(2.5)
    assert await second.try_acquire() is True, "an expired lease is taken over"
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
