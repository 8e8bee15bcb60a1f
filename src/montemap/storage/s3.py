"""S3 backend: any S3-compatible endpoint through boto3.

Credentials and region come from the usual AWS environment and config
(``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``~/.aws/config``...); an
``endpoint_url`` points it at MinIO, moto or another S3-compatible server.
Keys and bucket names are validated with the same rules as the local
backend, so the two accept the same names.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from montemap.storage.base import (
    BucketInfo,
    KeyPage,
    ListPage,
    ObjectInfo,
    ObjectMeta,
    ObjectStoreError,
    PartInfo,
    Tags,
)
from montemap.storage.grants import canned_name
from montemap.storage.names import (
    validate_bucket,
    validate_listing,
    validate_object_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef


#: The system metadata S3 keeps (header names as the local backend keeps them) and
#: botocore's parameter for each.
SYSTEM_HEADERS = {
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "expires": "Expires",
    "x-amz-storage-class": "StorageClass",  # absent: STANDARD
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "x-amz-server-side-encryption-bucket-key-enabled": "BucketKeyEnabled",  # a boolean
}

_ENCRYPTION = "x-amz-server-side-encryption"

#: S3 error codes that mean "no such object" (HEAD answers a bare 404).
_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})


class S3ObjectStore:
    """The object store interface over an S3 client."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        if client is None:
            # Path-style addressing: custom endpoints (an IP, localhost) have no
            # per-bucket DNS names.
            config = Config(
                s3={"addressing_style": "path"} if endpoint_url else {},
                retries={"mode": "standard", "max_attempts": 5},
            )
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region_name, config=config
            )
        self.client: S3Client = client
        self.endpoint_url = endpoint_url

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint_url={self.endpoint_url!r})"

    def close(self) -> None:
        """Release the client's connection pool."""
        self.client.close()

    # ---------------------------------------------------------------- interface
    def create_bucket(self, bucket: str) -> None:
        validate_bucket(bucket)
        try:  # an existing bucket needs no s3:CreateBucket permission
            self.client.head_bucket(Bucket=bucket)
            return
        except ClientError:
            pass
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket)
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise _translate(exc, bucket)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket)

    def open(self, bucket: str, key: str) -> BinaryIO:
        validate_bucket(bucket)
        validate_object_key(key)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        raw = _BodyReader(response["Body"], bucket, key)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 16))

    def open_info(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        validate_bucket(bucket)
        validate_object_key(key)
        response = self._call(bucket, key, lambda: self.client.get_object(Bucket=bucket, Key=key))
        info = self._with_tags(bucket, _info(key, response), response)
        raw = _BodyReader(response["Body"], bucket, key)
        return info, cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 16))

    def get(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as f:
            return f.read()

    def put(self, bucket: str, key: str, data: bytes, *, meta: ObjectMeta | None = None) -> str:
        validate_bucket(bucket)
        validate_object_key(key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ObjectStoreError(
                "InvalidArgument", f"object data must be bytes, got {type(data).__name__}"
            )
        try:
            response = self.client.put_object(
                Bucket=bucket, Key=key, Body=bytes(data), **_meta_args(meta)
            )
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        return _unquote(response["ETag"])

    def put_no_etag(self, bucket: str, key: str, data: bytes) -> None:
        self.put(bucket, key, data)

    def put_stream_no_etag(self, bucket: str, key: str, stream: BinaryIO) -> None:
        self.put_stream(bucket, key, stream)

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, meta: ObjectMeta | None = None
    ) -> str:
        validate_bucket(bucket)
        validate_object_key(key)
        try:
            # Multipart upload for large streams; never the whole object in memory.
            self.client.upload_fileobj(stream, bucket, key, ExtraArgs=_meta_args(meta))
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        return self.head(bucket, key).etag

    def head(self, bucket: str, key: str) -> ObjectInfo:
        validate_bucket(bucket)
        validate_object_key(key)
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY and not self._bucket_exists(bucket):
                raise ObjectStoreError(
                    "NoSuchBucket", f"bucket {bucket!r} does not exist", bucket=bucket, key=key
                )
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        return self._with_tags(bucket, _info(key, response), response)

    def delete(self, bucket: str, key: str) -> None:
        validate_bucket(bucket)
        validate_object_key(key)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        *,
        token: str | None = None,
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> ListPage:
        response = self._list_v2(bucket, prefix, token, max_keys, start_after)
        objects = [
            ObjectInfo(
                item["Key"],
                item["Size"],
                _unquote(item["ETag"]),
                item["LastModified"].timestamp(),
                item.get("StorageClass", "STANDARD"),
            )
            for item in response.get("Contents", [])
        ]
        return ListPage(objects, _next_token(response))

    def list_keys_page(
        self, bucket: str, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> KeyPage:
        """As :meth:`list_page`, the keys alone (S3's listing costs the same)."""
        response = self._list_v2(bucket, prefix, token, max_keys, None)
        return KeyPage(
            [item["Key"] for item in response.get("Contents", [])], _next_token(response)
        )

    def _list_v2(
        self, bucket: str, prefix: str, token: str | None, max_keys: int, start_after: str | None
    ) -> dict[str, Any]:
        """One ``ListObjectsV2`` response (arguments checked, errors translated)."""
        validate_bucket(bucket)
        validate_listing(prefix, token, max_keys)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if token is not None:
            kwargs["ContinuationToken"] = token
        if start_after is not None:
            kwargs["StartAfter"] = validate_prefix(start_after)
        try:
            response = self.client.list_objects_v2(**kwargs)
        except ClientError as exc:
            raise _translate(exc, bucket)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket)
        return cast(dict[str, Any], response)

    # ------------------------------------------------------------ buckets, copies
    def bucket_exists(self, bucket: str) -> bool:
        validate_bucket(bucket)
        return self._bucket_exists(bucket)

    def list_buckets(self) -> list[BucketInfo]:
        try:
            response = self.client.list_buckets()
        except ClientError as exc:
            raise _translate(exc, "")
        except BotoCoreError as exc:
            raise _unreachable(exc, "")
        return sorted(
            (BucketInfo(b["Name"], b["CreationDate"].timestamp()) for b in response["Buckets"]),
            key=lambda b: b.name,
        )

    def delete_bucket(self, bucket: str) -> None:
        validate_bucket(bucket)
        self._call(bucket, "", lambda: self.client.delete_bucket(Bucket=bucket))

    def copy(
        self,
        src_bucket: str,
        src_key: str,
        bucket: str,
        key: str,
        *,
        meta: ObjectMeta | None = None,
    ) -> ObjectInfo:
        for name, k in ((src_bucket, src_key), (bucket, key)):
            validate_bucket(name)
            validate_object_key(k)
        extra: dict[str, Any] = {"MetadataDirective": "COPY"}
        if meta is not None:  # ``meta`` is everything the copy keeps, its tags included
            extra = {"MetadataDirective": "REPLACE", "TaggingDirective": "REPLACE"}
            extra.update(_meta_args(meta))
        source: CopySourceTypeDef = {"Bucket": src_bucket, "Key": src_key}
        self._call(
            bucket,
            key,
            lambda: self.client.copy_object(Bucket=bucket, Key=key, CopySource=source, **extra),
        )
        return self.head(bucket, key)

    # --------------------------------------------------------------- multipart
    def create_upload(self, bucket: str, key: str, *, meta: ObjectMeta | None = None) -> str:
        validate_bucket(bucket)
        validate_object_key(key)
        response = self._call(
            bucket,
            key,
            lambda: self.client.create_multipart_upload(Bucket=bucket, Key=key, **_meta_args(meta)),
        )
        return str(response["UploadId"])

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, stream: BinaryIO
    ) -> str:
        validate_bucket(bucket)
        validate_object_key(key)
        response = self._call(
            bucket,
            key,
            lambda: self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=stream.read()
            ),
        )
        return _unquote(str(response["ETag"]))

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        validate_bucket(bucket)
        validate_object_key(key)
        parts: list[PartInfo] = []
        marker = 0
        while True:
            response = self._call(
                bucket,
                key,
                functools.partial(
                    self.client.list_parts,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                ),
            )
            for item in response.get("Parts", []):
                parts.append(
                    PartInfo(
                        item["PartNumber"],
                        item["Size"],
                        _unquote(item["ETag"]),
                        item["LastModified"].timestamp(),
                    )
                )
            if not response.get("IsTruncated"):
                return parts
            marker = int(response["NextPartNumberMarker"])

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str:
        validate_bucket(bucket)
        validate_object_key(key)
        listed: list[CompletedPartTypeDef] = [
            {"PartNumber": number, "ETag": f'"{etag.strip(chr(34))}"'} for number, etag in parts
        ]
        response = self._call(
            bucket,
            key,
            lambda: self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            ),
        )
        return _unquote(str(response["ETag"]))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        validate_bucket(bucket)
        validate_object_key(key)
        self._call(
            bucket,
            key,
            lambda: self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
        )

    def object_tags(self, bucket: str, key: str) -> Tags:
        """The object's tag set, as the endpoint keeps it."""
        response = self._call(
            bucket, key, lambda: self.client.get_object_tagging(Bucket=bucket, Key=key)
        )
        return tuple((tag["Key"], tag["Value"]) for tag in response.get("TagSet", []))

    def _with_tags(self, bucket: str, info: ObjectInfo, response: Any) -> ObjectInfo:
        """``info`` with the object's tags when the response counts some (one more call)."""
        if not response.get("TagCount"):
            return info
        return replace(info, tags=self.object_tags(bucket, info.key))

    def _call(self, bucket: str, key: str, action: Callable[[], Any]) -> Any:
        """Run one client call, its failures as store errors."""
        try:
            return action()
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)

    def _bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket exists (HEAD of a key cannot tell a missing bucket apart)."""
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            return _code(exc) not in ("404", "NoSuchBucket", "NotFound")
        return True


class _BodyReader(io.RawIOBase):
    """A raw stream over a botocore ``StreamingBody`` that reports failures as store errors."""

    def __init__(self, body: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._body = body
        self._bucket = bucket
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            chunk = self._body.read(len(view))
        except (BotoCoreError, OSError) as exc:
            raise ObjectStoreError(
                "ReadFailed",
                f"reading s3://{self._bucket}/{self._key} failed: {exc}",
                bucket=self._bucket,
                key=self._key,
            )
        n = len(chunk)
        view[:n] = chunk
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _meta_args(meta: ObjectMeta | None) -> dict[str, Any]:
    """PutObject/CreateMultipartUpload/CopyObject arguments for ``meta``.

    Everything the local backend keeps travels: the content type, the user
    metadata, the other system metadata (:data:`SYSTEM_HEADERS`), the tag set
    and a canned ACL (grants that no canned ACL gives are refused).
    """
    if meta is None:
        return {}
    args: dict[str, Any] = {}
    if meta.content_type:
        args["ContentType"] = meta.content_type
    if meta.metadata:
        args["Metadata"] = dict(meta.metadata)
    for name, value in meta.headers.items():
        parameter = SYSTEM_HEADERS.get(name)
        if parameter == "Expires":
            args[parameter] = _expires(value)
        elif parameter == "BucketKeyEnabled":
            args[parameter] = value.lower() == "true"
        elif parameter is not None:
            args[parameter] = value
    if meta.tags:
        args["Tagging"] = urlencode(meta.tags, quote_via=quote)
    if meta.acl:
        args["ACL"] = canned_name(meta.acl)
    return args


def _expires(value: str) -> datetime:
    """An ``Expires`` value as botocore sends it (an HTTP date; refused otherwise)."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ObjectStoreError(
            "InvalidArgument",
            f"Expires {value!r} is not an HTTP date; the S3-backed store can only pass dates on",
        )
    return moment


