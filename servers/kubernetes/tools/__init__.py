"""The Kubernetes tools: read anything the API serves, and a few well-defined writes.

Every tool reaches the API only through `ScopedKube`, which checks kind, verb and namespace
before each request. Writes are off unless a policy allows the tool and the verb. The order
here is the catalogue's.
"""

from __future__ import annotations

from .diagnosis import describe, events, pod_logs
from .objects import api_resources, get_resource, list_resources
from .overview import namespaces_overview, nodes_overview, rollout_status
from .writes import apply_manifest, cordon, delete_resource, rollback, rollout_restart, scale

READ_TOOLS = [
    api_resources,
    list_resources,
    get_resource,
    describe,
    events,
    namespaces_overview,
    nodes_overview,
    rollout_status,
    pod_logs,
]
WRITE_TOOLS = [scale, rollout_restart, rollback, cordon, delete_resource, apply_manifest]
TOOLS = READ_TOOLS + WRITE_TOOLS
