"""POST Object: an object uploaded from an HTML form, as ``generate_presigned_post`` makes.

The body is ``multipart/form-data``: fields (``key``, the policy and its signature,
``Content-Type``, ``x-amz-meta-*``, ``acl``, ``tagging``, ``success_action_status``...)
and then one ``file``, the object's bytes; fields after the file are ignored, as on
S3. ``${filename}`` in the key is the file's name. The policy is checked in
:mod:`montemap.s3api.post_policy`; a server without keys checks no signature but
still holds the form to its policy (expiry, conditions), as S3 would.

The answer is S3's: 204 (or ``success_action_status`` 200, or 201 with a
``PostResponse`` document), or a 303 to ``success_action_redirect`` (``redirect``)
with the bucket, key and ETag in its query; ``ETag`` and ``Location`` headers.
"""

from __future__ import annotations

import base64
import hashlib
import mmap
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import BinaryIO, cast
from urllib.parse import urlencode

from montemap.s3api.body import Payload
from montemap.s3api.context import INLINE_LIMIT, S3Context, meta_from_headers
from montemap.s3api.encryption import answer_encryption
from montemap.s3api.errors import S3Error
from montemap.s3api.multipart import Window
from montemap.s3api.post_policy import check_policy, check_signature
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.tagging import document_tags
from montemap.s3api.xmlio import document, el
from montemap.storage import ObjectMeta

FORM_TYPE = "multipart/form-data"
#: S3's limit on the form's fields and boundaries, the file's bytes aside.
FIELDS_LIMIT = 20 * 1024
#: Fields that become the object's system metadata, under the header's name.
_HEADER_FIELDS = frozenset(
    {"content-type", "cache-control", "content-disposition", "content-encoding", "expires"}
    | {"x-amz-storage-class", "x-amz-website-redirect-location"}
)
#: A header parameter: ``; name="quoted value"`` or ``; name=token``.
_PARAM_RE = re.compile(r';\s*([A-Za-z*]+)=(?:"([^"]*)"|([^;\s]*))')
_OBJECT_TAGS = 10
#: A header name (RFC 9110 ``token``), and what a header's value may not hold.
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def is_form_upload(req: S3Request) -> bool:
    """A POST of an HTML form to a bucket, without a query (S3's POST Object: it takes
    none, and a query would name another operation, signed as any other)."""
    return bool(
        req.method == "POST"
        and req.bucket
        and not req.key
        and not req.raw_query
        and req.header("content-type").lower().startswith(FORM_TYPE)
    )


@dataclass
class Form:
    """The form's fields (names lowercased, values as sent) and where its file lies."""

    fields: dict[str, str]
    filename: str
    start: int
    length: int


