"""One montemap server for this directory's tests (stacks use unique names)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from montemap.testing import MontemapServer

#: Seconds a custom resource may take to answer on the test server.
CUSTOM_TIMEOUT = "4"


@pytest.fixture(scope="module")
def cfn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("cfn") / "data",
        env={"MONTEMAP_CUSTOM_RESOURCE_TIMEOUT": CUSTOM_TIMEOUT},
    )
    server.start()
    yield server
    server.close()
