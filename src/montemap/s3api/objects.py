"""Object operations: PutObject, CopyObject, GetObject (ranges), HeadObject, DeleteObject."""

from __future__ import annotations

import asyncio
import base64
import re
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import BinaryIO

from montemap.s3api.body import Payload
from montemap.s3api.conditions import (
    check_copy_source,
    conditional_write,
    delete_conditionally,
    etag_matches,
    has_copy_conditions,
    modified_since,
    precondition_failed,
)
from montemap.s3api.context import (
    DEFAULT_TYPE,
    INLINE_LIMIT,
    KEPT_HEADERS,
    STORAGE_CLASS,
    WEBSITE_REDIRECT,
    S3Context,
    meta_from_headers,
)
from montemap.s3api.copy_source import copy_source
from montemap.s3api.encryption import RECORDED, answer_encryption, encryption_headers
from montemap.s3api.errors import S3Error
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, http_date, xml_response
from montemap.s3api.tagging import copy_meta
from montemap.s3api.xmlio import document, el, object_time
from montemap.storage import LocalObjectStore, ObjectInfo, ObjectMeta

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: A multipart object's ETag: the MD5 of its parts' MD5s, ``-``, the number of parts.
_MULTIPART_ETAG_RE = re.compile(r"^[0-9a-f]{32}-(\d{1,5})$")
_CHUNK = 1 << 20


async def put_object(ctx: S3Context, req: S3Request, payload: Payload) -> S3Response:
    if "x-amz-copy-source" in req.headers:
        return await copy_object(ctx, req)
    if "x-amz-write-offset-bytes" in req.headers:  # never a replacement of the object
        raise S3Error(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented: "
            "x-amz-write-offset-bytes (appends are served by S3 Express directory buckets only)",
        )
    meta = meta_from_headers(req.headers)
    kept = kept_checksums(payload.checksums, payload.size)
    if kept:  # answered when asked for; a small object's CRC32 is computed then instead
        meta = replace(meta, headers={**meta.headers, **kept})
    async with conditional_write(ctx, req):
        if payload.data is not None and payload.size <= INLINE_LIMIT:
            data = payload.data
            etag = await ctx.call(lambda: ctx.store.put(req.bucket, req.key, data, meta=meta))
        else:
            etag = await ctx.call(
                lambda: ctx.store.put_stream(req.bucket, req.key, payload.stream(), meta=meta),
                small=False,
            )
    response = S3Response().header("etag", f'"{etag}"')
    _answer_checksums(response, payload.checksums)  # the one sent, stored or not
    answer_encryption(response, meta.headers, all_kept=True)
    ctx.notify(req, "ObjectCreated:Put", req.key, size=payload.size, etag=etag)
    return response


#: The header naming how an object's checksum was computed; S3's one kind for an
#: object put whole (and the only kind answered here).
CHECKSUM_TYPE = "x-amz-checksum-type"
FULL_OBJECT = "FULL_OBJECT"
_CHECKSUM_PREFIX = "x-amz-checksum-"
#: The checksum botocore and the AWS CLI send with every PutObject by default.
CRC32 = "x-amz-checksum-crc32"
#: The largest object whose CRC32 is computed from its bytes when asked for (GetObject,
#: HeadObject, GetObjectAttributes, CopyObject) rather than stored: up to it a sent
#: CRC32 is not kept, so a small object's record stays ``{"etag":...}``, which fits in
#: its inode (a checksum added to it takes a 4 KB attribute block of its own). A larger
#: object keeps the CRC32 it was sent (its block is nothing beside its bytes).
CHECKSUM_LIMIT = 64 * 1024 * 1024


def kept_checksums(sent: Mapping[str, str], size: int) -> dict[str, str]:
    """The checksums of a PutObject to store with the object: all but a CRC32 that
    :data:`CHECKSUM_LIMIT` lets be computed instead (the CRC32 of the same bytes)."""
    return {n: v for n, v in sent.items() if n != CRC32 or size > CHECKSUM_LIMIT}


def _checksums(info: ObjectInfo) -> dict[str, str]:
    """The checksum stored with an object (``{"x-amz-checksum-<algorithm>": value}``)."""
    return {n: v for n, v in info.headers.items() if n.startswith(_CHECKSUM_PREFIX)}


