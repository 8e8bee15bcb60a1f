"""The keys-only listing (``list_keys_page``/``iter_keys``), against every backend: the
same keys, in the same order and pages, as ``list_page``; on the local backend it leaves
objects written without their MD5 (``put_no_etag``) unhashed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore, ObjectStore, ObjectStoreError, iter_keys
from montemap.storage.local_meta import ETAG_XATTR
from tests.storage.test_contract import KEYS, all_keys, fill, s3_order


def key_pages(store: ObjectStore, bucket: str, prefix: str, max_keys: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        page = store.list_keys_page(bucket, prefix, token=token, max_keys=max_keys)
        pages.append(page.keys)
        assert len(page.keys) <= max_keys
        if page.next_token is None:
            return pages
        assert page.keys, "a page with a next token must hold keys"
        token = page.next_token


@pytest.mark.parametrize("max_keys", [1, 3, 8, 1000])
@pytest.mark.parametrize("prefix", ["", "a", "a/", "z/", "none"])
def test_keys_match_the_full_listing(
    store: ObjectStore, bucket: str, prefix: str, max_keys: int
) -> None:
    fill(store, bucket, KEYS)
    pages = key_pages(store, bucket, prefix, max_keys)
    keys = [k for page in pages for k in page]
    assert keys == all_keys(store, bucket, prefix)
    assert keys == s3_order([k for k in KEYS if k.startswith(prefix)])
    assert len(pages) == max(1, -(-len(keys) // max_keys))


def test_iter_keys_crosses_pages(store: ObjectStore, bucket: str) -> None:
    keys = [f"runs/r/b-{i:04d}/batch.json" for i in range(1003)]
    for key in keys:
        store.put(bucket, key, b"{}")
    store.put(bucket, "runs/s/other", b"x")
    assert list(iter_keys(store, bucket, "runs/r/")) == keys


def test_keys_listing_refuses_what_list_page_refuses(store: ObjectStore, bucket: str) -> None:
    cases: tuple[tuple[Callable[[], object], str], ...] = (
        (lambda: store.list_keys_page("no-such-bucket"), "NoSuchBucket"),
        (lambda: store.list_keys_page(bucket, max_keys=0), "InvalidArgument"),
        (lambda: store.list_keys_page("Bad_Name"), "InvalidBucketName"),
    )
    for call, code in cases:
        with pytest.raises(ObjectStoreError) as err:
            call()
        assert err.value.code == code


def test_a_keys_listing_leaves_deferred_etags_uncomputed(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("out")
    keys = [f"run/batches/b-{i}/{name}" for i in range(3) for name in ("batch.json", "paths.npz")]
    for key in keys:
        store.put_no_etag("out", key, key.encode() * 100)
    assert list(iter_keys(store, "out", "run/")) == keys
    for key in keys:
        with pytest.raises(OSError):
            os.getxattr(tmp_path / "buckets" / "out" / key, ETAG_XATTR)
    # the full listing still shows (and then keeps) each object's MD5
    assert all(o.etag for o in store.list_page("out", "run/").objects)
    assert all(os.getxattr(tmp_path / "buckets" / "out" / k, ETAG_XATTR) for k in keys)


def test_a_keys_listing_skips_links_that_leave_the_bucket(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("bkt")
    store.put("bkt", "real/file", b"x")
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    os.symlink(outside, tmp_path / "buckets" / "bkt" / "escape")
    os.symlink(
        tmp_path / "buckets" / "bkt" / "real" / "file", tmp_path / "buckets" / "bkt" / "alias"
    )
    assert store.list_keys_page("bkt").keys == ["alias", "real/file"]
    assert store.list_keys_page("bkt").keys == [o.key for o in store.list_page("bkt").objects]
