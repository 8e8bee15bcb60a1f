"""One server per test module for the Lambda API tests (functions get unique names)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import MontemapServer


@pytest.fixture(scope="module")
def lambda_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("lambda-server") / "data",
        env={"MONTEMAP_LEAK_CANARY": "server-only"},
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def lambda_client(lambda_server: MontemapServer) -> Iterator[Any]:
    client = lambda_server.client("lambda")
    yield client
    client.close()