def crc32_value(data: bytes | bytearray | memoryview, crc: int = 0) -> str:
    """S3's ``x-amz-checksum-crc32`` of ``data`` (``crc``: of bytes before it): the base64
    of the big-endian 4-byte CRC32."""
    return base64.b64encode(zlib.crc32(data, crc).to_bytes(4, "big")).decode()


def computes_crc32(ctx: S3Context, info: ObjectInfo) -> bool:
    """Whether an object without a stored checksum has its CRC32 computed when asked:
    a local object put whole (a multipart object has no checksum of its bytes here) of
    at most :data:`CHECKSUM_LIMIT` bytes."""
    return ctx.inline and info.size <= CHECKSUM_LIMIT and parts_count(info.etag) is None


def _stream_crc32(stream: BinaryIO, size: int) -> str | None:
    """The CRC32 value of an object's ``size`` bytes from its stream, rewound after
    (``None``: the file held fewer bytes)."""
    crc = 0
    left = size
    try:
        while left > 0:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                return None
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    finally:
        stream.seek(0)
    return crc32_value(b"", crc)


async def _object_checksums(
    ctx: S3Context, info: ObjectInfo, stream: BinaryIO | None
) -> dict[str, str]:
    """The checksum of a whole object: the one stored with it, else its CRC32 computed
    from ``stream`` (its bytes, read at its start) where :func:`computes_crc32`; read on the
    loop up to :data:`~montemap.s3api.context.INLINE_LIMIT`, as its bytes are."""
    stored = _checksums(info)
    if stored or stream is None or not computes_crc32(ctx, info):
        return stored
    value = await ctx.call(_stream_crc32, stream, info.size, small=info.size <= INLINE_LIMIT)
    return {CRC32: value} if value is not None else {}


def _answer_checksums(response: S3Response, checksums: Mapping[str, str]) -> None:
    for name, value in checksums.items():
        response.header(name, value).header(CHECKSUM_TYPE, FULL_OBJECT)


def _checksum_fields(checksums: Mapping[str, str]) -> str:
    """``<ChecksumCRC32>...</ChecksumCRC32><ChecksumType>FULL_OBJECT</ChecksumType>`` of
    an object's checksum (``""``: none)."""
    named = "".join(
        el(f"Checksum{name[len(_CHECKSUM_PREFIX) :].upper()}", value)
        for name, value in checksums.items()
    )
    return named + el("ChecksumType", FULL_OBJECT) if named else ""


#: Headers that make a copy of an object onto itself one S3 takes (a change besides
#: the metadata: storage class, website redirect, encryption).
_SELF_COPY_CHANGES = (
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
)


async def copy_object(ctx: S3Context, req: S3Request) -> S3Response:
    src_bucket, src_key = copy_source(req.headers["x-amz-copy-source"])
    directive = req.header("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", f"Unknown metadata directive {directive!r}")
    if (
        (src_bucket, src_key) == (req.bucket, req.key)
        and directive == "COPY"
        and not any(name in req.headers for name in _SELF_COPY_CHANGES)
    ):
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.",
        )
    if has_copy_conditions(req):
        check_copy_source(req, await ctx.call(ctx.store.head, src_bucket, src_key))
    meta = await copy_meta(ctx, req, src_bucket, src_key, directive)  # tags, ACL: tagging.py
    if isinstance(ctx.store, LocalObjectStore):
        meta = await _copy_own_headers(ctx, req, src_bucket, src_key, meta)
        if directive == "REPLACE":  # the bytes, so their checksum, are the source's
            source = await ctx.call(ctx.store.head, src_bucket, src_key)
            meta = replace(meta, headers={**meta.headers, **_checksums(source)})
    async with conditional_write(ctx, req):
        info = await ctx.call(
            lambda: ctx.store.copy(src_bucket, src_key, req.bucket, req.key, meta=meta),
            small=False,
        )
    result = el("LastModified", object_time(info.last_modified)) + el("ETag", f'"{info.etag}"')
    result += _checksum_fields(await _copy_checksums(ctx, req, info))  # as S3 answers it
    response = xml_response(document("CopyObjectResult", result))
    answer_encryption(response, encryption_headers(req.headers), all_kept=True)
    ctx.notify(req, "ObjectCreated:Copy", req.key, size=info.size, etag=info.etag)
    return response


