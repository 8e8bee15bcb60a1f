"""Fixtures: one real ``montemap server`` per test module, boto3 S3 clients for it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from montemap.testing import DUMMY_CREDENTIALS, REGION, MontemapServer

_names = itertools.count()


def s3_client(url: str, *, key_id: str = "test", secret: str = "test", **config: Any) -> Any:
    """A boto3 S3 client for the server at ``url`` (no retries: a refusal shows at once)."""
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    options.update(config)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(**options),
    )


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(tmp_path_factory.mktemp("s3-server") / "data")
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def s3(s3_server: MontemapServer) -> Iterator[Any]:
    client = s3_client(s3_server.url, **{"key_id": DUMMY_CREDENTIALS["aws_access_key_id"]})
    yield client
    client.close()


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket for this test."""
    name = f"bucket-{next(_names)}"
    s3.create_bucket(Bucket=name)
    return name
