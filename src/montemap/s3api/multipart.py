"""Multipart uploads: Create, UploadPart, Complete, Abort and ListParts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import BinaryIO, cast

from montemap.s3api.body import Payload
from montemap.s3api.conditions import check_copy_source, conditional_write
from montemap.s3api.context import S3Context, meta_from_headers
from montemap.s3api.copy_source import copy_source
from montemap.s3api.encryption import answer_encryption
from montemap.s3api.errors import S3Error
from montemap.s3api.listing import encoder
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, object_time, parse, text
from montemap.storage.base import UploadInfo
from montemap.storage.grants import OWNER_ID, OWNER_NAME
from montemap.storage.records import records_for

MAX_PARTS_LISTED = 1000
_COPY_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d+)$")


async def create_upload(ctx: S3Context, req: S3Request) -> S3Response:
    meta = meta_from_headers(req.headers)
    upload_id = await ctx.call(lambda: ctx.store.create_upload(req.bucket, req.key, meta=meta))
    response = xml_response(
        document(
            "InitiateMultipartUploadResult",
            el("Bucket", req.bucket),
            el("Key", req.key),
            el("UploadId", upload_id),
        )
    )
    answer_encryption(response, meta.headers, all_kept=True)
    return response


def _part_number(req: S3Request) -> int:
    value = req.query.get("partNumber", "")
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise S3Error(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
        )
    return int(value)


async def upload_part(ctx: S3Context, req: S3Request, payload: Payload) -> S3Response:
    if "x-amz-copy-source" in req.headers:
        return await upload_part_copy(ctx, req)
    number = _part_number(req)
    etag = await ctx.call(
        lambda: ctx.store.upload_part(
            req.bucket, req.key, req.query["uploadId"], number, payload.stream()
        ),
        small=payload.size <= 1024 * 1024,
    )
    response = S3Response().header("etag", f'"{etag}"')
    for name, value in payload.checksums.items():  # as sent: header or trailer
        response.header(name, value)
    return response


async def upload_part_copy(ctx: S3Context, req: S3Request) -> S3Response:
    """UploadPartCopy: a part from (a byte range of) an existing object."""
    number = _part_number(req)
    src_bucket, src_key = copy_source(req.headers["x-amz-copy-source"])
    upload_id = req.query["uploadId"]
    wanted = req.headers.get("x-amz-copy-source-range")

    def copy_part() -> tuple[str, float]:
        info, source = ctx.store.open_info(src_bucket, src_key)
        with source:
            check_copy_source(req, info)
            start, length = _copy_range(wanted, info.size)
            source.seek(start)
            part = cast(BinaryIO, Window(source, length))
            etag = ctx.store.upload_part(req.bucket, req.key, upload_id, number, part)
        return etag, time.time()

    etag, when = await ctx.call(copy_part, small=False)
    result = el("ETag", f'"{etag}"') + el("LastModified", object_time(when))
    return xml_response(document("CopyPartResult", result))


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``(start, length)`` of ``x-amz-copy-source-range`` (``bytes=first-last``, inclusive)."""
    if header is None:
        return 0, size
    match = _COPY_RANGE_RE.match(header.strip())
    if match is None:
        raise S3Error(
            "InvalidArgument",
            f"The x-amz-copy-source-range value must be of the form bytes=first-last "
            f"where first and last are the zero-based offsets of the first and last bytes "
            f"to copy (got {header!r})",
        )
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise S3Error(
            "InvalidRange",
            f"The requested range {header!r} is not satisfiable (source object size {size})",
        )
    return first, last - first + 1


