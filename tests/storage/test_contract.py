"""The object store contract, run against every backend (local directory and S3)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest

from montemap.storage import ListPage, ObjectStore, ObjectStoreError, iter_objects

KEYS = ["a-b", "a/b", "a/c/d", "a0", "b", "z/e", "z/é", "z/f g"]


def s3_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def fill(store: ObjectStore, bucket: str, keys: list[str]) -> None:
    for key in keys:
        store.put(bucket, key, key.encode())


def all_keys(store: ObjectStore, bucket: str, prefix: str = "", max_keys: int = 1000) -> list[str]:
    keys: list[str] = []
    token: str | None = None
    while True:
        page = store.list_page(bucket, prefix, token=token, max_keys=max_keys)
        keys.extend(o.key for o in page.objects)
        if page.next_token is None:
            return keys
        assert page.objects, "a page with a next token must hold objects"
        token = page.next_token


def test_put_get_head_round_trip(store: ObjectStore, bucket: str) -> None:
    before = time.time() - 5
    etag = store.put(bucket, "dir/loan.csv", b"AccountID\n1\n")
    assert store.get(bucket, "dir/loan.csv") == b"AccountID\n1\n"
    info = store.head(bucket, "dir/loan.csv")
    assert info.key == "dir/loan.csv"
    assert info.size == 12
    assert info.etag == etag
    assert info.etag and '"' not in info.etag
    assert before <= info.last_modified <= time.time() + 5
    assert info.storage_class == "STANDARD"


def test_put_replaces_the_object(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "k", b"one")
    store.put(bucket, "k", b"second")
    assert store.get(bucket, "k") == b"second"
    assert store.head(bucket, "k").size == 6


def test_empty_object(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "empty", b"")
    assert store.get(bucket, "empty") == b""
    assert store.head(bucket, "empty").size == 0


def test_open_streams_in_chunks(store: ObjectStore, bucket: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    store.put(bucket, "big.bin", data)
    chunks = []
    with store.open(bucket, "big.bin") as f:
        while chunk := f.read(100_000):
            chunks.append(chunk)
    assert b"".join(chunks) == data
    assert len(chunks) > 1


def test_open_supports_readline(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "lines", b"one\ntwo\n")
    with store.open(bucket, "lines") as f:
        assert f.readline() == b"one\n"
        assert list(f) == [b"two\n"]


def test_put_stream(store: ObjectStore, bucket: str) -> None:
    data = b"0123456789abcdef" * 200_000  # 3.2 MB
    etag = store.put_stream(bucket, "streamed", io.BytesIO(data))
    assert store.get(bucket, "streamed") == data
    assert store.head(bucket, "streamed").etag == etag


@pytest.mark.parametrize("op", ["get", "open", "head"])
def test_missing_key(store: ObjectStore, bucket: str, op: str) -> None:
    with pytest.raises(ObjectStoreError) as err:
        getattr(store, op)(bucket, "no/such/key")
    assert err.value.code == "NoSuchKey"
    assert err.value.key == "no/such/key"
    assert "no/such/key" in str(err.value)


def test_a_key_prefix_is_not_an_object(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "dir/x", b"1")
    with pytest.raises(ObjectStoreError) as err:
        store.get(bucket, "dir")
    assert err.value.code == "NoSuchKey"


@pytest.mark.parametrize("op", ["get", "head", "list", "put", "delete"])
def test_missing_bucket(store: ObjectStore, op: str) -> None:
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: store.get("no-such-bucket", "k"),
        "head": lambda: store.head("no-such-bucket", "k"),
        "list": lambda: store.list_page("no-such-bucket"),
        "put": lambda: store.put("no-such-bucket", "k", b"x"),
        "delete": lambda: store.delete("no-such-bucket", "k"),
    }
    with pytest.raises(ObjectStoreError) as err:
        calls[op]()
    assert err.value.code == "NoSuchBucket"


def test_delete(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "a/b", b"1")
    store.delete(bucket, "a/b")
    with pytest.raises(ObjectStoreError):
        store.head(bucket, "a/b")
    store.delete(bucket, "a/b")  # absent: no error, like S3
    assert all_keys(store, bucket) == []


def test_create_bucket_is_idempotent(store: ObjectStore, bucket: str) -> None:
    store.put(bucket, "k", b"v")
    store.create_bucket(bucket)
    assert store.get(bucket, "k") == b"v"


def test_list_in_s3_key_order(store: ObjectStore, bucket: str) -> None:
    fill(store, bucket, KEYS)
    page = store.list_page(bucket)
    assert [o.key for o in page.objects] == s3_order(KEYS)
    assert page.next_token is None
    sizes = {o.key: o.size for o in page.objects}
    assert sizes["z/é"] == len("z/é".encode())
    assert all(o.etag == store.head(bucket, o.key).etag for o in page.objects)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", ["a-b", "a/b", "a/c/d", "a0"]),
        ("a/", ["a/b", "a/c/d"]),
        ("a/c", ["a/c/d"]),
        ("a/c/d", ["a/c/d"]),
        ("z/", ["z/e", "z/f g", "z/é"]),
        ("zz", []),
        ("", None),
    ],
)
def test_list_with_prefix(
    store: ObjectStore, bucket: str, prefix: str, expected: list[str] | None
) -> None:
    fill(store, bucket, KEYS)
    assert all_keys(store, bucket, prefix) == (expected if expected is not None else s3_order(KEYS))


@pytest.mark.parametrize("max_keys", [1, 2, 3, 7, 8])
def test_list_pages(store: ObjectStore, bucket: str, max_keys: int) -> None:
    fill(store, bucket, KEYS)
    pages = []
    token: str | None = None
    while True:
        page = store.list_page(bucket, token=token, max_keys=max_keys)
        pages.append(page)
        assert len(page.objects) <= max_keys
        if page.next_token is None:
            break
        token = page.next_token
    keys = [o.key for p in pages for o in p.objects]
    assert keys == s3_order(KEYS)
    assert len(pages) == -(-len(KEYS) // max_keys)


def test_list_pages_with_prefix(store: ObjectStore, bucket: str) -> None:
    fill(store, bucket, KEYS)
    assert all_keys(store, bucket, "a", max_keys=1) == ["a-b", "a/b", "a/c/d", "a0"]


def test_list_empty_bucket(store: ObjectStore, bucket: str) -> None:
    page = store.list_page(bucket)
    assert page.objects == []
    assert page.next_token is None


@pytest.mark.parametrize("max_keys", [0, -1, 1001, True])
def test_list_rejects_bad_max_keys(store: ObjectStore, bucket: str, max_keys: int) -> None:
    with pytest.raises(ObjectStoreError) as err:
        store.list_page(bucket, max_keys=max_keys)
    assert err.value.code == "InvalidArgument"


@pytest.mark.parametrize("key", ["", "nul\x00", "k" * 1025])
def test_invalid_keys_are_refused(store: ObjectStore, bucket: str, key: str) -> None:
    for op in ("get", "open", "put", "put_stream", "head", "delete"):
        args: tuple[object, ...] = (bucket, key)
        if op == "put":
            args += (b"x",)
        elif op == "put_stream":
            args += (io.BytesIO(b"x"),)
        with pytest.raises(ObjectStoreError) as err:
            getattr(store, op)(*args)
        assert err.value.code == "InvalidKey", op


#: Keys S3 takes that are no plain relative path: stored as keys, never as paths.
ODD_KEYS = [
    "/abs",
    "../up",
    "a/../../b",
    "x//y",
    "a/./b",
    "a/",
    "a/b/",
    "x\\y",
    ".",
    "dir/..",
    ".montemap-key-2e2e",
    "L" * 1024,  # longer than a file name: kept under a hashed name
    "é" * 200 + "/x",
    ".montemap-key-" + "0" * 250,
]


def test_keys_that_are_not_plain_paths_are_keys(
    store: ObjectStore, bucket: str, tmp_path: Any
) -> None:
    for key in ODD_KEYS:
        store.put(bucket, key, key.encode())
    for key in ODD_KEYS:
        assert store.get(bucket, key) == key.encode(), key
        assert store.head(bucket, key).size == len(key.encode()), key
    assert all_keys(store, bucket) == s3_order(ODD_KEYS)
    assert all_keys(store, bucket, "a/", max_keys=1) == s3_order(
        [k for k in ODD_KEYS if k.startswith("a/")]
    )
    # nothing was written beside the bucket: only the bucket's own directory is there
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "buckets") in ([], ["moto"])
    for key in ODD_KEYS:
        store.delete(bucket, key)
    assert all_keys(store, bucket) == []
    store.delete_bucket(bucket)


@pytest.mark.parametrize("name", ["UPPER", "ab", "-start", "a" * 64, "../up", "a..b", "with/slash"])
def test_invalid_bucket_names_are_refused(store: ObjectStore, name: str) -> None:
    for call in (
        lambda: store.create_bucket(name),
        lambda: store.get(name, "k"),
        lambda: store.list_page(name),
    ):
        with pytest.raises(ObjectStoreError) as err:
            call()
        assert err.value.code == "InvalidBucketName"


def test_iter_objects_crosses_pages(store: ObjectStore, bucket: str) -> None:
    calls = []
    original = store.list_page

    def counting(*args: Any, **kwargs: Any) -> ListPage:
        kwargs["max_keys"] = 2
        calls.append(kwargs.get("token"))
        return original(*args, **kwargs)

    fill(store, bucket, KEYS)
    store.list_page = counting  # type: ignore[method-assign]
    assert [o.key for o in iter_objects(store, bucket, "z/")] == ["z/e", "z/f g", "z/é"]
    assert len(calls) == 2
