"""The S3 endpoint: a small ASGI application over the engine's object store.

Requests arrive here from the server's router (:mod:`montemap.api.routing`:
signed for service ``s3``, or unsigned on a path the server does not serve
itself). Each one is parsed from the ASGI scope, authenticated when the
server has keys, its body read and checked, and dispatched on method, path
shape (service, bucket, object) and sub-resource (``?uploads``,
``?uploadId=``, ``?delete``...) to one handler. No framework routing runs per
request: this is the hot path of workers that do a GetObject and a PutObject
per work item.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.types import Receive, Scope, Send

from montemap.api.protocol import new_request_id
from montemap.s3api import buckets, form_upload, multipart, objects, subresources
from montemap.s3api.auth import S3Auth, refuse_expired
from montemap.s3api.body import ChunkCheck, Payload, decode_payload, read_payload
from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error, not_implemented
from montemap.s3api.form_upload import is_form_upload
from montemap.s3api.notifications import Notifier
from montemap.s3api.request import S3Request, parse_request
from montemap.s3api.response import S3Response, error_response
from montemap.storage import ObjectStore

log = logging.getLogger("montemap.s3api")

#: Sub-resources of buckets and objects that montemap does not serve.
UNSUPPORTED = frozenset(
    {"policy", "cors", "lifecycle", "website"}
    | {"replication", "logging", "object-lock", "retention", "legal-hold"}
    | {"torrent", "select", "accelerate", "requestPayment", "ownershipControls"}
    | {"publicAccessBlock", "policyStatus", "metrics", "inventory", "analytics"}
    | {"intelligent-tiering", "metadataTable", "metadataConfiguration"}
    | {"metadataJournalTable", "metadataInventoryTable", "metadataAnnotationTable"}
    | {"abac", "default-storage-class", "session"}
    # object operations that would otherwise be taken for a PutObject, a DeleteObject
    # or a GetObject of the object they name
    | {"annotation", "renameObject", "part"}
)

Handler = Callable[[S3Context, S3Request, Payload], Awaitable[S3Response]]


class S3App:
    """ASGI application answering S3 REST requests from ``store``."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        region: str,
        auth: S3Auth | None = None,
        notifier: Notifier | None = None,
        account: str | None = None,
    ) -> None:
        self.ctx = S3Context(store, region, notifier)
        self.account = account
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        resource = scope.get("path", "/")
        try:
            request = parse_request(scope, receive)
            request.request_id = request_id
            resource = request.resource
            if request.method == "POST" and is_form_upload(request):
                # signed in its fields (the policy), not in its headers: checked there
                response = await self._form_upload(request)
            else:
                chunk_check = None
                if self.auth is not None:
                    chunk_check = self.auth.check(request)
                elif request.query:  # no keys: only an expired presigned URL is refused
                    refuse_expired(request, datetime.now(UTC))
                response = await self._serve(request, chunk_check)
            if self.ctx.notifier is not None:
                await self.ctx.notifier.settle()  # its events' queue rows are committed
        except S3Error as exc:
            response = error_response(exc, request_id, resource)
        except Exception:
            log.exception("internal error serving S3 request %s", request_id)
            failure = S3Error(
                "InternalError", f"We encountered an internal error (request id {request_id})."
            )
            response = error_response(failure, request_id, resource)
        await response.send(send, request_id, head=scope["method"] == "HEAD")

    async def _serve(self, req: S3Request, chunk_check: ChunkCheck | None) -> S3Response:
        self._check_owner(req)
        unsupported = UNSUPPORTED.intersection(req.query) if req.query else None
        if unsupported:
            raise not_implemented(f"?{sorted(unsupported)[0]}")
        if req.method in ("PUT", "POST"):
            # CompleteMultipartUpload's checksum headers are the object's, not its body's.
            completes = req.method == "POST" and "uploadId" in req.query
            body = await read_payload(req.receive)
            payload = decode_payload(body, req.headers, chunk_check, body_checksums=not completes)
            try:
                return await self._write(req, payload)
            finally:
                payload.close()
        return await self._read(req)

    def _check_owner(self, req: S3Request) -> None:
        """``x-amz-expected-bucket-owner`` (and ``-source-`` for a copy's source) naming
        another account than the server's: S3's 403 ``AccessDenied``."""
        if self.account is None:
            return
        for header in ("x-amz-expected-bucket-owner", "x-amz-source-expected-bucket-owner"):
            owner = req.headers.get(header)
            if owner is not None and owner != self.account:
                raise S3Error(
                    "AccessDenied",
                    f"Access Denied ({header} {owner!r} is not the bucket owner's account)",
                )

    async def _form_upload(self, req: S3Request) -> S3Response:
        """POST Object: nothing but the form's own signature lets it through."""
        payload = decode_payload(await read_payload(req.receive), req.headers, None)
        try:
            secret_for = self.auth.secret_for if self.auth is not None else None
            return await form_upload.post_object(self.ctx, req, payload, secret_for)
        finally:
            payload.close()

    async def _read(self, req: S3Request) -> S3Response:
        ctx, method = self.ctx, req.method
        if req.query and not subresources.NAMES.isdisjoint(req.query):
            return await subresources.serve(ctx, req, None)
        if not req.bucket:
            if method == "GET":
                return await buckets.list_buckets(ctx, req)
        elif not req.key:
            if method == "GET":
                return await buckets.get_bucket(ctx, req)
            if method == "HEAD":
                return await buckets.head_bucket(ctx, req)
            if method == "DELETE":
                return await buckets.delete_bucket(ctx, req)
        elif "uploadId" in req.query:
            if method == "GET":
                return await multipart.list_parts(ctx, req)
            if method == "DELETE":
                return await multipart.abort_upload(ctx, req)
        elif method in ("GET", "HEAD"):
            return await objects.get_object(ctx, req, head=method == "HEAD")
        elif method == "DELETE":
            return await objects.delete_object(ctx, req)
        raise _not_allowed(method)

    async def _write(self, req: S3Request, payload: Payload) -> S3Response:
        ctx, method = self.ctx, req.method
        if req.query and not subresources.NAMES.isdisjoint(req.query):
            return await subresources.serve(ctx, req, payload)
        if not req.bucket:
            raise _not_allowed(method)
        if not req.key:
            if method == "PUT":
                return await buckets.create_bucket(ctx, req, _small(payload))
            if "delete" in req.query:
                return await buckets.delete_objects(ctx, req, _small(payload))
            raise _not_allowed(method)
        if method == "PUT":
            if "uploadId" in req.query:
                return await multipart.upload_part(ctx, req, payload)
            return await objects.put_object(ctx, req, payload)
        if "uploads" in req.query:
            return await multipart.create_upload(ctx, req)
        if "uploadId" in req.query:
            return await multipart.complete_upload(ctx, req, _small(payload))
        raise not_implemented("POST on an object without ?uploads or ?uploadId")


def _small(payload: Payload) -> bytes:
    """The body of a request that carries an XML document."""
    if payload.data is None:
        raise S3Error("MalformedXML", "the XML document is too large")
    return payload.data


def _not_allowed(method: str) -> S3Error:
    return S3Error(
        "MethodNotAllowed", f"The specified method ({method}) is not allowed against this resource."
    )
