"""Fixtures: the same contract suite runs against the local and the S3 backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore, ObjectStore, S3ObjectStore
from tests.storage.s3_server import moto_endpoint, s3_store

__all__ = ["moto_endpoint", "s3_store"]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each backend in turn."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "buckets")
        return
    s3: S3ObjectStore = request.getfixturevalue("s3_store")
    yield s3


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    """An empty bucket in ``store``."""
    store.create_bucket("test-bucket")
    return "test-bucket"
