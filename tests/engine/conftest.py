"""Fixtures of the engine's tests that run states on the shared real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing.server import MontemapServer


@pytest.fixture(scope="module")
def sfn(shared_montemap_server: MontemapServer) -> Iterator[Any]:
    """A Step Functions client of the shared server (no ``sync-`` host prefix, so that
    StartSyncExecution reaches it too)."""
    made = shared_montemap_server.client(inject_host_prefix=False)
    yield made
    made.close()
