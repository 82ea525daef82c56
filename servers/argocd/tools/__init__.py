"""The Argo CD tools, the same in API and core mode; the order here is the catalogue's."""

from __future__ import annotations

from .diff import application_diff
from .reads import (
    application_events,
    application_history,
    get_application,
    list_applications,
    resource_tree,
)
from .writes import refresh_application, rollback_application, sync_application, terminate_operation

READ_TOOLS = [
    list_applications,
    get_application,
    application_diff,
    application_history,
    resource_tree,
    application_events,
]
WRITE_TOOLS = [sync_application, rollback_application, refresh_application, terminate_operation]
TOOLS = READ_TOOLS + WRITE_TOOLS
