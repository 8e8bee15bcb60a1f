"""``list_batches``: the complete batches under a run prefix, from a keys-only listing
that leaves the batch outputs' deferred ETags uncomputed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from montemap.credit.reduce import list_batches
from montemap.storage import LocalObjectStore, iter_objects
from montemap.storage.local_meta import ETAG_XATTR


def complete_batches(store: LocalObjectStore, bucket: str, root: str) -> list[str]:
    """The rule, through the full listing: a batch is complete once its batch.json is there."""
    ids = []
    for info in iter_objects(store, bucket, root):
        parts = info.key[len(root) :].split("/")
        if len(parts) == 2 and parts[1] == "batch.json":
            ids.append(parts[0])
    return ids


@pytest.mark.parametrize("prefix", ["runs/r1", ""])
def test_list_batches_names_the_complete_batches_without_hashing(
    tmp_path: Path, prefix: str
) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("out")
    root = f"{prefix}/batches/" if prefix else "batches/"
    # 600 batches (1,200+ keys: several listing pages), every third one incomplete
    written = []
    for i in range(600):
        folder = f"{root}b-{i:05x}/"
        store.put_no_etag("out", folder + "loans.arrow", b"rows %d" % i)
        if i % 3:
            store.put_no_etag("out", folder + "batch.json", b"{}")
            written.append(f"b-{i:05x}")
    store.put_no_etag("out", root + "batch.json", b"{}")  # not in a batch's folder
    store.put_no_etag("out", root + "b-x/deeper/batch.json", b"{}")  # not a batch's own
    store.put_no_etag("out", "elsewhere/batches/b-y/batch.json", b"{}")  # another prefix
    files = [p for p in (tmp_path / "buckets" / "out").rglob("*") if p.is_file()]

    ids = list_batches(store, "out", prefix)

    assert ids == written
    for path in files:  # nothing was hashed
        with pytest.raises(OSError):
            os.getxattr(path, ETAG_XATTR)
    assert ids == complete_batches(store, "out", root)  # the full listing agrees