class Window:
    """At most ``length`` bytes of ``source`` from where it stands (read as a stream)."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self.source = source
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.source.read(size) if size else b""
        self.left -= len(data)
        return data


async def complete_upload(ctx: S3Context, req: S3Request, body: bytes) -> S3Response:
    root = parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML", f"expected <CompleteMultipartUpload>, not <{root.tag}>")
    parts: list[tuple[int, str]] = []
    for node in root.findall("Part"):
        number, etag = text(node, "PartNumber"), text(node, "ETag")
        if number is None or not number.strip().isdigit() or etag is None:
            raise S3Error("MalformedXML", "each <Part> needs a <PartNumber> and an <ETag>")
        parts.append((int(number), etag.strip()))
    async with conditional_write(ctx, req):
        etag = await ctx.call(
            lambda: ctx.store.complete_upload(req.bucket, req.key, req.query["uploadId"], parts),
            small=False,
        )
    if ctx.notifier is not None:
        size = (await ctx.call(ctx.store.head, req.bucket, req.key)).size
        ctx.notify(req, "ObjectCreated:CompleteMultipartUpload", req.key, size=size, etag=etag)
    return xml_response(
        document(
            "CompleteMultipartUploadResult",
            el("Location", req.object_url(req.key)),
            el("Bucket", req.bucket),
            el("Key", req.key),
            el("ETag", f'"{etag}"'),
        )
    )


async def abort_upload(ctx: S3Context, req: S3Request) -> S3Response:
    await ctx.call(ctx.store.abort_upload, req.bucket, req.key, req.query["uploadId"])
    return S3Response(204)


async def list_parts(ctx: S3Context, req: S3Request) -> S3Response:
    upload_id = req.query["uploadId"]
    parts = await ctx.call(ctx.store.list_parts, req.bucket, req.key, upload_id)
    marker_text = req.query.get("part-number-marker", "0")
    marker = int(marker_text) if marker_text.isdigit() else 0
    max_text = req.query.get("max-parts", str(MAX_PARTS_LISTED))
    max_parts = min(int(max_text), MAX_PARTS_LISTED) if max_text.isdigit() else MAX_PARTS_LISTED
    after = [part for part in parts if part.number > marker]
    shown = after[:max_parts]
    truncated = len(after) > len(shown)
    items = "".join(
        "<Part>"
        + el("PartNumber", part.number)
        + el("LastModified", object_time(part.last_modified))
        + el("ETag", f'"{part.etag}"')
        + el("Size", part.size)
        + "</Part>"
        for part in shown
    )
    fields = [
        el("Bucket", req.bucket),
        el("Key", req.key),
        el("UploadId", upload_id),
        el("PartNumberMarker", marker),
        el("NextPartNumberMarker", shown[-1].number if shown else marker),
        el("MaxParts", max_parts),
        el("IsTruncated", truncated),
        el("StorageClass", "STANDARD"),
    ]
    return xml_response(document("ListPartsResult", *fields, items))


MAX_UPLOADS_LISTED = 1000


def _max_uploads(value: str | None) -> int:
    if value is None:
        return MAX_UPLOADS_LISTED
    if not value.isdigit():
        raise S3Error(
            "InvalidArgument",
            f"Provided max-uploads not an integer or within integer range: {value!r}",
        )
    return min(int(value), MAX_UPLOADS_LISTED)


def _after_markers(uploads: list[UploadInfo], key_marker: str, id_marker: str) -> list[UploadInfo]:
    """The uploads after (``key-marker``, ``upload-id-marker``), as S3 resumes a listing.

    Without an upload id marker, only keys after the key marker; with one, also
    the uploads of the marker's key that come after that upload.
    """
    if not key_marker:
        return uploads
    if not id_marker:
        return [u for u in uploads if u.key > key_marker]
    same = [u for u in uploads if u.key == key_marker]
    ids = [u.upload_id for u in same]
    later = same[ids.index(id_marker) + 1 :] if id_marker in ids else []
    if id_marker not in ids:
        later = [u for u in same if u.upload_id > id_marker]
    return later + [u for u in uploads if u.key > key_marker]


async def list_uploads(ctx: S3Context, req: S3Request) -> S3Response:
    """GET ``?uploads`` on a bucket: ListMultipartUploads with prefixes, delimiter, markers."""
    query = req.query
    name = encoder(query)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker, id_marker = query.get("key-marker", ""), query.get("upload-id-marker", "")
    max_uploads = _max_uploads(query.get("max-uploads"))
    every = await ctx.call(records_for(ctx.store).list_uploads, req.bucket, small=False)
    candidates = _after_markers(
        [u for u in every if u.key.startswith(prefix)], key_marker, id_marker
    )
    uploads: list[UploadInfo] = []
    prefixes: list[str] = []
    truncated, last_key, last_id = False, "", ""
    for upload in candidates:
        at = upload.key.find(delimiter, len(prefix)) if delimiter else -1
        group = upload.key[: at + len(delimiter)] if at >= 0 else None
        if group is not None and (group == key_marker or (prefixes and prefixes[-1] == group)):
            continue
        if len(uploads) + len(prefixes) == max_uploads:
            truncated = True
            break
        if group is None:
            uploads.append(upload)
            last_key, last_id = upload.key, upload.upload_id
        else:
            prefixes.append(group)
            last_key, last_id = group, ""
    fields = [
        el("Bucket", req.bucket),
        el("KeyMarker", name(key_marker)),
        el("UploadIdMarker", id_marker),
        el("NextKeyMarker", name(last_key)),
        el("NextUploadIdMarker", last_id),
        el("Prefix", name(prefix)),
        *([el("Delimiter", name(delimiter))] if delimiter else []),
        el("MaxUploads", max_uploads),
        el("IsTruncated", truncated),
        *([el("EncodingType", "url")] if "encoding-type" in query else []),
    ]
    items = [_upload_xml(upload, name) for upload in uploads]
    items += [f"<CommonPrefixes>{el('Prefix', name(p))}</CommonPrefixes>" for p in prefixes]
    return xml_response(document("ListMultipartUploadsResult", *fields, *items))


def _upload_xml(upload: UploadInfo, name: Callable[[str], str]) -> str:
    who = el("ID", OWNER_ID) + el("DisplayName", OWNER_NAME)
    return (
        "<Upload>"
        + el("Key", name(upload.key))
        + el("UploadId", upload.upload_id)
        + f"<Initiator>{who}</Initiator><Owner>{who}</Owner>"
        + el("StorageClass", "STANDARD")
        + el("Initiated", object_time(upload.initiated))
        + "</Upload>"
    )
