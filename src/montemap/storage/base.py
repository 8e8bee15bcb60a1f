"""The object store interface: buckets of keyed byte objects.

Two backends implement it: :class:`~montemap.storage.local.LocalObjectStore`
(a directory per bucket, the embedded default) and the S3 backend. Everything
that reads loans, manifests or results goes through this interface, so the
same code runs on a laptop and against S3.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from montemap.errors import MontemapError

#: A tag set: ``(key, value)`` pairs (S3 tagging), at most one per key.
Tags = tuple[tuple[str, str], ...]
#: One ACL grant: grantee type (``CanonicalUser`` or ``Group``), its ID or URI, permission.
Grant = tuple[str, str, str]
Grants = tuple[Grant, ...]


class ObjectStoreError(MontemapError):
    """A failed object store operation; ``code`` follows S3 (``NoSuchKey``...)."""

    def __init__(self, code: str, message: str, *, bucket: str = "", key: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.bucket = bucket
        self.key = key


#: An object's content type when its writer gave none (S3's default).
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
#: Smallest size of every part of a multipart upload but the last (S3's limit).
MIN_PART_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True)
class ObjectMeta:
    """What a writer says about an object besides its bytes (S3 ``Content-Type``, ``x-amz-meta-*``)."""

    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Other system metadata S3 keeps and answers (``cache-control``, ``content-encoding``,
    #: ``content-disposition``, ``content-language``, ``expires``, the storage class and a
    #: checksum the object was put with, ``x-amz-checksum-<algorithm>``, other than a CRC32
    #: the S3 API computes again when asked: docs/s3.md), names lowercased.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The object's tag set (S3 object tagging), in the order given.
    tags: Tags = ()
    #: The object's access control list (recorded, never enforced); empty: the owner only.
    acl: Grants = ()


@dataclass(frozen=True)
class ObjectInfo:
    """One object. ``etag`` is opaque and unquoted (S3 sends it in double quotes).

    Listings may leave ``content_type`` and ``metadata`` empty; ``head`` fills them.
    """

    key: str
    size: int
    etag: str
    last_modified: float  # seconds since the epoch
    storage_class: str = "STANDARD"
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # as ObjectMeta.headers
    tags: Tags = ()  # as ObjectMeta.tags
    acl: Grants = ()  # as ObjectMeta.acl


@dataclass(frozen=True)
class BucketInfo:
    """One bucket and when it was created (seconds since the epoch)."""

    name: str
    created: float


@dataclass(frozen=True)
class PartInfo:
    """One uploaded part of a multipart upload; ``etag`` unquoted (the part's MD5)."""

    number: int
    size: int
    etag: str
    last_modified: float


@dataclass(frozen=True)
class UploadInfo:
    """One multipart upload in progress: its key, id and start (seconds since the epoch)."""

    key: str
    upload_id: str
    initiated: float


@dataclass(frozen=True)
class ListPage:
    """One page of a listing, with the token for the next one (None at the end)."""

    objects: list[ObjectInfo]
    next_token: str | None


@dataclass(frozen=True)
class KeyPage:
    """One page of a keys-only listing (:meth:`ObjectStore.list_keys_page`), with the
    token for the next one (None at the end)."""

    keys: list[str]
    next_token: str | None


class ObjectStore(Protocol):
    """What every backend provides. Keys are validated by the backend."""

    def open(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream of the object; raises ``NoSuchKey``/``NoSuchBucket``."""
        ...

    def open_info(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's info (with metadata) and a stream of exactly those bytes."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """The whole object."""
        ...

    def put(self, bucket: str, key: str, data: bytes, *, meta: ObjectMeta | None = None) -> str:
        """Write (atomically replace) the object; returns its ETag (unquoted MD5)."""
        ...

    def put_no_etag(self, bucket: str, key: str, data: bytes) -> None:
        """Write (atomically replace) the object where the caller needs no ETag back
        (batch outputs): the local backend then leaves the MD5 until it is asked for."""
        ...

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, meta: ObjectMeta | None = None
    ) -> str:
        """Write the object from a readable stream without loading it whole; returns its ETag."""
        ...

    def put_stream_no_etag(self, bucket: str, key: str, stream: BinaryIO) -> None:
        """As ``put_stream`` where the caller needs no ETag back (see ``put_no_etag``)."""
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
        start_after: str | None = None,
    ) -> ListPage:
        """One page of keys under ``prefix`` in S3 order (UTF-8 bytes), after ``token``.

        ``start_after`` (a key) skips every key up to it, as S3's ``StartAfter``.
        ``next_token`` is ``None`` on the last page.
        """
        ...

    def list_keys_page(
        self, bucket: str, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> KeyPage:
        """One page of the keys alone under ``prefix``, in S3 order, after ``token``
        (a ``next_token`` of this method): the listing for callers that use only the
        names. It lists the same keys as :meth:`list_page` without their size, date or
        ETag, so the local backend neither stats the files nor computes the MD5 that
        ``put_no_etag`` left for later (S3 lists the same either way).
        """
        ...

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist."""
        ...

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket exists."""
        ...

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket, by name."""
        ...

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket; ``BucketNotEmpty`` while it holds objects or uploads."""
        ...

    def copy(
        self,
        src_bucket: str,
        src_key: str,
        bucket: str,
        key: str,
        *,
        meta: ObjectMeta | None = None,
    ) -> ObjectInfo:
        """Copy an object (with its metadata, or ``meta`` in its place); the copy's info."""
        ...

    def create_upload(self, bucket: str, key: str, *, meta: ObjectMeta | None = None) -> str:
        """Start a multipart upload of ``key``; its upload id."""
        ...

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, stream: BinaryIO
    ) -> str:
        """Store (or replace) part ``number`` (1-10000); its ETag. ``NoSuchUpload`` if unknown."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        """The parts uploaded so far, by number."""
        ...

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str:
        """Join the named ``(number, etag)`` parts into the object; its ETag (``md5-N``).

        ``InvalidPart`` for a part not uploaded or with another ETag,
        ``InvalidPartOrder`` unless ascending, ``EntityTooSmall`` for a part but
        the last under :data:`MIN_PART_SIZE`.
        """
        ...

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Discard an upload and its parts; ``NoSuchUpload`` if unknown."""
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


def iter_keys(store: ObjectStore, bucket: str, prefix: str = "") -> Iterator[str]:
    """Every key under ``prefix``, page by page, without the objects' size, date or
    ETag (:meth:`ObjectStore.list_keys_page`): for listings that use only the names."""
    token: str | None = None
    while True:
        page = store.list_keys_page(bucket, prefix, token=token)
        yield from page.keys
        if page.next_token is None:
            return
        token = page.next_token
