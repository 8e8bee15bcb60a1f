"""What a store keeps about buckets and objects besides their bytes: tags, ACLs, versioning.

S3 serves these as sub-resources (``?tagging``, ``?acl``, ``?versioning``,
``?uploads``); the engine never needs them, so they live behind their own
interface beside :class:`~montemap.storage.base.ObjectStore`, and
:func:`records_for` gives the one that fits a store: the local backend keeps
them in extended attributes (objects, bucket directories) and its upload
records; the S3 backend asks the S3 endpoint behind it.

ACLs are records only: nothing reads them to allow or refuse a request.
"""

from __future__ import annotations

from typing import Any, Protocol

from montemap.storage.base import Grants, ObjectStore, ObjectStoreError, Tags, UploadInfo

#: The bucket versioning states S3 knows ("" for a bucket never versioned).
VERSIONING_STATES = ("", "Enabled", "Suspended")


class RecordStore(Protocol):
    """Tags, ACLs, versioning state and upload listings of one object store."""

    def object_tags(self, bucket: str, key: str) -> Tags:
        """The object's tag set (empty when it has none); ``NoSuchKey`` if absent."""
        ...

    def put_object_tags(self, bucket: str, key: str, tags: Tags) -> None:
        """Replace the object's tag set (an empty one removes every tag)."""
        ...

    def object_acl(self, bucket: str, key: str) -> Grants:
        """The object's recorded grants (empty: the owner's full control only)."""
        ...

    def put_object_acl(self, bucket: str, key: str, grants: Grants, canned: str) -> None:
        """Record the object's ACL: ``grants``, from the canned ACL ``canned`` if one named it."""
        ...

    def record_restore(self, bucket: str, key: str, restore: str) -> None:
        """Keep ``restore`` as the object's ``x-amz-restore`` (a restored archive copy)."""
        ...

    def bucket_tags(self, bucket: str) -> Tags | None:
        """The bucket's tag set; ``None`` when none was set (S3's ``NoSuchTagSet``)."""
        ...

    def put_bucket_tags(self, bucket: str, tags: Tags | None) -> None:
        """Replace (``None``: remove) the bucket's tag set."""
        ...

    def bucket_acl(self, bucket: str) -> Grants:
        """The bucket's recorded grants (empty: the owner's full control only)."""
        ...

    def put_bucket_acl(self, bucket: str, grants: Grants, canned: str) -> None:
        """Record the bucket's ACL (as :meth:`put_object_acl`)."""
        ...

    def bucket_versioning(self, bucket: str) -> str:
        """One of :data:`VERSIONING_STATES`."""
        ...

    def put_bucket_versioning(self, bucket: str, status: str) -> None:
        """Set the versioning state (``Enabled`` or ``Suspended``)."""
        ...

    def bucket_notification(self, bucket: str) -> dict[str, Any] | None:
        """The bucket's notification configuration as the S3 API stored it (None: none)."""
        ...

    def put_bucket_notification(self, bucket: str, config: dict[str, Any] | None) -> None:
        """Replace (``None``: remove) the bucket's notification configuration."""
        ...

    def list_uploads(self, bucket: str) -> list[UploadInfo]:
        """The bucket's multipart uploads in progress, by key, then by start time."""
        ...


def records_for(store: ObjectStore) -> RecordStore:
    """The record store that goes with ``store``."""
    from montemap.storage.local import LocalObjectStore
    from montemap.storage.local_records import LocalRecords

    if isinstance(store, LocalObjectStore):
        return LocalRecords(store)
    from montemap.storage.s3 import S3ObjectStore
    from montemap.storage.s3_records import S3Records

    if isinstance(store, S3ObjectStore):
        return S3Records(store)
    raise ObjectStoreError("NotImplemented", f"{store!r} keeps no tags, ACLs or versioning records")
