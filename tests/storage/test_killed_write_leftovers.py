"""What writes killed midway leave in a local store is swept away when a server starts.

Before, the temporary file of a PutObject (or of an UploadPart) whose process
was killed stayed in the bucket (or the upload) for ever: never listed, but
holding its disk space until the bucket was deleted. Now a starting server
removes the store's own leftovers whose writer is gone, and nothing else: no
object (not even one whose key looks like a temporary file), nothing a live
process is writing, no upload in progress.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from montemap.storage import LocalObjectStore
from montemap.storage.local_leftovers import LEGACY_AGE, sweep
from montemap.storage.local_uploads import UPLOADS_DIR
from montemap.storage.local_walk import TMP_PREFIX
from montemap.testing import MontemapServer, eventually
from tests.storage.killed_writer import killed_writer


def hidden(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith("."))


def test_a_starting_server_sweeps_what_killed_writes_left(tmp_path: Path) -> None:
    root = tmp_path / "data" / "buckets"
    store = LocalObjectStore(root)
    store.create_bucket("left")
    store.put("left", "kept", b"acknowledged")
    store.put("left", "dir/kept", b"acknowledged")
    store.put("left", f"dir/{TMP_PREFIX}1-0-0", b"a key, not a temporary file")
    dead, _ = killed_writer(root, "put", root / "left" / "dir", bucket="left", key="dir/killed")
    _, upload = killed_writer(
        root, "part", root / UPLOADS_DIR / "left" / "{line}", bucket="left", key="big"
    )
    staging = root / UPLOADS_DIR / "left"
    (staging / f".new-{dead:x}-{'ab' * 16}").mkdir()  # an upload's creation, killed
    (staging / f".gone-{'cd' * 16}").mkdir()  # an upload's removal, killed
    live = f"{TMP_PREFIX}{os.getpid():x}-0-0"  # this process is alive: left alone
    (root / "left" / "dir" / live).write_bytes(b"being written")
    (staging / upload / f".part-{os.getpid():x}-x").write_bytes(b"being written")
    before = hidden(root / "left" / "dir")
    assert len(before) == 3 and live in before  # the killed write's, the live one, the key's
    assert len(hidden(staging / upload)) == 2 and len(hidden(staging)) == 2

    server = MontemapServer(tmp_path / "data")
    server.start()
    try:
        eventually(
            lambda: len(hidden(root / "left" / "dir")) == 2 and len(hidden(staging)) == 0,
            timeout=10,
            what="the leftovers swept",
        )
        assert hidden(staging / upload) == [f".part-{os.getpid():x}-x"]
        assert live in hidden(root / "left" / "dir")
        s3 = server.client("s3")
        try:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="left")["Contents"]]
            assert keys == ["dir/.montemap-tmp-1-0-0", "dir/kept", "kept"]
            assert s3.get_object(Bucket="left", Key=keys[0])["Body"].read() == (
                b"a key, not a temporary file"
            )
            uploads = s3.list_multipart_uploads(Bucket="left")["Uploads"]
            assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big", upload)]
            assert "Parts" not in s3.list_parts(Bucket="left", Key="big", UploadId=upload)
        finally:
            s3.close()
    finally:
        server.close()


def test_leftovers_of_earlier_versions_go_once_old(tmp_path: Path) -> None:
    """Their names hold no process id: a part file (``tempfile``'s name), an upload made."""
    root = tmp_path / "buckets"
    store = LocalObjectStore(root)
    store.create_bucket("old")
    upload = store.create_upload("old", "k")
    staging = root / UPLOADS_DIR / "old"
    old_part, new_part = staging / upload / ".part-abc_1234", staging / upload / ".part-xyz98765"
    old_new, new_new = staging / f".new-{'ab' * 16}", staging / f".new-{'ef' * 16}"
    for path in (old_part, new_part):
        path.write_bytes(b"p")
    for path in (old_new, new_new):
        path.mkdir()
    long_ago = time.time() - LEGACY_AGE - 60
    for path in (old_part, old_new):
        os.utime(path, (long_ago, long_ago))
    assert sweep(root) == 2
    assert not old_part.exists() and not old_new.exists()
    assert new_part.exists() and new_new.exists()
    assert [u.upload_id for u in store.uploads.listing("old")] == [upload]
