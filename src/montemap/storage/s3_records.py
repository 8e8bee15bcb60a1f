"""Tags, ACLs, versioning state and upload listings of the S3 backend: the endpoint's own.

Each record is read from and written to the S3 endpoint behind the store, so
what a client sets through montemap is what that endpoint keeps. ACLs pass on
as canned ACLs (the endpoint's owner IDs are not montemap's); grants that no
canned ACL gives are refused with ``NotImplemented``.
"""

from __future__ import annotations

from typing import Any

from montemap.storage.base import Grants, ObjectStoreError, Tags, UploadInfo
from montemap.storage.grants import OWNER_ID, canned_name
from montemap.storage.names import validate_bucket, validate_object_key
from montemap.storage.s3 import S3ObjectStore


class S3Records:
    """The :class:`~montemap.storage.records.RecordStore` of an :class:`S3ObjectStore`."""

    def __init__(self, store: S3ObjectStore) -> None:
        self.store = store
        self.client = store.client

    # ------------------------------------------------------------------ objects
    def object_tags(self, bucket: str, key: str) -> Tags:
        _check(bucket, key)
        return self.store.object_tags(bucket, key)

    def put_object_tags(self, bucket: str, key: str, tags: Tags) -> None:
        _check(bucket, key)
        if not tags:
            self.store._call(
                bucket, key, lambda: self.client.delete_object_tagging(Bucket=bucket, Key=key)
            )
            return
        tag_set: Any = {"TagSet": _tag_set(tags)}
        self.store._call(
            bucket,
            key,
            lambda: self.client.put_object_tagging(Bucket=bucket, Key=key, Tagging=tag_set),
        )

    def record_restore(self, bucket: str, key: str, restore: str) -> None:
        raise ObjectStoreError(
            "NotImplemented",
            "RestoreObject is not passed on by the S3-backed store (its endpoint restores "
            "archived objects itself)",
            bucket=bucket,
            key=key,
        )

    def object_acl(self, bucket: str, key: str) -> Grants:
        _check(bucket, key)
        response = self.store._call(
            bucket, key, lambda: self.client.get_object_acl(Bucket=bucket, Key=key)
        )
        return _grants(response)

    def put_object_acl(self, bucket: str, key: str, grants: Grants, canned: str) -> None:
        _check(bucket, key)
        acl: Any = canned or canned_name(grants)
        self.store._call(
            bucket, key, lambda: self.client.put_object_acl(Bucket=bucket, Key=key, ACL=acl)
        )

    # ------------------------------------------------------------------ buckets
    def bucket_tags(self, bucket: str) -> Tags | None:
        validate_bucket(bucket)
        try:
            response = self.store._call(
                bucket, "", lambda: self.client.get_bucket_tagging(Bucket=bucket)
            )
        except ObjectStoreError as exc:
            if exc.code == "NoSuchTagSet":
                return None
            raise
        return tuple((tag["Key"], tag["Value"]) for tag in response.get("TagSet", []))

    def put_bucket_tags(self, bucket: str, tags: Tags | None) -> None:
        validate_bucket(bucket)
        if tags is None:
            self.store._call(bucket, "", lambda: self.client.delete_bucket_tagging(Bucket=bucket))
            return
        tag_set: Any = {"TagSet": _tag_set(tags)}
        self.store._call(
            bucket, "", lambda: self.client.put_bucket_tagging(Bucket=bucket, Tagging=tag_set)
        )

    def bucket_acl(self, bucket: str) -> Grants:
        validate_bucket(bucket)
        response = self.store._call(bucket, "", lambda: self.client.get_bucket_acl(Bucket=bucket))
        return _grants(response)

    def put_bucket_acl(self, bucket: str, grants: Grants, canned: str) -> None:
        validate_bucket(bucket)
        acl: Any = canned or canned_name(grants)
        self.store._call(bucket, "", lambda: self.client.put_bucket_acl(Bucket=bucket, ACL=acl))

    def bucket_versioning(self, bucket: str) -> str:
        validate_bucket(bucket)
        response = self.store._call(
            bucket, "", lambda: self.client.get_bucket_versioning(Bucket=bucket)
        )
        return str(response.get("Status", ""))

    def put_bucket_versioning(self, bucket: str, status: str) -> None:
        validate_bucket(bucket)
        config: Any = {"Status": status}
        self.store._call(
            bucket,
            "",
            lambda: self.client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration=config
            ),
        )

    def bucket_notification(self, bucket: str) -> dict[str, Any] | None:
        return None  # S3 itself sends the events of its buckets

    def put_bucket_notification(self, bucket: str, config: dict[str, Any] | None) -> None:
        raise ObjectStoreError(
            "NotImplemented",
            f"bucket {bucket!r}: notifications are sent for buckets of the local object store"
            " only (configure the S3 behind this server directly)",
            bucket=bucket,
        )

    def list_uploads(self, bucket: str) -> list[UploadInfo]:
        validate_bucket(bucket)
        out: list[UploadInfo] = []
        kwargs: dict[str, Any] = {"Bucket": bucket}
        while True:
            response = self.store._call(
                bucket, "", lambda: self.client.list_multipart_uploads(**kwargs)
            )
            for item in response.get("Uploads", []):
                out.append(UploadInfo(item["Key"], item["UploadId"], item["Initiated"].timestamp()))
            if not response.get("IsTruncated"):
                return sorted(out, key=lambda u: (u.key, u.initiated, u.upload_id))
            kwargs["KeyMarker"] = response["NextKeyMarker"]
            kwargs["UploadIdMarker"] = response["NextUploadIdMarker"]


def _check(bucket: str, key: str) -> None:
    validate_bucket(bucket)
    validate_object_key(key)


def _tag_set(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags]


def _grants(response: Any) -> Grants:
    """The grants of a GetBucketAcl/GetObjectAcl response, the endpoint's owner as montemap's."""
    owner = response.get("Owner", {}).get("ID")
    out = []
    for grant in response.get("Grants", []):
        grantee = grant.get("Grantee", {})
        if grantee.get("Type") == "Group":
            out.append(("Group", str(grantee.get("URI", "")), str(grant.get("Permission"))))
        else:
            who = grantee.get("ID", "")
            out.append(
                ("CanonicalUser", OWNER_ID if who == owner else who, str(grant.get("Permission")))
            )
    return tuple(out)
