"""The objects the hardening tests probe, created for each module that asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.kubernetes import hardening_objects


@pytest.fixture(scope="module")
def hardened(kube: Any) -> Iterator[Any]:
    hardening_objects.create(kube)
    yield kube
    hardening_objects.remove(kube)
