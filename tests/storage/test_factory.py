"""open_store: from a data directory, a URL or a config mapping to a backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.storage import (
    LocalObjectStore,
    S3ObjectStore,
    StoreConfigError,
    open_store,
)


def test_data_directory_gives_local_buckets(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "buckets"
    store.create_bucket("b1b")
    store.put("b1b", "k", b"v")
    assert (tmp_path / "buckets" / "b1b" / "k").read_bytes() == b"v"


def test_path_object_and_file_url(tmp_path: Path) -> None:
    for spec in (tmp_path, f"file://{tmp_path}", {"type": "local", "data_dir": str(tmp_path)}):
        store = open_store(spec)
        assert isinstance(store, LocalObjectStore)
        assert store.root == tmp_path / "buckets"


def test_data_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreConfigError, match="not a directory"):
        open_store(tmp_path / "f")


def test_s3_url_with_options(moto_endpoint: str) -> None:
    store = open_store(f"s3://?endpoint_url={moto_endpoint}&region=eu-west-1")
    assert isinstance(store, S3ObjectStore)
    try:
        assert store.endpoint_url == moto_endpoint
        assert store.client.meta.region_name == "eu-west-1"
        store.create_bucket("factory-bucket")
        store.put("factory-bucket", "k", b"v")
        assert store.get("factory-bucket", "k") == b"v"
    finally:
        store.close()


def test_plain_s3_url_uses_the_aws_environment(moto_endpoint: str) -> None:
    store = open_store("s3://")
    assert isinstance(store, S3ObjectStore)
    assert store.endpoint_url is None
    assert store.client.meta.region_name == "us-east-1"
    store.close()


def test_endpoint_url_and_mapping(moto_endpoint: str) -> None:
    for spec in (moto_endpoint, {"type": "s3", "endpoint_url": moto_endpoint}):
        store = open_store(spec)
        assert isinstance(store, S3ObjectStore)
        assert store.endpoint_url == moto_endpoint
        store.close()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("s3://my-bucket", "no bucket or path"),
        ("s3://?bucket=x", "unknown option"),
        ("s3://?endpoint_url=ftp://x", "must be an http"),
        ("s3://?region=a&region=b", "once"),
        ("ftp://host/x", "unknown scheme"),
        ("file://remote/x", "only local"),
        ("", "expected a directory"),
        ({"type": "gcs"}, "'type' must be"),
        ({"type": "s3", "bucket": "x"}, "unknown key"),
        ({"type": "s3", "endpoint_url": 5}, "non-empty string"),
        ({"type": "local"}, "data_dir"),
        (42, "expected a directory"),
    ],
)
def test_bad_specifications(spec: object, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        open_store(spec)  # type: ignore[arg-type]
