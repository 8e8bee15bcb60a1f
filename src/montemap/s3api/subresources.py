"""Dispatch of the record sub-resources: ``?tagging``, ``?acl``, ``?versioning``, ``versionId``,
``?attributes`` (GetObjectAttributes), ``?encryption`` (a bucket's default encryption) and
``?restore`` (RestoreObject) and ``?notification`` (a bucket's event notifications).

:class:`~montemap.s3api.app.S3App` sends a request here when its query names
one of :data:`NAMES`, so requests without them (the hot path) pay one set
check.
"""

from __future__ import annotations

from montemap.s3api import (
    acl,
    bucket_encryption,
    notification_requests,
    objects,
    restore,
    tagging,
    versioning,
)
from montemap.s3api.body import Payload
from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response

#: The query parameters that send a request here.
NAMES = frozenset(
    {"tagging", "acl", "versioning", "versionId", "attributes", "encryption", "restore"}
    | {"notification"}
)


async def serve(ctx: S3Context, req: S3Request, payload: Payload | None) -> S3Response:
    """The answer to a request whose query names one of :data:`NAMES`."""
    versioning.check_version_id(req)
    body = _body(payload)
    query = req.query
    if "tagging" in query:
        return await tagging.serve(ctx, req, body)
    if "acl" in query:
        return await acl.serve(ctx, req, body)
    if "versioning" in query:
        return await versioning.serve(ctx, req, body)
    if "encryption" in query:
        return await bucket_encryption.serve(ctx, req, body)
    if "notification" in query:
        return await notification_requests.serve(ctx, req, body)
    if "restore" in query:
        return await restore.restore_object(ctx, req, body)
    if "attributes" in query and req.key and req.method == "GET":
        return await objects.get_attributes(ctx, req)
    # ``versionId=null`` alone: the object itself, its only version.
    if req.key and req.method in ("GET", "HEAD"):
        response = await objects.get_object(ctx, req, head=req.method == "HEAD")
        return response.header("x-amz-version-id", versioning.NULL_VERSION)
    if req.key and req.method == "DELETE":
        response = await objects.delete_object(ctx, req)
        return response.header("x-amz-version-id", versioning.NULL_VERSION)
    raise S3Error(
        "InvalidRequest",
        f"{req.method} with versionId is not served on {req.resource} (objects only)",
    )


def _body(payload: Payload | None) -> bytes | None:
    if payload is None:
        return None
    if payload.data is None:
        raise S3Error("MalformedXML", "the XML document is too large")
    return payload.data
