"""S3's conditions on writes and copies.

- Conditional writes (PutObject, CompleteMultipartUpload, CopyObject): ``If-None-Match: *``
  writes only when the key holds no object, ``If-Match: <etag>`` only when it holds that
  object (no object at all: ``NoSuchKey``); otherwise ``PreconditionFailed`` (412) and the
  stored object is left alone. ``If-None-Match`` with anything but ``*`` is
  ``NotImplemented``, as on S3. The check and the write run under a lock per key, so two
  conditional writes of one key through this endpoint never both succeed.
- Conditional deletes (DeleteObject's ``If-Match``, ``x-amz-if-match-last-modified-time``,
  ``x-amz-if-match-size``; a DeleteObjects entry's ``ETag``, ``LastModifiedTime``,
  ``Size``): the object is deleted only if it meets them (no object: ``NoSuchKey``),
  else ``PreconditionFailed``; checked and deleted under the key's lock.
- ``x-amz-copy-source-if-match``, ``-if-none-match``, ``-if-unmodified-since`` and
  ``-if-modified-since`` on CopyObject and UploadPartCopy: a condition that does not hold
  is ``PreconditionFailed``, with GetObject's precedence (a true ``-if-match`` overrides a
  false ``-if-unmodified-since``; a false ``-if-none-match`` wins over a true
  ``-if-modified-since``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime

from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error
from montemap.s3api.request import S3Request
from montemap.storage import ObjectInfo

_COPY_CONDITIONS = (
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-unmodified-since",
    "x-amz-copy-source-if-modified-since",
)

#: The locks of keys with a conditional write in progress (removed when none waits).
_locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}


def precondition_failed() -> S3Error:
    return S3Error(
        "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
    )


def etag_matches(value: str, etag: str) -> bool:
    """Whether an ``If-Match``-style header names ``etag`` (quoted or not, a list, or ``*``)."""
    for candidate in value.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def modified_since(header: str | None, info: ObjectInfo) -> bool | None:
    """Whether the object changed after the date ``header`` names (``None``: no valid date).

    At one-second resolution, ``Last-Modified``'s.
    """
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return int(info.last_modified) > moment.timestamp()


def has_write_conditions(req: S3Request) -> bool:
    headers = req.headers
    return "if-match" in headers or "if-none-match" in headers


@asynccontextmanager
async def conditional_write(ctx: S3Context, req: S3Request) -> AsyncIterator[None]:
    """Check ``If-Match``/``If-None-Match`` of a write and hold the key until it is done."""
    if not has_write_conditions(req):
        yield
        return
    if_none = req.headers.get("if-none-match")
    if if_none is not None and if_none.strip() != "*":
        raise S3Error(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented: "
            "If-None-Match on a write takes only '*'",
        )
    async with hold(req.bucket, req.key):
        await _check_write(ctx, req)
        yield


@asynccontextmanager
async def hold(bucket: str, key: str) -> AsyncIterator[None]:
    """The key's lock: a conditional write or delete checks and acts under it."""
    name = (bucket, key)
    lock, users = _locks.setdefault(name, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            yield
    finally:
        users[0] -= 1
        if not users[0]:
            del _locks[name]


async def _check_write(ctx: S3Context, req: S3Request) -> None:
    try:
        info: ObjectInfo | None = await ctx.call(ctx.store.head, req.bucket, req.key)
    except S3Error as exc:
        if exc.code != "NoSuchKey":
            raise
        info = None
    if_match = req.headers.get("if-match")
    if if_match is not None:
        if info is None:
            raise S3Error(
                "NoSuchKey", "The specified key does not exist.", bucket=req.bucket, key=req.key
            )
        if not etag_matches(if_match, info.etag):
            raise precondition_failed()
    if "if-none-match" in req.headers and info is not None:
        raise precondition_failed()


def check_delete(
    info: ObjectInfo, etag: str | None, modified: str | None, size: str | None
) -> None:
    """Refuse a conditional delete (``If-Match``, ``x-amz-if-match-last-modified-time``,
    ``x-amz-if-match-size``, or a DeleteObjects entry's ``ETag``, ``LastModifiedTime``,
    ``Size``) whose conditions the object does not meet: ``PreconditionFailed``."""
    if etag is not None and not etag_matches(etag, info.etag):
        raise precondition_failed()
    if modified is not None:
        try:
            moment = parsedate_to_datetime(modified.strip()).timestamp()
        except (TypeError, ValueError, IndexError):
            raise S3Error("InvalidArgument", f"Invalid last-modified time: {modified!r}")
        if int(moment) != int(info.last_modified):
            raise precondition_failed()
    if size is not None:
        if not size.strip().isdigit():
            raise S3Error("InvalidArgument", f"Invalid size: {size!r}")
        if int(size) != info.size:
            raise precondition_failed()


async def delete_conditionally(
    ctx: S3Context,
    bucket: str,
    key: str,
    etag: str | None,
    modified: str | None,
    size: str | None,
) -> None:
    """Delete the object if it meets the conditions (none: delete whatever is there)."""
    if etag is None and modified is None and size is None:
        await ctx.call(ctx.store.delete, bucket, key)
        return
    async with hold(bucket, key):
        info = await ctx.call(ctx.store.head, bucket, key)  # none: NoSuchKey
        check_delete(info, etag, modified, size)
        await ctx.call(ctx.store.delete, bucket, key)


def has_copy_conditions(req: S3Request) -> bool:
    return any(name in req.headers for name in _COPY_CONDITIONS)


def check_copy_source(req: S3Request, source: ObjectInfo) -> None:
    """Refuse a copy whose ``x-amz-copy-source-if-*`` conditions ``source`` does not meet."""
    headers = req.headers
    if_match = headers.get("x-amz-copy-source-if-match")
    if if_match is not None:
        if not etag_matches(if_match, source.etag):
            raise precondition_failed()
    elif modified_since(headers.get("x-amz-copy-source-if-unmodified-since"), source) is True:
        raise precondition_failed()
    if_none = headers.get("x-amz-copy-source-if-none-match")
    if if_none is not None:
        if etag_matches(if_none, source.etag):
            raise precondition_failed()
    elif modified_since(headers.get("x-amz-copy-source-if-modified-since"), source) is False:
        raise precondition_failed()
