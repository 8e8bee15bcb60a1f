"""What every S3 handler works with: the store, the region, and where store calls run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from montemap.api.protocol import new_request_id
from montemap.s3api.encryption import encryption_headers, names_encryption
from montemap.s3api.errors import S3Error, from_store_error
from montemap.s3api.notifications import Notifier
from montemap.s3api.request import S3Request
from montemap.storage import LocalObjectStore, ObjectMeta, ObjectStore, ObjectStoreError

T = TypeVar("T")

#: Objects up to this size are read and written on the event loop (a local file
#: operation of this size costs less than a hop to a worker thread).
INLINE_LIMIT = 1024 * 1024
#: S3's default content type.
DEFAULT_TYPE = "binary/octet-stream"


@dataclass(frozen=True)
class S3Context:
    store: ObjectStore
    region: str
    #: Sends the buckets' event notifications (None: a server without Lambda).
    notifier: Notifier | None = None

    def notify(
        self,
        req: S3Request,
        event_name: str,
        key: str,
        *,
        size: int | None = None,
        etag: str | None = None,
    ) -> None:
        """Send ``event_name`` (``ObjectCreated:Put``...) of ``req.bucket/key`` to the
        functions the bucket's notification rules name."""
        if self.notifier is not None:
            self.notifier.emit(
                event_name,
                req.bucket,
                key,
                request_id=req.request_id or new_request_id(),
                source_ip=req.client_ip,
                size=size,
                etag=etag,
            )

    async def notify_change(self, req: S3Request, event_name: str) -> None:
        """Send ``event_name`` (``ObjectTagging:Put``, ``ObjectAcl:Put``...) of the object
        ``req`` names, with its ETag, as :meth:`notify` does."""
        if self.notifier is not None:
            info = await self.call(self.store.head, req.bucket, req.key)
            self.notify(req, event_name, req.key, etag=info.etag)

    @property
    def inline(self) -> bool:
        return isinstance(self.store, LocalObjectStore)

    async def call(self, fn: Callable[..., T], *args: object, small: bool = True) -> T:
        """``fn(*args)`` on the loop for small local work, else in a thread; S3 errors."""
        try:
            if small and self.inline:
                return fn(*args)
            return await asyncio.to_thread(fn, *args)
        except ObjectStoreError as exc:
            raise from_store_error(exc)


#: System metadata S3 keeps with an object and answers on GET and HEAD (besides the type).
KEPT_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)


#: The header that names an object's storage class (kept in its metadata unless STANDARD).
STORAGE_CLASS = "x-amz-storage-class"
#: S3's storage classes (``InvalidStorageClass`` for another).
STORAGE_CLASSES = frozenset(
    {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"}
    | {"GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"}
    | {"FSX_OPENZFS"}
)


def storage_class(headers: dict[str, str]) -> str | None:
    """The storage class a request names (``None``: none); ``InvalidStorageClass``."""
    value = headers.get(STORAGE_CLASS)
    if value is not None and value not in STORAGE_CLASSES:
        raise S3Error(
            "InvalidStorageClass", f"The storage class you specified is not valid: {value!r}"
        )
    return value


#: Where a website serving the bucket redirects requests for the object: kept and answered.
WEBSITE_REDIRECT = "x-amz-website-redirect-location"
#: S3's limit on a redirect location, in bytes.
_REDIRECT_LIMIT = 2048


def website_redirect(value: str) -> str:
    """A redirect location as S3 takes it: a path (``/``) or an ``http(s)://`` URL."""
    if not value.startswith(("/", "http://", "https://")) or len(value) > _REDIRECT_LIMIT:
        raise S3Error(
            "InvalidRedirectLocation",
            "The website redirect location must have a prefix of 'http://' or 'https://' "
            f"or '/', and be at most {_REDIRECT_LIMIT} bytes long: {value[:100]!r}",
        )
    return value


#: The prefix of the headers that put an object under Object Lock (a retention, a legal hold).
OBJECT_LOCK = "x-amz-object-lock-"


def missing_object_lock() -> S3Error:
    """S3's refusal of a retention or legal hold in a bucket without Object Lock (buckets
    here never have it: it needs versioned storage)."""
    return S3Error(
        "InvalidRequest",
        "Bucket is missing ObjectLockConfiguration (montemap's buckets have no Object Lock: "
        "it needs versioned storage, docs/s3.md)",
    )


#: Headers that give a new object tags (``x-amz-tagging``) or an ACL.
RECORD_HEADERS = frozenset(
    {"x-amz-tagging", "x-amz-acl", "x-amz-grant-read", "x-amz-grant-write"}
    | {"x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"}
)


#: The most bytes of user metadata (``x-amz-meta-*`` names, prefix aside, and values) one
#: request may set: S3's 2 KB.
METADATA_LIMIT = 2048


def meta_from_headers(headers: dict[str, str]) -> ObjectMeta:
    """``Content-Type``, ``x-amz-meta-*``, :data:`KEPT_HEADERS`, the storage class, a website
    redirect location, a KMS encryption (``encryption.py``), tags and ACL of a request.

    Names are lowercased, as S3 keeps them. ``aws-chunked`` is a transfer
    encoding of the request, not of the object: S3 drops it from the stored
    ``Content-Encoding`` (and stores none when it was the only one).
    """
    metadata: dict[str, str] = {}
    kept: dict[str, str] = {}
    records = encrypted = False
    for name, value in headers.items():
        if name.startswith("x-amz-meta-"):
            metadata[name[len("x-amz-meta-") :]] = value
        elif name in KEPT_HEADERS:
            kept[name] = value
        elif name in RECORD_HEADERS:
            records = True
        elif name == STORAGE_CLASS and storage_class(headers) != "STANDARD":
            kept[name] = value  # answered on GET and HEAD; STANDARD goes unnamed, as on S3
        elif name == WEBSITE_REDIRECT:
            kept[name] = website_redirect(value)
        elif names_encryption(name):
            encrypted = True
        elif name.startswith(OBJECT_LOCK):
            raise missing_object_lock()
    if metadata and sum(len(k) + len(v) for k, v in metadata.items()) > METADATA_LIMIT:
        raise S3Error(  # headers are decoded as latin-1: one character per byte sent
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size "
            f"({METADATA_LIMIT} bytes of x-amz-meta-* names and values).",
        )
    if encrypted:  # kept only when not S3's default (encryption.py)
        kept.update(encryption_headers(headers))
    encoding = kept.get("content-encoding")
    if encoding is not None:
        parts = [p.strip() for p in encoding.split(",") if p.strip() not in ("aws-chunked", "")]
        if parts:
            kept["content-encoding"] = ",".join(parts)
        else:
            del kept["content-encoding"]
    if records:  # tags and an ACL (rare): parsed and checked by their modules
        from montemap.s3api.tagging import header_records

        tags, acl = header_records(headers)
        return ObjectMeta(headers.get("content-type", ""), metadata, kept, tags, acl)
    return ObjectMeta(headers.get("content-type", ""), metadata, kept)


def require_bucket(bucket: str) -> str:
    if not bucket:
        raise S3Error(
            "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    return bucket
