"""What the local backend keeps beside an object's bytes: its ETag and S3 metadata.

Each object file carries one extended attribute (``user.montemap.object``, a
small JSON document: the MD5 ETag, the content type, the ``x-amz-meta-*``
pairs, the other system metadata S3 keeps such as ``Cache-Control``, the tag
set and the recorded ACL). It is set on the temporary file before the rename
that publishes the object, so bytes and metadata change together; tagging or
an ACL put on an existing object rewrites it in place
(:func:`replace_record`). A file written by something
else (or on a file system without user extended attributes) has no record:
its ETag is then derived from its modification time and size, and its
content type is S3's default.

An object written with :meth:`~montemap.storage.local.LocalObjectStore.put_no_etag`
(a batch output nobody may ever ask the ETag of) skips the MD5: its record
says the ETag is deferred (:data:`DEFERRED_RECORD`), and the first read of
its record computes the MD5 from the file's bytes and keeps it in a second
attribute (``user.montemap.etag``) of that same file. The hash and the
attribute go through one descriptor, so they belong to the bytes hashed even
if the object is replaced meanwhile (a replacement is a new file), and the
record itself is never rewritten by a reader: a concurrent tag update loses
nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import BinaryIO

from montemap.storage.base import Grants, ObjectMeta, ObjectStoreError, Tags

#: The extended attribute that holds an object's record.
XATTR = "user.montemap.object"
#: The extended attribute that holds a deferred ETag once computed.
ETAG_XATTR = "user.montemap.etag"
#: The record of an object written without its ETag (computed when first read).
DEFERRED_RECORD = b'{"etag":null}'


class HashingWriter:
    """Writes through to ``sink`` while computing the MD5 of what passed."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.md5.update(data)
        self.size += len(data)
        return self.sink.write(data)


#: The start of a record holding an ETag alone (what a write without metadata stores).
_ETAG_ONLY = b'{"etag":"'


def encode_record(etag: str, meta: ObjectMeta | None) -> bytes:
    """The attribute value for an object with this ETag and metadata."""
    if _no_metadata(meta) and _plain(etag):  # the JSON below, without building it
        return _ETAG_ONLY + etag.encode() + b'"}'
    record: dict[str, object] = {"etag": etag}
    if meta is not None:
        if meta.content_type:
            record["type"] = meta.content_type
        if meta.metadata:
            record["meta"] = dict(meta.metadata)
        if meta.headers:
            record["headers"] = dict(meta.headers)
        if meta.tags:
            record["tags"] = [list(pair) for pair in meta.tags]
        if meta.acl:
            record["acl"] = [list(grant) for grant in meta.acl]
    return json.dumps(record, separators=(",", ":")).encode()


def _no_metadata(meta: ObjectMeta | None) -> bool:
    return meta is None or not (
        meta.content_type or meta.metadata or meta.headers or meta.tags or meta.acl
    )


def _plain(etag: str) -> bool:
    """An ETag JSON writes as it is (hex digits and ``-``, as every ETag here)."""
    return etag.isascii() and etag.replace("-", "").isalnum()


#: The extended attribute that holds the part sizes of a completed multipart upload.
PARTS_XATTR = "user.montemap.parts"


def store_part_sizes(fd: int, sizes: list[int]) -> None:
    """Keep the part sizes of a multipart object with its file (GetObject ``partNumber``);
    silently nothing where attributes are unsupported."""
    try:
        os.setxattr(fd, PARTS_XATTR, ",".join(map(str, sizes)).encode())
    except OSError:
        pass


def read_part_sizes(fd: int) -> list[int] | None:
    """The part sizes kept by :func:`store_part_sizes` (``None``: none kept)."""
    try:
        raw = os.getxattr(fd, PARTS_XATTR).decode("ascii")
        return [int(size) for size in raw.split(",")]
    except (OSError, ValueError):
        return None


def store_record(fd: int, record: bytes) -> None:
    """Attach ``record`` to an open file; silently nothing where attributes are unsupported."""
    try:
        os.setxattr(fd, XATTR, record)
    except OSError:
        pass  # e.g. ENOTSUP: the object keeps its bytes, its ETag falls back


