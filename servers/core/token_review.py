"""Kubernetes bearer tokens (ServiceAccount tokens above all), verified with TokenReview.

The server asks the API server, as itself, whether a caller's token is valid for one of the
audiences it was started with; the token goes nowhere else. The policy's bindings turn the
verified user name and groups into roles. Answers are cached briefly, keyed by a SHA-256 of
the token, so a busy client costs one review per minute rather than one per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from autodevops.common.identity import Principal, token_digest

from .identity import AuthUnavailable
from .policy import Policy

log = logging.getLogger("autodevops.token_review")

REVIEW_TIMEOUT_SECONDS = 5.0
ACCEPTED_TTL_SECONDS = 60.0
REFUSED_TTL_SECONDS = 10.0
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Review:
    """What the API server says about a token; `audiences` are those it was accepted for."""

    authenticated: bool
    username: str = ""
    groups: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    error: str = ""


class Reviewer(Protocol):
    url: str

    def review(self, token: str, audiences: Sequence[str], timeout: float) -> Review:
        """Blocking; raises AuthUnavailable when the API server cannot answer."""
        ...


class TokenReviewError(ValueError):
    """TokenReview cannot be set up: no usable kubeconfig or in-cluster config."""


class KubeReviewer:
    """TokenReview through the `kubernetes` client, as the server's own identity."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            if kubeconfig or "KUBERNETES_SERVICE_HOST" not in os.environ:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, client_configuration=configuration
                )
            else:
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
        except (config.ConfigException, OSError) as exc:
            where = kubeconfig or "the default kubeconfig or in-cluster config"
            raise TokenReviewError(f"TokenReview: cannot load {where}: {exc}") from exc
        # One attempt: the caller is waiting, and a retry loop would outlast the timeout.
        configuration.retries = 0
        self.url = str(configuration.host)
        self._api: Any = client.AuthenticationV1Api(client.ApiClient(configuration))

    def review(self, token: str, audiences: Sequence[str], timeout: float) -> Review:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        body = client.V1TokenReview(
            spec=client.V1TokenReviewSpec(token=token, audiences=list(audiences))
        )
        try:
            result = self._api.create_token_review(body, _request_timeout=timeout)
        except ApiException as exc:
            hint = (
                "; the server's own identity needs RBAC to create tokenreviews "
                "(e.g. the system:auth-delegator ClusterRole)"
                if exc.status in (401, 403)
                else ""
            )
            raise AuthUnavailable(
                f"cannot verify the token: the Kubernetes API server at {self.url} answered "
                f"HTTP {exc.status} {exc.reason} to a TokenReview{hint}"
            ) from exc
        except (HTTPError, OSError) as exc:
            cause = exc.reason if isinstance(exc, MaxRetryError) else exc
            # urllib3 counts a refused connection as a connect timeout; it is not one.
            refused = isinstance(cause, NewConnectionError)
            if isinstance(cause, TimeoutError | Urllib3Timeout) and not refused:
                raise AuthUnavailable(_no_answer(self.url, timeout)) from exc
            raise AuthUnavailable(
                f"cannot verify the token: the Kubernetes API server at {self.url} is "
                f"unreachable ({type(cause).__name__}); check that it is running and the "
                f"server's kubeconfig or in-cluster config"
            ) from exc
        status = result.status
        user = status.user if status is not None else None
        return Review(
            authenticated=bool(status is not None and status.authenticated),
            username=str(user.username or "") if user is not None else "",
            groups=tuple(user.groups or ()) if user is not None else (),
            audiences=tuple(status.audiences or ()) if status is not None else (),
            error=str(status.error or "") if status is not None else "",
        )


class TokenReviewAuthenticator:
    """Kubernetes tokens to principals: verified, audience-checked, bound to roles, cached.

    A token the API server accepts for one of our audiences always yields a principal, with
    no roles when no binding matches: it sees and may call nothing, and its calls are audited
    under its real name rather than bounced as anonymous.
    """

    def __init__(
        self,
        reviewer: Reviewer,
        audiences: Sequence[str],
        policy: Policy,
        *,
        timeout: float = REVIEW_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not audiences:
            raise ValueError("TokenReview needs at least one audience")
        self.reviewer = reviewer
        self.audiences = tuple(audiences)
        self.policy = policy
        self.timeout = timeout
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, token: str) -> Principal | None:
        key = token_digest(token)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._principal(await self._review(token))
        ttl = ACCEPTED_TTL_SECONDS if principal is not None else REFUSED_TTL_SECONDS
        self._remember(key, now + ttl, principal)
        return principal

    async def _review(self, token: str) -> Review:
        # The thread cannot be cancelled, but the request inside it has the same timeout.
        try:
            async with asyncio.timeout(self.timeout + 1):
                return await asyncio.to_thread(
                    self.reviewer.review, token, self.audiences, self.timeout
                )
        except TimeoutError as exc:
            raise AuthUnavailable(_no_answer(self.reviewer.url, self.timeout)) from exc

    def _principal(self, review: Review) -> Principal | None:
        if not review.authenticated:
            log.warning("TokenReview refused a token: %s", review.error or "not authenticated")
            return None
        if not set(review.audiences) & set(self.audiences):
            log.warning(
                "TokenReview accepted a token for %s but not for audience(s) %s",
                review.username,
                ", ".join(self.audiences),
            )
            return None
        roles = self.policy.bound_roles(review.username, review.groups)
        return Principal(review.username, roles, "http")

    def _remember(self, key: bytes, expires: float, principal: Principal | None) -> None:
        if len(self._cache) >= CACHE_SIZE:
            now = self._clock()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (expires, principal)


def _no_answer(url: str, seconds: float) -> str:
    return (
        f"cannot verify the token: the Kubernetes API server at {url} did not answer a "
        f"TokenReview within {seconds:g}s; check its health and load"
    )