async def _copy_checksums(ctx: S3Context, req: S3Request, info: ObjectInfo) -> dict[str, str]:
    """The checksum of a copy (``info``, as written): its source's stored one, else its
    CRC32 computed from the copy's bytes (if still the copy's: same ETag)."""
    stored = _checksums(info)
    if stored or not computes_crc32(ctx, info):
        return stored
    now, stream = await ctx.call(ctx.store.open_info, req.bucket, req.key)
    try:
        if now.etag != info.etag:  # replaced meanwhile: not the copy's bytes
            return {}
        return await _object_checksums(ctx, now, stream)
    finally:
        stream.close()


#: What a copy never takes from its source, only from the request (as S3: the storage
#: class, else STANDARD; the website redirect location; the encryption, else SSE-S3; a
#: restore: a copy is a new object).
_NOT_COPIED = frozenset({STORAGE_CLASS, WEBSITE_REDIRECT, "x-amz-restore", *RECORDED})


async def _copy_own_headers(
    ctx: S3Context, req: S3Request, src_bucket: str, src_key: str, meta: ObjectMeta | None
) -> ObjectMeta:
    """The copy's metadata with the storage class, redirect and encryption the request
    names (:data:`_NOT_COPIED`), never the source's."""
    if meta is None:  # the source's metadata and tags as they are (it has no ACL)
        source = await ctx.call(ctx.store.head, src_bucket, src_key)
        meta = ObjectMeta(source.content_type, source.metadata, source.headers, source.tags)
    headers = {name: value for name, value in meta.headers.items() if name not in _NOT_COPIED}
    wanted = meta_from_headers(req.headers).headers
    headers.update((name, value) for name, value in wanted.items() if name in _NOT_COPIED)
    return replace(meta, headers=headers)


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end inclusive)`` of a single ``bytes=`` range; ``None`` for the whole object.

    A suffix range (``bytes=-n``) of an empty object is the whole (empty) object: there
    is no ``Content-Range`` for zero bytes; any other range of it is unsatisfiable.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None or not (match.group(1) or match.group(2)):
        return None  # S3 ignores a range it cannot parse (several ranges included)
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise _unsatisfiable(header, size)
        if size == 0:
            return None
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range (last before first): ignored, as S3 does
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, min(int(last), size - 1) if last else size - 1


def parts_count(etag: str) -> int | None:
    """The number of parts of a multipart object's ETag (``None``: an object put whole)."""
    match = _MULTIPART_ETAG_RE.match(etag)
    return int(match.group(1)) if match else None


def _unsatisfiable(header: str, size: int) -> S3Error:
    """S3's 416: what was asked, the object's size, and ``Content-Range: bytes */<size>``."""
    return S3Error(
        "InvalidRange",
        "The requested range is not satisfiable",
        details={"RangeRequested": header.strip(), "ActualObjectSize": str(size)},
        headers={"content-range": f"bytes */{size}"},
    )


#: GetObject's ``response-*`` query parameters and the header each one overrides.
OVERRIDES = {f"response-{name}": name for name in ("content-type", *KEPT_HEADERS)}


def _object_headers(response: S3Response, info: ObjectInfo, req: S3Request) -> None:
    response.header("content-type", info.content_type or DEFAULT_TYPE)
    response.header("etag", f'"{info.etag}"')
    response.header("last-modified", http_date(info.last_modified))
    response.header("accept-ranges", "bytes")
    answer_encryption(response, info.headers, all_kept=False)
    for name, value in info.headers.items():
        if not name.startswith(_CHECKSUM_PREFIX):  # answered when asked for: _respond
            response.header(name, value)
    for name, value in info.metadata.items():
        response.header(f"x-amz-meta-{name}", value)
    if info.tags:
        response.header("x-amz-tagging-count", str(len(info.tags)))
    if req.query:
        for parameter, name in OVERRIDES.items():
            override = req.query.get(parameter)
            if override is not None:  # replaces the stored value
                response.headers = [h for h in response.headers if h[0] != name.encode()]
                response.header(name, override)


