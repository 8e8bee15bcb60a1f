"""While a server runs, young collections run less often; its stop restores the thresholds.

The tuning holds for a whole server whatever lifespan handler it was given:
``montemap.assembly`` replaces the lifespan handler of the app ``create_app`` built (to
start the engine, the worker services, the functions), and the tuning used to be lost
with it, so every real server ran with Python's default threshold of 700.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from montemap.api.app import create_app
from montemap.api.gc_tuning import SERVER_THRESHOLD, server_collector
from montemap.api.registry import Registry
from montemap.assembly import Montemap, Settings
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.storage import LocalObjectStore

from .helpers import ApiClient


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_a_running_app_raises_the_threshold_and_its_stop_restores_it(
    default_thresholds: tuple[int, int, int], database: Database, registry: Registry, tmp_path: Path
) -> None:
    engine = Engine(database, arns=registry.arns, store=LocalObjectStore(tmp_path / "buckets"))
    app = create_app(engine=engine, registry=registry)
    with TestClient(app) as http:  # the app's lifespan starts
        assert gc.get_threshold() == (SERVER_THRESHOLD, 10, 10)
        assert ApiClient(http).call("ListActivities").status_code == 200
    assert gc.get_threshold() == default_thresholds


def test_the_last_of_two_servers_restores(default_thresholds: tuple[int, int, int]) -> None:
    with server_collector():
        with server_collector():
            assert gc.get_threshold()[0] == SERVER_THRESHOLD
        assert gc.get_threshold()[0] == SERVER_THRESHOLD
    assert gc.get_threshold() == default_thresholds


def test_a_collector_turned_off_stays_off(default_thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(0, 10, 10)
    with server_collector():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


def test_a_larger_threshold_is_kept(default_thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(50_000, 20, 20)
    with server_collector():
        assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_threshold() == (50_000, 20, 20)


def test_a_change_made_meanwhile_is_not_undone(default_thresholds: tuple[int, int, int]) -> None:
    with server_collector():
        gc.set_threshold(1234, 5, 5)
    assert gc.get_threshold() == (1234, 5, 5)


def test_an_app_whose_lifespan_was_replaced_still_tunes(
    default_thresholds: tuple[int, int, int], database: Database, registry: Registry, tmp_path: Path
) -> None:
    engine = Engine(database, arns=registry.arns, store=LocalObjectStore(tmp_path / "buckets"))
    app = create_app(engine=engine, registry=registry)
    seen: list[tuple[int, int, int]] = []

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        seen.append(gc.get_threshold())
        yield

    app.router.lifespan_context = lifespan
    with TestClient(app) as http:
        assert gc.get_threshold() == (SERVER_THRESHOLD, 10, 10)
        assert ApiClient(http).call("ListActivities").status_code == 200
    assert seen == [(SERVER_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == default_thresholds


def test_the_assembled_server_runs_tuned(
    default_thresholds: tuple[int, int, int], tmp_path: Path
) -> None:
    server = Montemap(Settings(data_dir=tmp_path / "data", cgroups=False))
    try:
        with TestClient(server.app, base_url="http://127.0.0.1:8083") as http:
            assert gc.get_threshold() == (SERVER_THRESHOLD, 10, 10)
            assert ApiClient(http).call("ListActivities").status_code == 200
    finally:
        server.close()
    assert gc.get_threshold() == default_thresholds
