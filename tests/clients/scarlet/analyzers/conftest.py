"""The analyzer tests' cluster and servers, set up once for the package."""

from tests.clients.scarlet.analyzers.cluster import (  # noqa: F401 (fixtures)
    cluster,
    kubernetes_server,
    pool,
    prometheus_server,
)
