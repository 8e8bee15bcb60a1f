"""Fixtures for API tests that call the app in-process (Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from montemap.api.app import Authenticator, ServiceEndpoint, create_app
from montemap.api.registry import Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.storage import LocalObjectStore

from .helpers import ApiClient


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "montemap.db")
    yield db
    db.close()


@pytest.fixture
def registry(database: Database) -> Registry:
    return Registry(database, arns=ArnFactory())


@pytest.fixture
def app_factory(
    database: Database, registry: Registry, tmp_path: Path
) -> Iterator[Callable[..., ApiClient]]:
    """Build the app around a real engine and registry; ``app_factory(authenticator=...)``."""
    clients: list[TestClient] = []

    def make(
        *,
        authenticator: Authenticator | None = None,
        services: dict[str, ServiceEndpoint] | None = None,
    ) -> ApiClient:
        engine = Engine(database, arns=registry.arns, store=LocalObjectStore(tmp_path / "buckets"))
        app = create_app(
            engine=engine, registry=registry, authenticator=authenticator, services=services
        )
        http = TestClient(app, raise_server_exceptions=False)
        http.__enter__()
        clients.append(http)
        return ApiClient(http)

    yield make
    for http in clients:
        http.__exit__(None, None, None)


@pytest.fixture
def api(app_factory: Callable[..., ApiClient]) -> ApiClient:
    return app_factory()
