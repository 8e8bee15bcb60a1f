"""The S3-backed object store keeps what the local store keeps: system metadata, tags, ACLs.

Each test runs against montemap's own S3 endpoint (a real server) and against
moto's S3 server, so what the store sends is checked by two implementations
of S3's API.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.storage import MIN_PART_SIZE, ObjectMeta, ObjectStoreError, S3ObjectStore
from montemap.storage.grants import ALL_USERS, CANNED
from montemap.storage.records import records_for
from montemap.testing import MontemapServer
from tests.s3api.conftest import s3_client
from tests.storage.s3_server import moto_endpoint

__all__ = ["moto_endpoint"]

_names = itertools.count()

META = ObjectMeta(
    "text/csv",
    {"origin": "tape-7"},
    {
        "cache-control": "max-age=60",
        "content-disposition": 'attachment; filename="loans.csv"',
        "content-encoding": "gzip",
        "content-language": "en-GB",
        "expires": "Thu, 01 Dec 2044 16:00:00 GMT",
    },
    (("project", "loans"), ("stage", "raw")),
    CANNED["public-read"],
)


@pytest.fixture(params=["montemap", "moto"])
def store(request: pytest.FixtureRequest, s3_server: MontemapServer) -> Iterator[S3ObjectStore]:
    if request.param == "montemap":
        client = s3_client(s3_server.url)
    else:
        url = request.getfixturevalue("moto_endpoint")
        client = s3_client(url, key_id="testing", secret="testing")
    yield S3ObjectStore(client=client)
    client.close()


@pytest.fixture
def bucket(store: S3ObjectStore) -> str:
    name = f"store-{next(_names)}"
    store.create_bucket(name)
    return name


def assert_kept(got: Any, meta: ObjectMeta = META) -> None:
    assert got.content_type == meta.content_type
    assert dict(got.metadata) == dict(meta.metadata)
    assert dict(got.headers) == dict(meta.headers)
    assert sorted(got.tags) == sorted(meta.tags)


def test_put_keeps_system_metadata_and_tags(store: S3ObjectStore, bucket: str) -> None:
    store.put(bucket, "small.csv", b"a,b\n", meta=META)
    assert_kept(store.head(bucket, "small.csv"))
    info, stream = store.open_info(bucket, "small.csv")
    with stream:
        assert stream.read() == b"a,b\n"
    assert_kept(info)
    store.put_stream(bucket, "streamed.csv", io.BytesIO(b"x" * 1000), meta=META)
    assert_kept(store.head(bucket, "streamed.csv"))
    records = records_for(store)
    assert ("Group", ALL_USERS, "READ") in records.object_acl(bucket, "small.csv")
    plain = ObjectMeta("text/plain")
    store.put(bucket, "plain.txt", b"p", meta=plain)
    got = store.head(bucket, "plain.txt")
    assert (got.headers, got.tags) == ({}, ())


def test_copy_keeps_or_replaces_everything(store: S3ObjectStore, bucket: str) -> None:
    store.put(bucket, "src", b"data", meta=META)
    assert_kept(store.copy(bucket, "src", bucket, "same"))
    other = ObjectMeta("application/json", {"m": "2"}, {"cache-control": "no-cache"}, (("t", "1"),))
    assert_kept(store.copy(bucket, "src", bucket, "replaced", meta=other), other)


def test_multipart_keeps_system_metadata(store: S3ObjectStore, bucket: str) -> None:
    upload = store.create_upload(bucket, "big.csv", meta=META)
    first = store.upload_part(bucket, "big.csv", upload, 1, io.BytesIO(b"a" * MIN_PART_SIZE))
    last = store.upload_part(bucket, "big.csv", upload, 2, io.BytesIO(b"tail"))
    assert [u.upload_id for u in records_for(store).list_uploads(bucket)] == [upload]
    store.complete_upload(bucket, "big.csv", upload, [(1, first), (2, last)])
    assert_kept(store.head(bucket, "big.csv"))
    assert records_for(store).list_uploads(bucket) == []


def test_records_pass_through(store: S3ObjectStore, bucket: str) -> None:
    records = records_for(store)
    store.put(bucket, "k", b"")
    records.put_object_tags(bucket, "k", (("a", "1"),))
    assert records.object_tags(bucket, "k") == (("a", "1"),)
    records.put_object_tags(bucket, "k", ())
    assert records.object_tags(bucket, "k") == ()
    assert records.bucket_tags(bucket) is None
    records.put_bucket_tags(bucket, (("team", "risk"),))
    assert records.bucket_tags(bucket) == (("team", "risk"),)
    records.put_bucket_tags(bucket, None)
    assert records.bucket_tags(bucket) is None
    assert records.bucket_versioning(bucket) == ""
    records.put_bucket_versioning(bucket, "Suspended")
    assert records.bucket_versioning(bucket) == "Suspended"
    records.put_bucket_acl(bucket, CANNED["public-read"], "public-read")
    assert ("Group", ALL_USERS, "READ") in records.bucket_acl(bucket)
    with pytest.raises(ObjectStoreError) as exc:
        records.put_bucket_acl(bucket, (("CanonicalUser", "someone-else", "READ"),), "")
    assert exc.value.code == "NotImplemented"


def test_an_expires_that_is_no_date_is_refused(store: S3ObjectStore, bucket: str) -> None:
    with pytest.raises(ObjectStoreError) as exc:
        store.put(bucket, "k", b"", meta=ObjectMeta(headers={"expires": "soon"}))
    assert exc.value.code == "InvalidArgument"


def test_a_kms_encryption_and_a_redirect_are_passed_on(store: S3ObjectStore, bucket: str) -> None:
    headers = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "alias/loans",
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
        "x-amz-website-redirect-location": "/moved.html",
    }
    store.put(bucket, "sealed", b"s", meta=ObjectMeta("text/plain", {}, headers))
    kept = store.head(bucket, "sealed").headers
    assert kept["x-amz-website-redirect-location"] == "/moved.html"
    assert kept["x-amz-server-side-encryption"] == "aws:kms"
    assert kept.get("x-amz-server-side-encryption-bucket-key-enabled", "true") == "true"
    store.put(bucket, "plain", b"p", meta=ObjectMeta("text/plain"))
    assert "x-amz-server-side-encryption" not in store.head(bucket, "plain").headers
