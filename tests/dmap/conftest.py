"""Fixtures for the Distributed Map reader, batcher and writer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore
from tests.storage.s3_server import moto_endpoint, s3_store

__all__ = ["moto_endpoint", "s3_store"]


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    """A local store with an empty bucket ``data``."""
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("data")
    return store
