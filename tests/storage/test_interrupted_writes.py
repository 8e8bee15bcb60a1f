"""What a write cut short (a full disk, a process killed with SIGKILL) leaves in a local bucket.

Before: with the disk full, CreateMultipartUpload left an upload directory with
an empty ``upload.json`` (and UploadPart answered a bare 500 with a traceback
in the log); no listing showed that upload and AbortMultipartUpload could not
find it, yet DeleteBucket refused the bucket for ever ("it has multipart
uploads in progress"). A PutObject whose process was killed while writing left
its temporary file in the bucket, and DeleteBucket of the emptied bucket
refused it for ever ("it holds files that are not objects"). Now an upload
appears whole or not at all (its directory is made under another name and
renamed), a full disk is an ``InternalError`` naming the cause, and a bucket
holding only what killed writes left is deleted.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from montemap.storage import LocalObjectStore, ObjectMeta, ObjectStoreError
from montemap.storage.local_uploads import UPLOADS_DIR
from montemap.storage.local_walk import TMP_PREFIX
from tests.chaos.test_disk_full import small_filesystem
from tests.storage.killed_writer import killed_writer

MB = 1 << 20


def fill(store: LocalObjectStore, bucket: str) -> dict[str, bytes]:
    """Objects put until the file system is full: the ones acknowledged."""
    acknowledged: dict[str, bytes] = {}
    for size in (MB, 64 << 10, 4 << 10, 256, 1):
        for index in range(1000):
            data = os.urandom(size)
            try:
                store.put(bucket, f"fill-{size}-{index}", data)
            except ObjectStoreError as exc:
                assert exc.code == "InternalError", exc
                assert "No space left on device" in str(exc)
                break
            acknowledged[f"fill-{size}-{index}"] = data
    return acknowledged


def staged(root: Path, bucket: str) -> list[str]:
    try:
        return sorted(os.listdir(root / UPLOADS_DIR / bucket))
    except FileNotFoundError:
        return []


def test_a_full_disk_leaves_no_half_made_upload_and_the_bucket_can_go(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "4m") as mount:
        store = LocalObjectStore(mount / "buckets")
        store.create_bucket("full")
        upload = store.create_upload("full", "big", meta=ObjectMeta("text/plain"))
        acknowledged = fill(store, "full")
        for attempt in range(3):
            with pytest.raises(ObjectStoreError) as refused:
                store.create_upload("full", f"more-{attempt}", meta=ObjectMeta("x" * 8000))
            assert refused.value.code == "InternalError"
            assert "No space left on device" in str(refused.value)
        with pytest.raises(ObjectStoreError) as part:
            store.upload_part("full", "big", upload, 1, io.BytesIO(b"p" * (5 * MB)))
        assert (part.value.code, "No space left" in str(part.value)) == ("InternalError", True)
        assert staged(mount / "buckets", "full") == [upload]  # nothing half made
        assert store.list_parts("full", "big", upload) == []
        assert not [n for n in os.listdir(mount / "buckets" / "full") if n.startswith(".")]

        for key, data in acknowledged.items():  # space back: every answer held
            assert store.get("full", key) == data
            store.delete("full", key)
        store.abort_upload("full", "big", upload)
        store.delete_bucket("full")
        assert not (mount / "buckets" / "full").exists()
        assert staged(mount / "buckets", "full") == []


def test_a_bucket_holding_only_a_killed_writes_temporary_file_is_deleted(tmp_path: Path) -> None:
    root = tmp_path / "buckets"
    store = LocalObjectStore(root)
    store.create_bucket("killed")
    store.put("killed", "kept", b"acknowledged")
    killed_writer(root, "put", root / "killed", bucket="killed", key="object")

    def temporary() -> list[str]:
        return [n for n in os.listdir(root / "killed") if n.startswith(TMP_PREFIX)]

    assert temporary()  # what the kill left
    assert store.list_keys_page("killed").keys == ["kept"]  # never visible, never partial
    with pytest.raises(ObjectStoreError) as not_empty:
        store.delete_bucket("killed")
    assert not_empty.value.code == "BucketNotEmpty"
    store.delete("killed", "kept")
    store.delete_bucket("killed")
    assert not (root / "killed").exists()


def test_a_live_writers_temporary_file_is_not_removed(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("busy")
    live = tmp_path / "buckets" / "busy" / f"{TMP_PREFIX}{os.getppid():x}-0-0"
    live.write_bytes(b"being written")
    with pytest.raises(ObjectStoreError) as not_empty:
        store.delete_bucket("busy")
    assert not_empty.value.code == "BucketNotEmpty"
    assert live.exists()


def test_an_upload_an_earlier_version_left_half_made_does_not_hold_the_bucket(
    tmp_path: Path,
) -> None:
    """Its ``upload.json`` empty (a full disk, a kill), as earlier versions left it."""
    root = tmp_path / "buckets"
    store = LocalObjectStore(root)
    store.create_bucket("old")
    broken = root / UPLOADS_DIR / "old" / ("ab" * 16)
    broken.mkdir(parents=True)
    (broken / "upload.json").write_bytes(b"")
    (root / UPLOADS_DIR / "old" / ".gone-12").mkdir()  # a removal killed midway
    assert store.uploads.listing("old") == []
    store.delete_bucket("old")
    assert staged(root, "old") == []


def test_a_completed_upload_is_gone_whole(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("done")
    upload = store.create_upload("done", "k")
    etag = store.upload_part("done", "k", upload, 1, io.BytesIO(b"p" * 10))
    store.complete_upload("done", "k", upload, [(1, etag)])
    assert store.get("done", "k") == b"p" * 10
    assert staged(tmp_path / "buckets", "done") == []
    assert store.uploads.listing("done") == []
