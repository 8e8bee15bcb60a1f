"""The object store interface: buckets of keyed byte objects.

Two backends implement it: :class:`~montemap.storage.local.LocalObjectStore`
(a directory per bucket, the embedded default) and the S3 backend. Everything
that reads loans, manifests or results goes through this interface, so the
same code runs on a laptop and against S3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from montemap.errors import MontemapError


class ObjectStoreError(MontemapError):
    """A failed object store operation; ``code`` follows S3 (``NoSuchKey``...)."""

    def __init__(self, code: str, message: str, *, bucket: str = "", key: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.bucket = bucket
        self.key = key


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object. ``etag`` is opaque and unquoted (S3 sends it in double quotes)."""

    key: str
    size: int
    etag: str
    last_modified: float  # seconds since the epoch
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class ListPage:
    """One page of a listing, with the token for the next one (None at the end)."""

    objects: list[ObjectInfo]
    next_token: str | None


class ObjectStore(Protocol):
    """What every backend provides. Keys are validated by the backend."""

    def open(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream of the object; raises ``NoSuchKey``/``NoSuchBucket``."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """The whole object."""
        ...

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Write (atomically replace) the object; returns its ETag (unquoted)."""
        ...

    def put_stream(self, bucket: str, key: str, stream: BinaryIO) -> str:
        """Write the object from a readable stream without loading it whole; returns its ETag."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Metadata of one object."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object (no error when absent, like S3)."""
        ...

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        *,
        token: str | None = None,
        max_keys: int = 1000,
    ) -> ListPage:
        """One page of keys under ``prefix`` in S3 order (UTF-8 bytes), after ``token``.

        ``next_token`` is ``None`` on the last page.
        """
        ...

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist."""
        ...


def iter_objects(store: ObjectStore, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
    """Every object under ``prefix``, page by page (never the whole listing at once)."""
    token: str | None = None
    while True:
        page = store.list_page(bucket, prefix, token=token)
        yield from page.objects
        if page.next_token is None:
            return
        token = page.next_token
