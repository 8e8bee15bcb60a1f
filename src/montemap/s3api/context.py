"""What every S3 handler works with: the store, the region, and where store calls run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from montemap.s3api.errors import S3Error, from_store_error
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


def meta_from_headers(headers: dict[str, str]) -> ObjectMeta:
    """``Content-Type``, ``x-amz-meta-*`` and :data:`KEPT_HEADERS` of a request.

    Names are lowercased, as S3 keeps them. ``aws-chunked`` is a transfer
    encoding of the request, not of the object: S3 drops it from the stored
    ``Content-Encoding`` (and stores none when it was the only one).
    """
    metadata: dict[str, str] = {}
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith("x-amz-meta-"):
            metadata[name[len("x-amz-meta-") :]] = value
        elif name in KEPT_HEADERS:
            kept[name] = value
    encoding = kept.get("content-encoding")
    if encoding is not None:
        parts = [p.strip() for p in encoding.split(",") if p.strip() not in ("aws-chunked", "")]
        if parts:
            kept["content-encoding"] = ",".join(parts)
        else:
            del kept["content-encoding"]
    return ObjectMeta(headers.get("content-type", ""), metadata, kept)


def require_bucket(bucket: str) -> str:
    if not bucket:
        raise S3Error(
            "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    return bucket
