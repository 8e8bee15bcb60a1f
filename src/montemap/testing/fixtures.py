"""pytest fixtures around :class:`~montemap.testing.server.MontemapServer`.

Import them into a ``conftest.py`` (``from montemap.testing.fixtures import *``):

    server_factory          make more servers (each cleaned up after the test)
    montemap_server         a fresh server for one test
    sfn_client              a boto3 Step Functions client for ``montemap_server``
    shared_montemap_server  one server for the whole session (use unique names)
    shared_sfn_client       a boto3 client for it
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from montemap.testing.server import MontemapServer

__all__ = [
    "montemap_server",
    "server_factory",
    "sfn_client",
    "shared_montemap_server",
    "shared_sfn_client",
]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., MontemapServer]]:
    """Start servers in this test's temp dir: ``server_factory(extra_args=[...])``."""
    servers: list[MontemapServer] = []

    def make(*, start: bool = True, **kwargs: Any) -> MontemapServer:
        server = MontemapServer(tmp_path / f"data{len(servers)}", **kwargs)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def montemap_server(server_factory: Callable[..., MontemapServer]) -> MontemapServer:
    return server_factory()


@pytest.fixture
def sfn_client(montemap_server: MontemapServer) -> Iterator[Any]:
    client = montemap_server.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def shared_montemap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(tmp_path_factory.mktemp("shared-server") / "data")
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def shared_sfn_client(shared_montemap_server: MontemapServer) -> Iterator[Any]:
    client = shared_montemap_server.client()
    yield client
    with contextlib.suppress(Exception):
        client.close()
