"""Which replica fires the schedules: the holder of a Kubernetes Lease.

Runs and actions are shared through the database; only schedules need one leader, or each
replica would start its own sweep. Kubernetes is the arbiter (a Lease updated with the
resourceVersion it was read at), so nothing home-made decides leadership.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("autodevops.scarlet.leader")


class LeaseElector:
    def __init__(
        self,
        api_client: Any,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = 15,
    ) -> None:
        from kubernetes import client

        self._api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        # Why the last attempt did not hold the lease (an API error or a lost race), for logs
        # and tests; None after a success or a plain "another live holder has it".
        self.last_error: Exception | str | None = None

    async def try_acquire(self) -> bool:
        """Take or renew the lease; False when another live holder has it.

        One transient failure (an API error, or a write that lost a race) is retried once
        while less than half the lease has passed, so a holder is not demoted by one blip;
        the second attempt re-reads the lease, so a real new holder still wins."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                held = await asyncio.to_thread(self._try_acquire)
            except Exception as exc:
                self.last_error = exc
                where = f"{self.namespace}/{self.name}"
                log.warning("lease %s unavailable (attempt %d): %s", where, attempt, exc)
            else:
                if held or self.last_error is None:
                    return held
            if time.monotonic() - started >= self.lease_seconds / 2:
                break
        return False

    def _try_acquire(self) -> bool:
        """True when held; False when another live holder has it (`last_error` None) or a
        write lost a race (`last_error` says which, and the caller may try again)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        self.last_error = None
        now = datetime.now(UTC)
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=self._spec(now, acquired=now, transitions=0),
            )
            try:
                self._api.create_namespaced_lease(self.namespace, body)
            except ApiException as conflict:
                if conflict.status == 409:
                    self.last_error = "another replica created the lease first"
                    return False
                raise
            return True
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity
        renewed = spec.renew_time or spec.acquire_time
        expired = renewed is None or now - renewed > timedelta(
            seconds=spec.lease_duration_seconds or self.lease_seconds
        )
        if holder not in (None, self.identity) and not expired:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.identity else 1)
        acquired = spec.acquire_time if holder == self.identity and spec.acquire_time else now
        lease.spec = self._spec(now, acquired=acquired, transitions=transitions)
        try:
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:
                self.last_error = "the lease changed between its read and its renewal"
                return False
            raise
        return True

    def _spec(self, now: datetime, acquired: datetime, transitions: int) -> Any:
        from kubernetes import client

        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self.lease_seconds,
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )
