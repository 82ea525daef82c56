"""What an HTTP backend's transport failure means to a caller: it did not answer in time (the
backend is slow or the request too big), or it cannot be reached at all; and the TLS
verification a backend's URL needs."""

from __future__ import annotations

import ssl

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


def verification(url: str) -> ssl.SSLContext | bool:
    """The system's trust store for an `https` URL. A plain `http` URL never uses TLS (a client
    follows no redirect), so it gets a context that trusts nothing: loading the trust store
    would cost every such server 1.5 MB for nothing, and TLS, were it ever tried, fails."""
    if url.lower().startswith("https:"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
