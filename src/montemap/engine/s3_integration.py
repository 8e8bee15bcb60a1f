"""S3 task resources on the object store: ``s3:getObject``/``putObject`` and
``aws-sdk:s3:`` getObject, putObject, listObjectsV2, copyObject, deleteObject,
headObject, getObjectTagging, headBucket and listBuckets.

Requests and responses use the SDK's PascalCase shapes; failures become
``S3.<Code>Exception`` errors (``S3.NoSuchKeyException``...) as the aws-sdk
integrations name them; a parameter of the wrong type or range is S3's
``InvalidArgument`` (``S3.InvalidArgumentException``), never an internal error.
Object store calls run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from montemap.errors import StatesError
from montemap.jsontypes import json_type_name
from montemap.storage.base import ListPage, ObjectStore, ObjectStoreError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall


def _text(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise StatesError(
            "S3.InvalidRequestException", f"the request needs a non-empty string {key}"
        )
    return value


def _optional_text(args: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = args.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise StatesError(
            "S3.InvalidArgumentException",
            f"{key} must be a string, not {json_type_name(value)}",
        )
    return value


#: The largest MaxKeys S3 accepts (an int32), and the most keys it returns in one page.
_MAX_KEYS = 2**31 - 1
_PAGE_KEYS = 1000


def _max_keys(args: Mapping[str, Any]) -> int:
    """ListObjectsV2's MaxKeys: an integer from 0 (S3: ``InvalidArgument`` otherwise)."""
    value = args.get("MaxKeys")
    if value is None:
        return 1000
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_KEYS:
        shown = value if isinstance(value, int | float) else json_type_name(value)
        raise StatesError(
            "S3.InvalidArgumentException",
            f"Provided max-keys not an integer or within integer range: MaxKeys was {shown}",
        )
    return value


#: The owner S3 names (montemap's S3 API names the same one).
_OWNER = "montemap"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class S3Integration:
    """Dispatches S3 actions to an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.actions: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "getObject": self.get_object,
            "putObject": self.put_object,
            "listObjectsV2": self.list_objects_v2,
            "copyObject": self.copy_object,
            "deleteObject": self.delete_object,
            "headObject": self.head_object,
            "getObjectTagging": self.get_object_tagging,
            "listBuckets": self.list_buckets,
        }

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        action = call.resource.rsplit(":", 1)[-1]
        handler = self.actions.get(action)
        if action == "headBucket":  # answers the server's region
            handler = functools.partial(self.head_bucket, region=run.engine.arns.region)
        if handler is None:
            raise StatesError(
                "S3.UnsupportedOperationException", f"S3 action {action!r} is not supported"
            )
        if not isinstance(call.arguments, dict):
            raise StatesError("S3.InvalidRequestException", "S3 parameters must be an object")
        try:
            return await asyncio.to_thread(handler, call.arguments)
        except ObjectStoreError as exc:
            raise StatesError(f"S3.{exc.code}Exception", str(exc))

    def get_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        bucket, key = _text(args, "Bucket"), _text(args, "Key")
        body = self.store.get(bucket, key)
        info = self.store.head(bucket, key)
        return {
            "Body": body.decode("utf-8", errors="replace"),
            "ContentLength": len(body),
            "ContentType": info.content_type or "application/octet-stream",
            "ETag": f'"{info.etag}"',
            "LastModified": _iso(info.last_modified),
        }

    def put_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        bucket, key = _text(args, "Bucket"), _text(args, "Key")
        body = args.get("Body", "")
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        etag = self.store.put(bucket, key, data)
        return {"ETag": f'"{etag}"'}

    def list_objects_v2(self, args: Mapping[str, Any]) -> dict[str, Any]:
        bucket = _text(args, "Bucket")
        prefix = _optional_text(args, "Prefix", "") or ""
        max_keys = _max_keys(args)
        token = _optional_text(args, "ContinuationToken", None)
        # S3 returns at most 1,000 keys whatever MaxKeys says, and none for 0.
        page = self.store.list_page(
            bucket, prefix, token=token, max_keys=min(max(max_keys, 1), _PAGE_KEYS)
        )
        if max_keys == 0:
            page = ListPage([], None)
        out: dict[str, Any] = {
            "Contents": [
                {
                    "Key": o.key,
                    "Size": o.size,
                    "ETag": f'"{o.etag}"',
                    "LastModified": _iso(o.last_modified),
                    "StorageClass": "STANDARD",
                }
                for o in page.objects
            ],
            "IsTruncated": page.next_token is not None,
            "KeyCount": len(page.objects),
            "MaxKeys": max_keys,
            "Name": bucket,
            "Prefix": prefix,
        }
        if page.next_token is not None:
            out["NextContinuationToken"] = page.next_token
        return out

    def copy_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        bucket, key = _text(args, "Bucket"), _text(args, "Key")
        source = _text(args, "CopySource").lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        etag = self.store.put(bucket, key, self.store.get(src_bucket, src_key))
        return {"CopyObjectResult": {"ETag": f'"{etag}"'}}

    def delete_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.store.delete(_text(args, "Bucket"), _text(args, "Key"))
        return {}

    def head_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """HeadObject: the object's metadata as GetObject answers it, without the body."""
        info = self.store.head(_text(args, "Bucket"), _text(args, "Key"))
        return {
            "AcceptRanges": "bytes",
            "ContentLength": info.size,
            "ContentType": info.content_type or "application/octet-stream",
            "ETag": f'"{info.etag}"',
            "LastModified": _iso(info.last_modified),
            "Metadata": dict(info.metadata),
        }

    def get_object_tagging(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """GetObjectTagging: the object's tag set, in the order it was given."""
        info = self.store.head(_text(args, "Bucket"), _text(args, "Key"))
        return {"TagSet": [{"Key": key, "Value": value} for key, value in info.tags]}

    def head_bucket(self, args: Mapping[str, Any], region: str) -> dict[str, Any]:
        """HeadBucket: the bucket's region (S3's ``x-amz-bucket-region``), or
        ``NoSuchBucket``."""
        bucket = _text(args, "Bucket")
        if not self.store.bucket_exists(bucket):
            raise ObjectStoreError(
                "NoSuchBucket", f"The specified bucket does not exist: {bucket}", bucket=bucket
            )
        return {"BucketRegion": region, "AccessPointAlias": False}

    def list_buckets(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """ListBuckets: every bucket by name, with its creation date and the owner."""
        buckets = sorted(self.store.list_buckets(), key=lambda bucket: bucket.name)
        return {
            "Buckets": [{"Name": b.name, "CreationDate": _iso(b.created)} for b in buckets],
            "Owner": {"DisplayName": _OWNER, "ID": _OWNER},
        }
