"""The shortcuts on the S3 hot path give exactly what the general code gives."""

from __future__ import annotations

import json
import os
import random
from email.utils import formatdate
from pathlib import Path

import pytest

from montemap.s3api.response import http_date
from montemap.storage import LocalObjectStore, ObjectMeta
from montemap.storage.local_meta import XATTR, encode_record, read_record


def test_http_date_is_rfc_7231_as_email_utils_writes_it() -> None:
    rng = random.Random(15)
    seconds = [0, 951782400, 1767225599, 4102444800] + [rng.randrange(0, 2**32) for _ in range(500)]
    for second in seconds:
        assert http_date(second) == formatdate(second, usegmt=True)
        assert http_date(second + 0.999) == formatdate(second, usegmt=True)  # whole seconds


@pytest.mark.parametrize(
    "meta",
    [
        None,
        ObjectMeta(),
        ObjectMeta("text/csv"),
        ObjectMeta("", {"owner": "me"}),
        ObjectMeta("", {}, {"cache-control": "no-cache"}),
        ObjectMeta("", {}, {}, (("k", "v"),)),
    ],
)
@pytest.mark.parametrize("etag", ["d8629a97241edfd9075dbb1488f75dab", "0a1b2c3d-12"])
def test_records_are_the_json_document_and_read_back(
    tmp_path: Path, meta: ObjectMeta | None, etag: str
) -> None:
    full = {"etag": etag}
    if meta is not None and meta.content_type:
        full["type"] = meta.content_type
    record = encode_record(etag, meta)
    if meta is None or meta == ObjectMeta():
        assert record == json.dumps(full, separators=(",", ":")).encode()
    path = tmp_path / "object"
    path.write_bytes(b"x")
    try:
        os.setxattr(path, XATTR, record)
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    stored_etag, stored = read_record(str(path))
    assert stored_etag == etag
    assert stored == (meta or ObjectMeta())


def test_an_etag_record_with_other_fields_is_parsed_in_full(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(b"x")
    try:
        os.setxattr(path, XATTR, b'{"etag":"abc","type":"text/plain"}')
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    assert read_record(str(path)) == ("abc", ObjectMeta("text/plain"))


def test_concurrent_writers_never_share_a_temporary_name(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.create_bucket("bucket")
    store.put("bucket", "warm", b"")  # the counter has moved before the fork
    pid = os.fork()
    if pid == 0:  # a forked worker process writes the same keys at the same time
        code = 1
        try:
            for i in range(300):
                store.put("bucket", f"k{i}", b"child")
            code = 0
        finally:
            os._exit(code)
    for i in range(300):
        store.put("bucket", f"k{i}", b"parent")
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert {store.get("bucket", f"k{i}") for i in range(300)} <= {b"child", b"parent"}
    leftovers = [p for p in (tmp_path / "bucket").iterdir() if p.name.startswith(".montemap-tmp")]
    assert not leftovers