def _info(key: str, response: Any) -> ObjectInfo:
    """An object's info from a HeadObject or GetObject response, system metadata included."""
    headers = {
        name: _header_value(response[parameter])
        for name, parameter in SYSTEM_HEADERS.items()
        if parameter != "Expires" and response.get(parameter)
    }
    if headers.get(_ENCRYPTION) == "AES256":  # S3's default, kept unnamed as by the local store
        del headers[_ENCRYPTION]
    expires = response.get("ExpiresString")
    if expires:
        headers["expires"] = expires
    return ObjectInfo(
        key,
        response["ContentLength"],
        _unquote(response["ETag"]),
        response["LastModified"].timestamp(),
        response.get("StorageClass", "STANDARD"),
        response.get("ContentType", ""),
        dict(response.get("Metadata", {})),
        headers,
    )


def _header_value(value: object) -> str:
    """A system metadata value as its header carries it (a boolean: ``true``)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _next_token(response: Mapping[str, Any]) -> str | None:
    """A ``ListObjectsV2`` response's token for the next page (None on the last)."""
    token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
    return str(token) if token is not None else None


def _unquote(etag: str) -> str:
    return etag[1:-1] if len(etag) >= 2 and etag[0] == etag[-1] == '"' else etag


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError, bucket: str, key: str = "") -> ObjectStoreError:
    """An S3 client error as an :class:`ObjectStoreError` with the S3 code."""
    code = _code(exc) or "InternalError"
    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    if code == "NoSuchBucket":
        return ObjectStoreError(
            "NoSuchBucket", f"bucket {bucket!r} does not exist", bucket=bucket, key=key
        )
    if key and code in _MISSING_KEY:
        return ObjectStoreError("NoSuchKey", f"no object {where}", bucket=bucket, key=key)
    if code in ("403", "AccessDenied"):
        code = "AccessDenied"
    message = exc.response.get("Error", {}).get("Message") or str(exc)
    return ObjectStoreError(code, f"{where}: {message}", bucket=bucket, key=key)


def _unreachable(exc: BotoCoreError, bucket: str, key: str = "") -> ObjectStoreError:
    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    return ObjectStoreError("EndpointError", f"{where}: {exc}", bucket=bucket, key=key)
