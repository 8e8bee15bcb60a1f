"""RestoreObject (``POST ?restore``): a temporary copy of an archived object, made at once.

S3 keeps objects of the GLACIER and DEEP_ARCHIVE classes offline until a
RestoreObject makes a temporary copy; HeadObject then answers
``x-amz-restore: ongoing-request="false", expiry-date="..."``. Objects here are
always online (docs/s3.md: archive classes are read like any other), so a restore
completes when it is asked for: the first answers 202 Accepted, a later one 200 OK
(S3's answer for an object already restored), and ``x-amz-restore`` is kept with
the object and answered on GET and HEAD, so a workflow that polls for the end of a
restore sees it ended. As on S3: an object of another class is
``InvalidObjectState`` (403); the copy expires ``Days`` days after the request,
rounded up to the next midnight UTC (the expiry is answered, nothing is removed);
a SELECT restore and ``OutputLocation`` are not served.
"""

from __future__ import annotations

import math
import time

from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error, not_implemented
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, http_date
from montemap.s3api.xmlio import parse, text
from montemap.storage.records import records_for

RESTORE = "x-amz-restore"
#: The classes whose objects S3 keeps offline until restored.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_DAY = 86400


async def restore_object(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    if not req.key or req.method != "POST":
        raise S3Error("MethodNotAllowed", "RestoreObject is a POST of ?restore on an object.")
    days = _days(body)
    info = await ctx.call(ctx.store.head, req.bucket, req.key)
    if info.storage_class not in ARCHIVE_CLASSES:
        raise S3Error(
            "InvalidObjectState",
            "Restore is not allowed for the object's current storage class "
            f"({info.storage_class}; only {', '.join(sorted(ARCHIVE_CLASSES))} objects are "
            "restored)",
            bucket=req.bucket,
            key=req.key,
        )
    expiry = (math.floor(time.time() / _DAY) + days + 1) * _DAY  # the next midnight UTC
    restore = f'ongoing-request="false", expiry-date="{http_date(expiry)}"'
    await ctx.call(records_for(ctx.store).record_restore, req.bucket, req.key, restore)
    return S3Response(200 if RESTORE in info.headers else 202)


def _days(body: bytes | None) -> int:
    """The ``Days`` of a ``RestoreRequest`` document (required here: no SELECT restores)."""
    root = parse(body or b"")
    if root.tag != "RestoreRequest":
        raise S3Error("MalformedXML", f"expected <RestoreRequest>, not <{root.tag}>")
    if root.find("Type") is not None or root.find("OutputLocation") is not None:
        raise not_implemented("a SELECT restore (Type, OutputLocation)")
    value = (text(root, "Days") or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise S3Error("MalformedXML", "a RestoreRequest needs <Days>, a positive whole number")
    return int(value)
