"""Multipart uploads: Create, UploadPart, Complete, Abort and ListParts."""

from __future__ import annotations

import re
import time
from typing import BinaryIO, cast

from montemap.s3api.body import Payload
from montemap.s3api.context import S3Context, meta_from_headers
from montemap.s3api.errors import S3Error
from montemap.s3api.objects import copy_source
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, iso_time, parse, text

MAX_PARTS_LISTED = 1000
_COPY_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d+)$")


async def create_upload(ctx: S3Context, req: S3Request) -> S3Response:
    meta = meta_from_headers(req.headers)
    upload_id = await ctx.call(lambda: ctx.store.create_upload(req.bucket, req.key, meta=meta))
    return xml_response(
        document(
            "InitiateMultipartUploadResult",
            el("Bucket", req.bucket),
            el("Key", req.key),
            el("UploadId", upload_id),
        )
    )


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
    for name, value in req.headers.items():
        if name.startswith("x-amz-checksum-") and name != "x-amz-checksum-algorithm":
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
            start, length = _copy_range(wanted, info.size)
            source.seek(start)
            part = cast(BinaryIO, Window(source, length))
            etag = ctx.store.upload_part(req.bucket, req.key, upload_id, number, part)
        return etag, time.time()

    etag, when = await ctx.call(copy_part, small=False)
    result = el("ETag", f'"{etag}"') + el("LastModified", iso_time(when))
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
    etag = await ctx.call(
        lambda: ctx.store.complete_upload(req.bucket, req.key, req.query["uploadId"], parts),
        small=False,
    )
    return xml_response(
        document(
            "CompleteMultipartUploadResult",
            el("Location", f"/{req.bucket}/{req.key}"),
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
        + el("LastModified", iso_time(part.last_modified))
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
