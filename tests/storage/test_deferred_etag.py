"""Objects written without their MD5 (``put_no_etag``): the ETag is still S3's.

The local backend leaves the hash until something asks for the ETag, then keeps
it with the file; everything that shows an ETag (head, open_info, listings,
the S3 API's HeadObject/GetObject/ListObjectsV2/CopyObject) must show the MD5
of the bytes, also after the object was replaced.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

from montemap.storage import LocalObjectStore, ObjectStore, local_store
from montemap.storage.local_meta import ETAG_XATTR, read_record
from montemap.storage.records import records_for
from montemap.testing import MontemapServer


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def kept_etag(path: Path) -> bytes | None:
    try:
        return os.getxattr(path, ETAG_XATTR)
    except OSError:
        return None


def test_every_backend_shows_the_md5(store: ObjectStore, bucket: str) -> None:
    body = b"loans " * 1000
    put_no_etag: Callable[..., object] = store.put_no_etag  # to look at what it returns
    assert put_no_etag(bucket, "runs/r/b-1/loans.arrow", body) is None
    assert store.get(bucket, "runs/r/b-1/loans.arrow") == body
    assert store.head(bucket, "runs/r/b-1/loans.arrow").etag == md5(body)
    info, stream = store.open_info(bucket, "runs/r/b-1/loans.arrow")
    with stream:
        assert stream.read() == body  # the hash did not move the stream
    assert info.etag == md5(body)
    assert [o.etag for o in store.list_page(bucket, "runs/").objects] == [md5(body)]


def test_streams_written_without_their_md5(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    body = os.urandom(3 * (1 << 20) + 17)
    source = tmp_path / "loans.parquet"
    source.write_bytes(body)
    with open(source, "rb") as whole:  # a file: copied in the kernel on the local store
        store.put_stream_no_etag(bucket, "run/loans.parquet", whole)
    with open(source, "rb") as part:  # read into first: buffered bytes must not be lost
        assert part.read(5) == body[:5]
        store.put_stream_no_etag(bucket, "run/rest", part)
    store.put_stream_no_etag(bucket, "run/memory", io.BytesIO(body[:1000]))
    for key, expected in (
        ("run/loans.parquet", body),
        ("run/rest", body[5:]),
        ("run/memory", body[:1000]),
    ):
        assert store.get(bucket, key) == expected
        assert store.head(bucket, key).etag == md5(expected)


def test_the_local_store_hashes_on_first_request_and_keeps_it(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("out")
    path = tmp_path / "buckets" / "out" / "b" / "paths.npz"
    store.put_no_etag("out", "b/paths.npz", b"abc")
    assert kept_etag(path) is None  # written without hashing
    assert [o.etag for o in store.list_page("out").objects] == [md5(b"abc")]
    assert kept_etag(path) == md5(b"abc").encode()
    assert store.head("out", "b/paths.npz").etag == md5(b"abc")


def test_a_replaced_object_never_shows_the_old_etag(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("out")
    path = tmp_path / "buckets" / "out" / "k"
    store.put_no_etag("out", "k", b"first")
    assert store.head("out", "k").etag == md5(b"first")
    held = os.open(path, os.O_RDONLY)  # a reader that opened the first version
    try:
        store.put_no_etag("out", "k", b"second")
        assert store.head("out", "k").etag == md5(b"second")
        assert read_record(held)[0] == md5(b"first")  # the bytes it holds
        store.put("out", "k", b"third")
        assert store.head("out", "k").etag == md5(b"third")
        store.put_no_etag("out", "k", b"fourth")
        assert read_record(held)[0] == md5(b"first")
    finally:
        os.close(held)
    assert store.head("out", "k").etag == md5(b"fourth")


def test_tags_on_a_deferred_object_keep_its_etag(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("out")
    store.put_no_etag("out", "k", b"body")
    records_for(store).put_object_tags("out", "k", (("stage", "batch"),))
    info = store.head("out", "k")
    assert (info.etag, info.tags) == (md5(b"body"), (("stage", "batch"),))


def test_the_s3_api_returns_the_md5_of_an_object_written_without_it(
    montemap_server: MontemapServer,
) -> None:
    server, s3 = montemap_server, montemap_server.client("s3")
    s3.create_bucket(Bucket="results")
    written = local_store(server.data_dir)
    body = os.urandom(200_000)
    written.put_no_etag("results", "runs/r/b-1/loans.arrow", body)
    quoted = f'"{md5(body)}"'
    assert s3.head_object(Bucket="results", Key="runs/r/b-1/loans.arrow")["ETag"] == quoted
    got = s3.get_object(Bucket="results", Key="runs/r/b-1/loans.arrow")
    assert (got["ETag"], got["Body"].read()) == (quoted, body)
    listed = s3.list_objects_v2(Bucket="results", Prefix="runs/")["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [("runs/r/b-1/loans.arrow", quoted)]
    copied = s3.copy_object(
        Bucket="results",
        Key="copy",
        CopySource={"Bucket": "results", "Key": "runs/r/b-1/loans.arrow"},
    )
    assert copied["CopyObjectResult"]["ETag"] == quoted
    written.put_no_etag("results", "runs/r/b-1/loans.arrow", b"replaced")
    replaced = s3.head_object(Bucket="results", Key="runs/r/b-1/loans.arrow")
    assert replaced["ETag"] == f'"{md5(b"replaced")}"'
    # a conditional GET on the ETag it was given works as for any object
    same = s3.get_object(Bucket="results", Key="runs/r/b-1/loans.arrow", IfMatch=replaced["ETag"])
    assert same["Body"].read() == b"replaced"