def parse_form(buffer: bytes | mmap.mmap, content_type: str) -> Form:
    """The fields before the file, and the file's name, offset and length in ``buffer``."""
    boundary = _parameters(content_type).get("boundary")
    if not boundary:
        raise _malformed("the Content-Type names no boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    at = buffer.find(delimiter)
    fields: dict[str, str] = {}
    while at >= 0:
        at += len(delimiter)
        if buffer[at : at + 2] == b"--":
            break  # the closing delimiter: no file
        head_end = buffer.find(b"\r\n\r\n", at)
        if head_end < 0 or head_end > FIELDS_LIMIT + at:
            raise _malformed("a part's headers do not end")
        disposition = _disposition(bytes(buffer[at:head_end]))
        start = head_end + 4
        end = buffer.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise _malformed("the form's closing boundary is missing")
        name = disposition.get("name", "").lower()
        if name == "file":
            return Form(fields, disposition.get("filename", ""), start, end - start)
        if start > FIELDS_LIMIT:
            raise S3Error(
                "MaxPostPreDataLengthExceededError",
                f"Your POST request fields preceding the upload file were too large "
                f"(over {FIELDS_LIMIT} bytes).",
            )
        if name and name not in fields:  # the first of a repeated field counts
            fields[name] = bytes(buffer[start:end]).decode("utf-8", errors="replace")
        at = end + 2
    raise S3Error("InvalidArgument", "POST requires exactly one file upload per request.")


def _disposition(head: bytes) -> dict[str, str]:
    """The parameters (``name``, ``filename``) of a part's ``Content-Disposition``."""
    for line in head.decode("utf-8", errors="replace").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-disposition":
            return _parameters(value)
    raise _malformed("a part has no Content-Disposition")


def _parameters(value: str) -> dict[str, str]:
    """A header's parameters by lowercased name."""
    return {name.lower(): quoted or token for name, quoted, token in _PARAM_RE.findall(value)}


def _malformed(why: str) -> S3Error:
    return S3Error(
        "MalformedPOSTRequest",
        f"The body of your POST request is not well-formed multipart/form-data: {why}.",
    )


async def post_object(
    ctx: S3Context,
    req: S3Request,
    payload: Payload,
    secret_for: Callable[[str], str | None] | None,
) -> S3Response:
    """Store the form's file as the object its ``key`` field names (S3's POST Object)."""
    content_type = req.header("content-type")
    if payload.data is not None:
        form = parse_form(payload.data, content_type)
    else:  # spooled to a file: found in place
        assert payload.file is not None
        payload.file.flush()  # what is still buffered, into the file mapped
        with mmap.mmap(payload.file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            form = parse_form(mapped, content_type)
    fields = form.fields
    if secret_for is not None:
        check_signature(fields, secret_for, ctx.region)
    check_policy(fields, req.bucket, form.length, datetime.now(UTC))
    key = fields.get("key")
    if not key:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.")
    key = key.replace("${filename}", form.filename.replace("\\", "/").rsplit("/", 1)[-1])
    _check_header_fields(fields)
    meta = _meta(fields)
    _check_md5(fields, payload, form)
    stream = _file(payload, form)
    if payload.data is not None and form.length <= INLINE_LIMIT:
        data = stream.read()
        etag = await ctx.call(lambda: ctx.store.put(req.bucket, key, data, meta=meta))
    else:
        etag = await ctx.call(
            lambda: ctx.store.put_stream(req.bucket, key, stream, meta=meta), small=False
        )
    response = _answer(req, fields, key, etag)
    answer_encryption(response, meta.headers, all_kept=True)
    ctx.notify(req, "ObjectCreated:Post", key, size=form.length, etag=etag)
    return response


def _file(payload: Payload, form: Form) -> BinaryIO:
    """The file's bytes, as a stream."""
    source = payload.stream()
    source.seek(form.start)
    return cast(BinaryIO, Window(source, form.length))


def _meta(fields: dict[str, str]) -> ObjectMeta:
    """The object's metadata from the form's fields, as PutObject takes it from headers."""
    headers = {
        name: value
        for name, value in fields.items()
        if name in _HEADER_FIELDS
        or name.startswith(("x-amz-meta-", "x-amz-server-side-encryption", "x-amz-grant-"))
    }
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    meta = meta_from_headers(headers)
    if "tagging" in fields:  # a <Tagging> document, not PutObject's query form
        tags = document_tags(fields["tagging"].encode("utf-8"), _OBJECT_TAGS, what="object")
        meta = replace(meta, tags=tags)
    return meta


def _check_header_fields(fields: dict[str, str]) -> None:
    """Refuse a field that becomes a header (the object's metadata, the redirect)
    holding what no header can: CR, LF, NUL or another control character, or a
    metadata name that is not an HTTP token. Checked before the object is written."""
    for name, value in fields.items():
        header = (
            name in _HEADER_FIELDS
            or name.startswith("x-amz-")
            or name in ("success_action_redirect", "redirect")
        )
        if not header:
            continue
        if name.startswith("x-amz-meta-") and not _TOKEN_RE.fullmatch(name):
            raise S3Error(
                "InvalidArgument",
                f"The metadata name {name[:100]!r} is not a valid HTTP header name.",
            )
        if _CONTROL_RE.search(value):
            raise S3Error(
                "InvalidArgument",
                f"The form field {name[:100]!r} holds a control character (CR, LF, NUL...), "
                "which an HTTP header cannot carry.",
            )


def _check_md5(fields: dict[str, str], payload: Payload, form: Form) -> None:
    wanted = fields.get("content-md5")
    if wanted is None:
        return
    source, digest = _file(payload, form), hashlib.md5(usedforsecurity=False)
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    if base64.b64encode(digest.digest()).decode() != wanted.strip():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")


def _answer(req: S3Request, fields: dict[str, str], key: str, etag: str) -> S3Response:
    location = req.object_url(key)
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and redirect.startswith(("http://", "https://")):
        query = urlencode({"bucket": req.bucket, "key": key, "etag": f'"{etag}"'})
        response = S3Response(303).header(
            "location", f"{redirect}{'&' if '?' in redirect else '?'}{query}"
        )
    elif fields.get("success_action_status") == "201":
        response = xml_response(
            document(
                "PostResponse",
                el("Location", location),
                el("Bucket", req.bucket),
                el("Key", key),
                el("ETag", f'"{etag}"'),
            ),
            201,
        )
        response.header("location", location)
    else:
        status = 200 if fields.get("success_action_status") == "200" else 204
        response = S3Response(status).header("location", location)
    return response.header("etag", f'"{etag}"')
