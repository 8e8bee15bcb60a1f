"""S3 backend: any S3-compatible endpoint through boto3.

Credentials and region come from the usual AWS environment and config
(``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``~/.aws/config``...); an
``endpoint_url`` points it at MinIO, moto or another S3-compatible server.
Keys and bucket names are validated with the same rules as the local
backend, so the two accept the same names.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from montemap.storage.base import ListPage, ObjectInfo, ObjectStoreError
from montemap.storage.names import validate_bucket, validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MAX_KEYS = 1000

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
        validate_key(key)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        raw = _BodyReader(response["Body"], bucket, key)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 16))

    def get(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as f:
            return f.read()

    def put(self, bucket: str, key: str, data: bytes) -> str:
        validate_bucket(bucket)
        validate_key(key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ObjectStoreError(
                "InvalidArgument", f"object data must be bytes, got {type(data).__name__}"
            )
        try:
            response = self.client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        return _unquote(response["ETag"])

    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> str:
        validate_bucket(bucket)
        validate_key(key)
        try:
            # Multipart upload for large streams; never the whole object in memory.
            self.client.upload_fileobj(stream, bucket, key)
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)
        return self.head(bucket, key).etag

    def head(self, bucket: str, key: str) -> ObjectInfo:
        validate_bucket(bucket)
        validate_key(key)
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
        return ObjectInfo(
            key,
            response["ContentLength"],
            _unquote(response["ETag"]),
            response["LastModified"].timestamp(),
            response.get("StorageClass", "STANDARD"),
        )

    def delete(self, bucket: str, key: str) -> None:
        validate_bucket(bucket)
        validate_key(key)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, bucket, key)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket, key)

    def list_page(
        self, bucket: str, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        validate_bucket(bucket)
        validate_prefix(prefix)
        if token is not None:
            validate_prefix(token)
        if (
            isinstance(max_keys, bool)
            or not isinstance(max_keys, int)
            or not 1 <= max_keys <= _MAX_KEYS
        ):
            raise ObjectStoreError(
                "InvalidArgument",
                f"max_keys must be an integer from 1 to {_MAX_KEYS}, got {max_keys!r}",
            )
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if token is not None:
            kwargs["ContinuationToken"] = token
        try:
            response = self.client.list_objects_v2(**kwargs)
        except ClientError as exc:
            raise _translate(exc, bucket)
        except BotoCoreError as exc:
            raise _unreachable(exc, bucket)
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
        next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ListPage(objects, next_token)

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
