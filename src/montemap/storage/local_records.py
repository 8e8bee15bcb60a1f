"""Tags, ACLs and versioning state of the local backend.

An object's tags and ACL are part of its record (:mod:`montemap.storage.local_meta`):
written with its bytes by a put, rewritten in place by PutObjectTagging or
PutObjectAcl (the bytes, ETag and modification time stay as they are). A
bucket's tags, ACL and versioning state are a small JSON document in an
extended attribute of the bucket's directory (``user.montemap.bucket``), so
they go when the directory goes: a bucket deleted and created again starts
with none.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import replace
from typing import Any

from montemap.storage.base import Grants, ObjectStoreError, Tags, UploadInfo
from montemap.storage.local import LocalObjectStore
from montemap.storage.local_meta import (
    decode_grants,
    decode_tags,
    encode_record,
    fallback_etag,
    read_record,
    replace_record,
)
from montemap.storage.records import VERSIONING_STATES

#: The header of a restored archive object: ``ongoing-request``, ``expiry-date``.
RESTORE_HEADER = "x-amz-restore"
#: The extended attribute of a bucket's directory that holds its record.
BUCKET_XATTR = "user.montemap.bucket"
#: One lock for every read-modify-write of a record in this process.
_LOCK = threading.Lock()


class LocalRecords:
    """The :class:`~montemap.storage.records.RecordStore` of a :class:`LocalObjectStore`."""

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ objects
    def object_tags(self, bucket: str, key: str) -> Tags:
        return self.store.head(bucket, key).tags

    def put_object_tags(self, bucket: str, key: str, tags: Tags) -> None:
        self._update_object(bucket, key, tags=tags)

    def object_acl(self, bucket: str, key: str) -> Grants:
        return self.store.head(bucket, key).acl

    def put_object_acl(self, bucket: str, key: str, grants: Grants, canned: str) -> None:
        self._update_object(bucket, key, acl=grants)

    def record_restore(self, bucket: str, key: str, restore: str) -> None:
        self._update_object(bucket, key, restore=restore)

    def _update_object(
        self, bucket: str, key: str, *, restore: str | None = None, **changes: Any
    ) -> None:
        fd, st = self.store._open_fd(bucket, key)  # checked to be inside the bucket
        try:
            with _LOCK:
                etag, meta = read_record(fd)
                if restore is not None:
                    changes["headers"] = {**meta.headers, RESTORE_HEADER: restore}
                record = encode_record(etag or fallback_etag(st), replace(meta, **changes))
                replace_record(fd, record)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ buckets
    def bucket_tags(self, bucket: str) -> Tags | None:
        record = self._bucket_record(bucket)
        return decode_tags(record["tags"]) if "tags" in record else None

    def put_bucket_tags(self, bucket: str, tags: Tags | None) -> None:
        value = None if tags is None else [list(pair) for pair in tags]
        self._update_bucket(bucket, "tags", value)

    def bucket_acl(self, bucket: str) -> Grants:
        return decode_grants(self._bucket_record(bucket).get("acl"))

    def put_bucket_acl(self, bucket: str, grants: Grants, canned: str) -> None:
        self._update_bucket(bucket, "acl", [list(grant) for grant in grants] or None)

    def bucket_versioning(self, bucket: str) -> str:
        state = self._bucket_record(bucket).get("versioning", "")
        return state if state in VERSIONING_STATES else ""

    def put_bucket_versioning(self, bucket: str, status: str) -> None:
        self._update_bucket(bucket, "versioning", status)

    def bucket_notification(self, bucket: str) -> dict[str, Any] | None:
        value = self._bucket_record(bucket).get("notification")
        return value if isinstance(value, dict) else None

    def put_bucket_notification(self, bucket: str, config: dict[str, Any] | None) -> None:
        self._update_bucket(bucket, "notification", config)

    def list_uploads(self, bucket: str) -> list[UploadInfo]:
        self.store._bucket_dir(bucket)  # NoSuchBucket
        return self.store.uploads.listing(bucket)

    def _bucket_record(self, bucket: str) -> dict[str, Any]:
        directory = self.store._bucket_dir(bucket)
        try:
            raw = os.getxattr(directory, BUCKET_XATTR)
        except OSError:
            return {}
        try:
            record = json.loads(raw)
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def _update_bucket(self, bucket: str, name: str, value: object) -> None:
        directory = self.store._bucket_dir(bucket)
        with _LOCK:
            record = self._bucket_record(bucket)
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
            try:
                os.setxattr(directory, BUCKET_XATTR, json.dumps(record).encode())
            except OSError as exc:
                if exc.errno == errno.E2BIG:
                    raise ObjectStoreError(
                        "InvalidArgument",
                        f"bucket {bucket!r}: its settings ({name} included) are too large for"
                        " the file system to keep with the bucket",
                        bucket=bucket,
                    ) from exc
                raise ObjectStoreError(
                    "NotImplemented",
                    f"bucket {bucket!r}: the object store's file system cannot keep extended "
                    f"attributes ({exc.strerror}): bucket tags, ACLs and versioning need them",
                    bucket=bucket,
                )