def _preconditions(req: S3Request, info: ObjectInfo) -> S3Response | None:
    """S3's conditional GET/HEAD: 412 (raised), a 304 response, or ``None`` to go on.

    As S3: ``If-Match`` true overrides a false ``If-Unmodified-Since``, and
    ``If-None-Match`` false overrides a true ``If-Modified-Since``. Dates are
    compared at one-second resolution (``Last-Modified``'s); a date that does
    not parse is ignored.
    """
    headers = req.headers
    if_match = headers.get("if-match")
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            raise precondition_failed()
    elif modified_since(headers.get("if-unmodified-since"), info) is True:
        raise precondition_failed()
    if_none = headers.get("if-none-match")
    if if_none is not None:
        if etag_matches(if_none, info.etag):
            return _not_modified(info)
    elif modified_since(headers.get("if-modified-since"), info) is False:
        return _not_modified(info)
    return None


def _not_modified(info: ObjectInfo) -> S3Response:
    response = S3Response(304)
    response.header("etag", f'"{info.etag}"')
    response.header("last-modified", http_date(info.last_modified))
    return response


async def get_object(ctx: S3Context, req: S3Request, *, head: bool = False) -> S3Response:
    asks = req.headers.get("x-amz-checksum-mode") == "ENABLED" and not (
        req.query and "partNumber" in req.query
    )
    if head and not (asks and ctx.inline):
        info = await ctx.call(ctx.store.head, req.bucket, req.key)
        stream: BinaryIO | None = None
    else:  # a HEAD with the checksum asked for may read the bytes, to compute it
        info, stream = await ctx.call(ctx.store.open_info, req.bucket, req.key)
    try:
        sizes = None
        if req.query and "partNumber" in req.query and isinstance(ctx.store, LocalObjectStore):
            sizes = await ctx.call(ctx.store.part_sizes, req.bucket, req.key)
        response, start = _respond(req, info, sizes)
        asks = asks and response.status == 200  # the whole object (no range), not a 304
        if stream is None or response.status == 304:
            return response
        length = response.length or 0
        if head or length > INLINE_LIMIT or not ctx.inline:
            if asks:  # read from the stream, rewound after
                _answer_checksums(response, await _object_checksums(ctx, info, stream))
            if head:
                return response
            response.stream = _chunks(stream, start, length)
        else:
            if start:
                stream.seek(start)
            response.body = stream.read(length)
            response.length = None
            stream.close()
            if asks:
                _answer_checksums(response, _body_checksums(ctx, info, response.body))
        stream = None  # the response owns it now
        return response
    finally:
        if stream is not None:
            stream.close()


def _body_checksums(ctx: S3Context, info: ObjectInfo, body: bytes) -> dict[str, str]:
    """:func:`_object_checksums` of an object whose bytes were all read (``body``)."""
    stored = _checksums(info)
    if stored or not computes_crc32(ctx, info):
        return stored
    return {CRC32: crc32_value(body)}


def _respond(
    req: S3Request, info: ObjectInfo, sizes: list[int] | None = None
) -> tuple[S3Response, int]:
    """The response's status and headers, and the offset its body starts at (``sizes``:
    the object's part sizes, for ``partNumber``). A 200 is of the whole object."""
    early = _preconditions(req, info)
    if early is not None:
        return early, 0
    part = req.query.get("partNumber") if req.query else None
    if part is None:
        wanted = _range(req.headers.get("range"), info.size)
        parts_count = None
    else:
        wanted, parts_count = _part(req, part, info, sizes)
    response = S3Response(200)
    _object_headers(response, info, req)
    if parts_count is not None:
        response.header("x-amz-mp-parts-count", str(parts_count))
    if wanted is None:
        response.length = info.size
        return response, 0
    start, end = wanted
    response.status = 206
    response.header("content-range", f"bytes {start}-{end}/{info.size}")
    response.length = end - start + 1
    return response, start


