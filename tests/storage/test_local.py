"""What only the local directory backend has to get right: paths and symbolic links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore, ObjectStoreError


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("bkt")
    return store


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the buckets, holding a secret."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_bytes(b"secret")
    return d


def bucket_dir(store: LocalObjectStore) -> Path:
    return store.root / "bkt"


def test_layout_is_bucket_directory_then_key_path(local: LocalObjectStore) -> None:
    local.put("bkt", "data/loans/1.csv", b"x")
    assert (bucket_dir(local) / "data" / "loans" / "1.csv").read_bytes() == b"x"


def test_symlinked_file_out_of_the_bucket_is_refused(
    local: LocalObjectStore, outside: Path
) -> None:
    os.symlink(outside / "secret", bucket_dir(local) / "leak")
    for call in (lambda: local.get("bkt", "leak"), lambda: local.head("bkt", "leak")):
        with pytest.raises(ObjectStoreError) as err:
            call()
        assert err.value.code == "AccessDenied"
        assert "outside" in str(err.value)
    assert local.list_page("bkt").objects == []


def test_symlinked_directory_out_of_the_bucket_is_refused(
    local: LocalObjectStore, outside: Path
) -> None:
    os.symlink(outside, bucket_dir(local) / "dir")
    with pytest.raises(ObjectStoreError) as err:
        local.get("bkt", "dir/secret")
    assert err.value.code == "AccessDenied"
    with pytest.raises(ObjectStoreError) as err:
        local.put("bkt", "dir/new/file", b"x")
    assert err.value.code == "AccessDenied"
    assert not (outside / "new").exists()
    with pytest.raises(ObjectStoreError) as err:
        local.delete("bkt", "dir/secret")
    assert err.value.code == "AccessDenied"
    assert (outside / "secret").read_bytes() == b"secret"
    assert local.list_page("bkt").objects == []


def test_symlink_inside_the_bucket_is_an_object(local: LocalObjectStore) -> None:
    local.put("bkt", "real/file", b"content")
    os.symlink(bucket_dir(local) / "real" / "file", bucket_dir(local) / "alias")
    assert local.get("bkt", "alias") == b"content"
    assert local.head("bkt", "alias").size == 7
    assert [o.key for o in local.list_page("bkt").objects] == ["alias", "real/file"]


def test_bucket_directory_may_itself_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "buckets").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "buckets" / "bkt")
    store = LocalObjectStore(tmp_path / "buckets")
    store.put("bkt", "a/b", b"1")
    assert store.get("bkt", "a/b") == b"1"
    assert [o.key for o in store.list_page("bkt").objects] == ["a/b"]
    assert (tmp_path / "elsewhere" / "a" / "b").exists()


def test_key_and_key_prefix_conflict(local: LocalObjectStore) -> None:
    local.put("bkt", "a", b"file")
    with pytest.raises(ObjectStoreError) as err:
        local.put("bkt", "a/b", b"x")
    assert err.value.code == "InvalidKey"
    local.put("bkt", "d/e", b"x")
    with pytest.raises(ObjectStoreError) as err:
        local.put("bkt", "d", b"x")
    assert err.value.code == "InvalidKey"
    assert local.get("bkt", "d/e") == b"x"


def test_in_flight_temporary_files_are_not_listed(local: LocalObjectStore) -> None:
    local.put("bkt", "a", b"1")
    (bucket_dir(local) / ".montemap-tmp-abc").write_bytes(b"partial")
    assert [o.key for o in local.list_page("bkt").objects] == ["a"]


def test_no_temporary_file_is_left_after_a_failed_write(local: LocalObjectStore) -> None:
    class Broken:
        def read(self, n: int = -1) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(ObjectStoreError, match="disk on fire") as err:
        local.put_stream("bkt", "x/y", Broken())  # type: ignore[arg-type]
    assert err.value.code == "InternalError"
    assert list((bucket_dir(local) / "x").iterdir()) == []


def test_objects_are_readable_by_others(local: LocalObjectStore) -> None:
    local.put("bkt", "k", b"x")
    assert (bucket_dir(local) / "k").stat().st_mode & 0o777 == 0o644


def test_unwritable_directory(local: LocalObjectStore) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    (bucket_dir(local) / "ro").mkdir()
    (bucket_dir(local) / "ro").chmod(0o500)
    try:
        with pytest.raises(ObjectStoreError) as err:
            local.put("bkt", "ro/k", b"x")
        assert err.value.code == "AccessDenied"
    finally:
        (bucket_dir(local) / "ro").chmod(0o700)


def test_directories_are_neither_objects_nor_deleted(local: LocalObjectStore) -> None:
    local.put("bkt", "d/e", b"x")
    local.delete("bkt", "d")
    assert local.get("bkt", "d/e") == b"x"


def test_listing_after_a_token_inside_a_deep_directory(local: LocalObjectStore) -> None:
    keys = [f"p/{i:03d}/x" for i in range(20)] + ["q"]
    for key in keys:
        local.put("bkt", key, b"")
    page = local.list_page("bkt", token="p/007/x", max_keys=3)
    assert [o.key for o in page.objects] == ["p/008/x", "p/009/x", "p/010/x"]
    page = local.list_page("bkt", token="p/019/x")
    assert [o.key for o in page.objects] == ["q"]


def test_put_rejects_non_bytes(local: LocalObjectStore) -> None:
    with pytest.raises(ObjectStoreError) as err:
        local.put("bkt", "k", "text")  # type: ignore[arg-type]
    assert err.value.code == "InvalidArgument"


def test_reads_check_links_after_the_first_read_too(local: LocalObjectStore, outside: Path) -> None:
    """Once the root's real path is known, reads open the plain path first and keep it
    only if the opened file really is there; every link still takes the checked way."""
    local.put("bkt", "real/dir/file", b"inside")
    assert local.get("bkt", "real/dir/file") == b"inside"  # the root's real path is known
    os.symlink(outside, bucket_dir(local) / "out")
    os.symlink(bucket_dir(local) / "real", bucket_dir(local) / "linked")
    with pytest.raises(ObjectStoreError) as err:
        local.get("bkt", "out/secret")
    assert err.value.code == "AccessDenied"
    assert local.get("bkt", "linked/dir/file") == b"inside"  # a link inside the bucket
    with local.open("bkt", "linked/dir/file") as f:
        assert f.read() == b"inside"
    with pytest.raises(ObjectStoreError) as err:
        local.get("bkt", "real/dir")  # a directory is no object
    assert err.value.code == "NoSuchKey"
    with pytest.raises(ObjectStoreError) as err:
        local.get("nobucket", "real/dir/file")
    assert err.value.code == "NoSuchBucket"