def read_record(path: str | os.PathLike[str] | int) -> tuple[str | None, ObjectMeta]:
    """The stored ETag (``None`` without a record) and metadata of a file (path or descriptor)."""
    try:
        raw = os.getxattr(path, XATTR)
    except OSError:
        return None, ObjectMeta()
    if raw == DEFERRED_RECORD:
        return deferred_etag(path), ObjectMeta()
    if raw.startswith(_ETAG_ONLY) and raw.endswith(b'"}') and raw.count(b'"') == 4:
        alone = raw[len(_ETAG_ONLY) : -2].decode("latin-1")
        if _plain(alone):  # an ETag alone: no JSON parser needed
            return alone, ObjectMeta()
    try:
        record = json.loads(raw)
    except ValueError:
        return None, ObjectMeta()
    if not isinstance(record, dict):
        return None, ObjectMeta()
    etag = record.get("etag")
    content_type = record.get("type", "")
    metadata = record.get("meta", {})
    if not isinstance(metadata, Mapping):
        metadata = {}
    headers = record.get("headers", {})
    if not isinstance(headers, Mapping):
        headers = {}
    tags = record.get("tags")
    acl = record.get("acl")
    return (
        etag if isinstance(etag, str) else None,
        ObjectMeta(
            content_type if isinstance(content_type, str) else "",
            {str(k): str(v) for k, v in metadata.items()},
            {str(k): str(v) for k, v in headers.items()},
            decode_tags(tags) if tags else (),
            decode_grants(acl) if acl else (),
        ),
    )


def deferred_etag(path: str | os.PathLike[str] | int) -> str | None:
    """The MD5 ETag of an object written without one: kept from an earlier read, or
    computed now and kept (where the attribute can be written). ``None`` when the
    file is gone or its record no longer says deferred (it was replaced meanwhile)."""
    try:
        fd = path if isinstance(path, int) else os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            if not isinstance(path, int) and os.getxattr(fd, XATTR) != DEFERRED_RECORD:
                return None  # replaced since its record was read: not this file's ETag
        except OSError:
            return None
        try:
            kept = os.getxattr(fd, ETAG_XATTR).decode("latin-1")
            if len(kept) == 32 and _plain(kept):
                return kept
        except OSError:
            pass
        etag = _fd_md5(fd)
        try:
            os.setxattr(fd, ETAG_XATTR, etag.encode())
        except OSError:
            pass  # e.g. not the file's owner: computed again next time
        return etag
    finally:
        if not isinstance(path, int):
            os.close(fd)


def _fd_md5(fd: int) -> str:
    """The MD5 of a file's bytes, read without moving its offset."""
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def decode_tags(value: object) -> Tags:
    """A record's ``[[key, value], ...]`` as a tag set (malformed entries dropped)."""
    if not isinstance(value, list):
        return ()
    return tuple(
        (str(item[0]), str(item[1])) for item in value if isinstance(item, list) and len(item) == 2
    )


def decode_grants(value: object) -> Grants:
    """A record's ``[[type, id or uri, permission], ...]`` as grants (malformed dropped)."""
    if not isinstance(value, list):
        return ()
    return tuple(
        (str(item[0]), str(item[1]), str(item[2]))
        for item in value
        if isinstance(item, list) and len(item) == 3
    )


def replace_record(fd: int, record: bytes) -> None:
    """Rewrite the record of an existing object; an error where attributes are unsupported."""
    try:
        os.setxattr(fd, XATTR, record)
    except OSError as exc:
        raise ObjectStoreError(
            "NotImplemented",
            f"the object store's file system cannot keep extended attributes ({exc.strerror}): "
            "tags and ACLs need them",
        )


def fallback_etag(st: os.stat_result) -> str:
    """The ETag of a file without a record: modification time and size."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


def multipart_etag(part_md5s: list[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, ``-`` part count."""
    joined = b"".join(bytes.fromhex(md5) for md5 in part_md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def file_md5(path: str | os.PathLike[str]) -> str:
    """The MD5 of a file's bytes, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
