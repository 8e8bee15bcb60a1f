"""What the S3 endpoint needs from every backend: MD5 ETags, metadata, buckets, copies, uploads."""

from __future__ import annotations

import hashlib
import io

import pytest

from montemap.storage import MIN_PART_SIZE, ObjectMeta, ObjectStore, ObjectStoreError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_etag_is_the_md5_and_metadata_is_kept(store: ObjectStore, bucket: str) -> None:
    meta = ObjectMeta("text/csv", {"owner": "risk"})
    assert store.put(bucket, "a.csv", b"x,y\n", meta=meta) == md5(b"x,y\n")
    info = store.head(bucket, "a.csv")
    assert (info.etag, info.content_type, dict(info.metadata)) == (
        md5(b"x,y\n"),
        "text/csv",
        {"owner": "risk"},
    )
    assert store.put_stream(bucket, "b", io.BytesIO(b"streamed")) == md5(b"streamed")
    info, stream = store.open_info(bucket, "a.csv")
    with stream:
        assert stream.read() == b"x,y\n"
    assert info.content_type == "text/csv"
    assert [o.etag for o in store.list_page(bucket).objects] == [md5(b"x,y\n"), md5(b"streamed")]


def test_buckets(store: ObjectStore, bucket: str) -> None:
    assert store.bucket_exists(bucket)
    assert not store.bucket_exists("absent-bucket")
    assert bucket in [b.name for b in store.list_buckets()]
    store.put(bucket, "d/e/f", b"1")
    with pytest.raises(ObjectStoreError) as exc:
        store.delete_bucket(bucket)
    assert exc.value.code == "BucketNotEmpty"
    assert store.get(bucket, "d/e/f") == b"1"
    store.delete(bucket, "d/e/f")
    store.delete_bucket(bucket)
    assert not store.bucket_exists(bucket)


def test_copy(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "src", b"data", meta=ObjectMeta("text/plain", {"k": "v"}))
    copied = store.copy(bucket, "src", bucket, "dst")
    assert (copied.etag, copied.content_type, dict(copied.metadata)) == (
        md5(b"data"),
        "text/plain",
        {"k": "v"},
    )
    replaced = store.copy(bucket, "src", bucket, "dst2", meta=ObjectMeta("a/b", {}))
    assert (replaced.content_type, dict(replaced.metadata)) == ("a/b", {})
    assert store.get(bucket, "dst2") == b"data"


def test_multipart_upload(store: ObjectStore, bucket: str) -> None:
    first, last = b"1" * MIN_PART_SIZE, b"tail"
    upload = store.create_upload(bucket, "big", meta=ObjectMeta("x/y", {}))
    etags = [
        store.upload_part(bucket, "big", upload, 1, io.BytesIO(first)),
        store.upload_part(bucket, "big", upload, 2, io.BytesIO(last)),
    ]
    assert etags == [md5(first), md5(last)]
    assert [(p.number, p.size) for p in store.list_parts(bucket, "big", upload)] == [
        (1, len(first)),
        (2, 4),
    ]
    etag = store.complete_upload(bucket, "big", upload, [(1, etags[0]), (2, etags[1])])
    expected = hashlib.md5(bytes.fromhex(etags[0]) + bytes.fromhex(etags[1])).hexdigest() + "-2"
    assert etag == expected
    assert store.get(bucket, "big") == first + last
    assert store.head(bucket, "big").content_type == "x/y"


def test_upload_refusals(store: ObjectStore, bucket: str) -> None:
    upload = store.create_upload(bucket, "k")
    small = store.upload_part(bucket, "k", upload, 1, io.BytesIO(b"small"))
    store.upload_part(bucket, "k", upload, 2, io.BytesIO(b"more"))
    with pytest.raises(ObjectStoreError) as exc:
        store.complete_upload(bucket, "k", upload, [(1, small), (2, md5(b"more"))])
    assert exc.value.code == "EntityTooSmall"
    with pytest.raises(ObjectStoreError) as exc:
        store.complete_upload(bucket, "k", upload, [(1, md5(b"other"))])
    assert exc.value.code == "InvalidPart"
    store.abort_upload(bucket, "k", upload)
    with pytest.raises(ObjectStoreError) as exc:
        store.list_parts(bucket, "k", upload)
    assert exc.value.code == "NoSuchUpload"


def test_start_after(store: ObjectStore, bucket: str) -> None:
    for key in ("a", "b/1", "b/2", "c"):
        store.put(bucket, key, b"")
    assert [o.key for o in store.list_page(bucket, start_after="b/1").objects] == ["b/2", "c"]
