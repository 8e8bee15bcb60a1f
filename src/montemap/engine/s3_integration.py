"""S3 task resources on the object store: ``s3:getObject``/``putObject`` and
``aws-sdk:s3:`` getObject (whole, or a byte ``Range``), putObject, listObjectsV2 (with
``Delimiter`` and ``StartAfter``), copyObject, deleteObject, deleteObjects, headObject,
getObjectTagging, headBucket and listBuckets.

Requests and responses use the SDK's PascalCase shapes; failures become
``S3.<Code>Exception`` errors (``S3.NoSuchKeyException``...) as the aws-sdk
integrations name them; a parameter of the wrong type or range is S3's
``InvalidArgument`` (``S3.InvalidArgumentException``), never an internal error.
Object store calls run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from montemap.asl.json_text import to_json_text
from montemap.errors import StatesError
from montemap.jsontypes import json_type_name
from montemap.storage.base import ObjectInfo, ObjectMeta, ObjectStore, ObjectStoreError

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


#: Sorts after any character a key may hold: listing from ``group + _PAST`` skips the group.
_PAST = "\U0010ffff"


@dataclass
class _Page:
    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or common prefix in the page


@dataclass
class _Listing:
    """ListObjectsV2's walk over the store: keys in S3 order, grouped under a delimiter."""

    store: ObjectStore
    bucket: str
    prefix: str
    delimiter: str

    def _group(self, key: str) -> str | None:
        at = key.find(self.delimiter, len(self.prefix)) if self.delimiter else -1
        return None if at < 0 else key[: at + len(self.delimiter)]

    def page(self, after: str, limit: int) -> _Page:
        """Up to ``limit`` keys and common prefixes after ``after`` (a key or prefix)."""
        out = _Page()
        cursor = after or None
        while limit:
            listed = self.store.list_page(
                self.bucket, self.prefix, start_after=cursor, max_keys=_PAGE_KEYS
            )
            for obj in listed.objects:
                group = self._group(obj.key)
                if group is not None and group in (after, out.last):
                    cursor = group + _PAST  # a key of a prefix already returned
                    continue
                if len(out.objects) + len(out.prefixes) == limit:
                    out.truncated = True
                    return out
                out.last = group or obj.key
                if group is None:
                    out.objects.append(obj)
                    cursor = obj.key
                    continue
                out.prefixes.append(group)
                cursor = group + _PAST
                break  # list again past the group, never reading its other keys
            else:
                if listed.next_token is None:
                    return out
                if listed.objects:
                    cursor = max(cursor or "", listed.objects[-1].key)
        return out


def _token_of(key: str) -> str:
    """A continuation token: the last key or prefix returned, opaque to the caller."""
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def _token_key(token: str) -> str:
    try:
        key = base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        key = ""
    if not key or _token_of(key) != token:
        raise StatesError(
            "S3.InvalidArgumentException", "The continuation token provided is incorrect"
        )
    return key


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _byte_range(spec: str, size: int) -> tuple[int, int] | None:
    """GetObject's ``Range`` (``bytes=first-last``, ``bytes=first-``, ``bytes=-suffix``) as
    the first and last byte it reads; None for a range S3 ignores (it answers the whole
    object); ``InvalidRange`` for one no byte of the object satisfies."""
    match = _RANGE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(spec, size)
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise _unsatisfiable(spec, size)
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _unsatisfiable(spec: str, size: int) -> StatesError:
    return StatesError(
        "S3.InvalidRangeException",
        f"The requested range is not satisfiable: {spec} of an object of {size} bytes",
    )


