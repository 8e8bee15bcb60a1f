"""Fixtures for the console tests: one real server per module, a browser-like client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import MontemapServer
from tests.console.helpers import Http


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    """A ``montemap server`` (no cgroups) shared by one test module."""
    server = MontemapServer(
        tmp_path_factory.mktemp("console") / "data", extra_args=["--no-cgroups"]
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sfn(console_server: MontemapServer) -> Iterator[Any]:
    client = console_server.client()
    yield client
    with contextlib.suppress(Exception):
        client.close()


@pytest.fixture
def http(console_server: MontemapServer) -> Http:
    """A fresh browser session (its own cookie jar)."""
    return Http(console_server.url)