def _part(
    req: S3Request, value: str, info: ObjectInfo, sizes: list[int] | None
) -> tuple[tuple[int, int] | None, int | None]:
    """The byte range of GetObject's ``partNumber`` and the object's part count (``None``
    for an object put whole).

    Part 1 of an object put whole is all of it. A part of a multipart object is the
    bytes that part held, from the part sizes kept when the upload was completed
    (``sizes``); where they were not kept (an S3-backed store, a file written by other
    means), a multipart object of several parts is ``NotImplemented`` rather than
    answered with the wrong bytes.
    """
    if "range" in req.headers:
        raise S3Error(
            "InvalidRequest", "Cannot specify both Range header and partNumber query parameter"
        )
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise S3Error(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
        )
    number = int(value)
    count = parts_count(info.etag)
    if number > (count or 1):
        raise S3Error(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            headers={"content-range": f"bytes */{info.size}"},
        )
    if count is None or count == 1:
        return ((0, info.size - 1) if info.size else None), count
    if sizes is None or len(sizes) != count or sum(sizes) != info.size:
        raise S3Error(
            "NotImplemented",
            "A header or query you provided implies functionality that montemap does not "
            "implement: partNumber of an object whose part sizes were not kept (read it "
            "with Range)",
        )
    start = sum(sizes[: number - 1])
    if not sizes[number - 1]:
        return None, count
    return (start, start + sizes[number - 1] - 1), count


async def _chunks(stream: BinaryIO, start: int, length: int) -> AsyncIterator[bytes]:
    """The object's bytes from ``start``, read in a worker thread chunk by chunk."""
    try:
        if start:
            await asyncio.to_thread(_skip, stream, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(stream.read, min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        stream.close()


def _skip(stream: BinaryIO, count: int) -> None:
    if stream.seekable():
        stream.seek(count)
        return
    while count > 0:
        data = stream.read(min(_CHUNK, count))
        if not data:
            return
        count -= len(data)


#: What GetObjectAttributes may be asked for (``x-amz-object-attributes``).
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


async def get_attributes(ctx: S3Context, req: S3Request) -> S3Response:
    """GetObjectAttributes: the asked-for ``ETag`` (unquoted, as S3 answers it here),
    ``StorageClass``, ``ObjectSize``, ``Checksum`` (of an object put whole: the one
    stored with it, else its CRC32 computed, see :data:`CHECKSUM_LIMIT`) and, for a
    multipart object, ``ObjectParts``' part count (``PartsCount`` on the wire)."""
    wanted = {name.strip() for name in req.header("x-amz-object-attributes").split(",")}
    wanted.discard("")
    if not wanted or not wanted.issubset(ATTRIBUTES):
        raise S3Error(
            "InvalidArgument",
            f"x-amz-object-attributes must name one or more of {', '.join(ATTRIBUTES)}",
        )
    stream: BinaryIO | None = None
    if "Checksum" in wanted and ctx.inline:  # its CRC32 may be computed from its bytes
        info, stream = await ctx.call(ctx.store.open_info, req.bucket, req.key)
    else:
        info = await ctx.call(ctx.store.head, req.bucket, req.key)
    try:
        early = _preconditions(req, info)
        if early is not None:
            return early
        checksums = await _object_checksums(ctx, info, stream) if "Checksum" in wanted else {}
    finally:
        if stream is not None:
            stream.close()
    fields = []
    if "ETag" in wanted:
        fields.append(el("ETag", info.etag))
    if checksums:
        fields.append(f"<Checksum>{_checksum_fields(checksums)}</Checksum>")
    count = parts_count(info.etag)
    if "ObjectParts" in wanted and count is not None:
        fields.append("<ObjectParts>" + el("PartsCount", count) + "</ObjectParts>")
    if "StorageClass" in wanted:
        fields.append(el("StorageClass", info.storage_class))
    if "ObjectSize" in wanted:
        fields.append(el("ObjectSize", info.size))
    response = xml_response(document("GetObjectAttributesResponse", *fields))
    return response.header("last-modified", http_date(info.last_modified))


async def delete_object(ctx: S3Context, req: S3Request) -> S3Response:
    headers = req.headers
    await delete_conditionally(
        ctx,
        req.bucket,
        req.key,
        headers.get("if-match"),
        headers.get("x-amz-if-match-last-modified-time"),
        headers.get("x-amz-if-match-size"),
    )
    ctx.notify(req, "ObjectRemoved:Delete", req.key)
    return S3Response(204)