def _meta(args: Mapping[str, Any]) -> ObjectMeta | None:
    """An object's ``ContentType`` and ``Metadata`` (strings) as a request gives them."""
    content_type = _optional_text(args, "ContentType", "") or ""
    metadata = args.get("Metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(value, str) for value in metadata.values()
    ):
        raise StatesError(
            "S3.InvalidArgumentException", "Metadata must be an object of string values"
        )
    if not content_type and not metadata:
        return None
    return ObjectMeta(
        content_type=content_type, metadata={k.lower(): v for k, v in metadata.items()}
    )


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
            "deleteObjects": self.delete_objects,
            "headObject": self.head_object,
            "getObjectTagging": self.get_object_tagging,
            "listBuckets": self.list_buckets,
        }

    def refusal(self, resource: str) -> str | None:
        """Why ``resource`` names an S3 action this server does not serve (checked before
        the task is scheduled: a ``States.Runtime`` failure, as for any resource not
        served), or None."""
        action = resource.rsplit(":", 1)[-1]
        if action in self.actions or action == "headBucket":
            return None
        served = ", ".join(sorted([*self.actions, "headBucket"]))
        return (
            f"The resource '{resource}' is not supported by this server: it serves the S3 "
            f"actions {served}."
        )

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        action = call.resource.rsplit(":", 1)[-1]
        handler = self.actions.get(action)
        if action == "headBucket":  # answers the server's region
            handler = functools.partial(self.head_bucket, region=run.engine.arns.region)
        if handler is None:  # ``refusal`` keeps such a call from being scheduled
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
        spec = _optional_text(args, "Range", None)
        body = self.store.get(bucket, key)
        info = self.store.head(bucket, key)
        span = _byte_range(spec, len(body)) if spec is not None else None
        out: dict[str, Any] = {}
        if span is not None:
            first, last = span
            out["ContentRange"] = f"bytes {first}-{last}/{len(body)}"
            body = body[first : last + 1]
        return {
            "Body": body.decode("utf-8", errors="replace"),
            "ContentLength": len(body),
            **out,
            "ContentType": info.content_type or "application/octet-stream",
            "ETag": f'"{info.etag}"',
            "LastModified": _iso(info.last_modified),
        }

    def put_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        bucket, key = _text(args, "Bucket"), _text(args, "Key")
        body = args.get("Body", "")
        # A JSON Body (object, array, number...) is written as compact JSON text, as AWS prints it.
        data = (body if isinstance(body, str) else to_json_text(body)).encode()
        etag = self.store.put(bucket, key, data, meta=_meta(args))
        return {"ETag": f'"{etag}"'}

    def list_objects_v2(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """ListObjectsV2: keys under ``Prefix`` after ``StartAfter`` (or the continuation
        token), those sharing a part up to ``Delimiter`` rolled up as ``CommonPrefixes``."""
        bucket = _text(args, "Bucket")
        prefix = _optional_text(args, "Prefix", "") or ""
        delimiter = _optional_text(args, "Delimiter", "") or ""
        max_keys = _max_keys(args)
        token = _optional_text(args, "ContinuationToken", None)
        start_after = _optional_text(args, "StartAfter", None)
        after = _token_key(token) if token is not None else start_after or ""
        # S3 returns at most 1,000 keys and prefixes whatever MaxKeys says, none for 0.
        page = _Listing(self.store, bucket, prefix, delimiter).page(
            after, min(max_keys, _PAGE_KEYS)
        )
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
            "IsTruncated": page.truncated,
            "KeyCount": len(page.objects) + len(page.prefixes),
            "MaxKeys": max_keys,
            "Name": bucket,
            "Prefix": prefix,
        }
        if page.prefixes:
            out["CommonPrefixes"] = [{"Prefix": p} for p in page.prefixes]
        if delimiter:
            out["Delimiter"] = delimiter
        if start_after is not None:
            out["StartAfter"] = start_after
        if token is not None:
            out["ContinuationToken"] = token
        if page.truncated:
            out["NextContinuationToken"] = _token_of(page.last)
        return out

    def copy_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """CopyObject: the source's content type and metadata go with it, unless
        ``MetadataDirective`` is ``REPLACE`` (the request's then)."""
        bucket, key = _text(args, "Bucket"), _text(args, "Key")
        # URL-encoded, as S3 takes it, and perhaps naming a version (``?versionId=``).
        source = unquote(_text(args, "CopySource").partition("?")[0]).lstrip("/")
        src_bucket, _, src_key = source.partition("/")
        directive = _optional_text(args, "MetadataDirective", "COPY")
        if directive not in ("COPY", "REPLACE"):
            raise StatesError(
                "S3.InvalidArgumentException", f"Unknown metadata directive: {directive}"
            )
        meta = (_meta(args) or ObjectMeta()) if directive == "REPLACE" else None
        info = self.store.copy(src_bucket, src_key, bucket, key, meta=meta)
        return {
            "CopyObjectResult": {"ETag": f'"{info.etag}"', "LastModified": _iso(info.last_modified)}
        }

    def delete_object(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.store.delete(_text(args, "Bucket"), _text(args, "Key"))
        return {}

    def delete_objects(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """DeleteObjects: up to 1,000 keys; each named under ``Deleted`` (a missing key
        too, as S3 answers), none when ``Quiet``."""
        bucket = _text(args, "Bucket")
        delete = args.get("Delete")
        objects = delete.get("Objects") if isinstance(delete, dict) else None
        if (
            not isinstance(objects, list)
            or not 1 <= len(objects) <= _PAGE_KEYS
            or not all(isinstance(o, dict) and isinstance(o.get("Key"), str) for o in objects)
        ):
            raise StatesError(
                "S3.MalformedXMLException",
                "Delete.Objects must list from 1 to 1000 objects, each with a Key",
            )
        deleted = []
        for entry in objects:
            self.store.delete(bucket, entry["Key"])
            deleted.append({k: entry[k] for k in ("Key", "VersionId") if k in entry})
        quiet = isinstance(delete, dict) and delete.get("Quiet") is True
        return {} if quiet else {"Deleted": deleted}

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
