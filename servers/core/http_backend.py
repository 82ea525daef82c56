"""What an HTTP backend's transport failure means to a caller: it did not answer in time (the
backend is slow or the request too big), or it cannot be reached at all."""

from __future__ import annotations

import httpx2

from autodevops.common.unavailable import BackendUnavailable


def unreachable(
    service: str, where: str, exc: httpx2.HTTPError, *, slow: str, down: str
) -> BackendUnavailable:
    """`slow` and `down` say what to check in each case."""
    if isinstance(exc, httpx2.TimeoutException):
        return BackendUnavailable(
            service, where, f"did not answer in time ({type(exc).__name__})", slow
        )
    return BackendUnavailable(service, where, f"unreachable ({type(exc).__name__}: {exc})", down)
