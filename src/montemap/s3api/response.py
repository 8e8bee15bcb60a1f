"""An S3 response and how it is sent over ASGI (no framework on the hot path)."""

from __future__ import annotations

import base64
import functools
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.types import Send

from montemap.s3api.errors import S3Error
from montemap.s3api.xmlio import xml_text

XML_TYPE = b"application/xml"
#: On every S3 response. Objects are served on the server's one origin, the console's:
#: without these, an object stored as ``text/html`` (or sniffed as such) would be a page
#: of that origin whose scripts could read console pages and call the API. Sandboxed, it
#: runs no script and has an opaque origin; SDK clients do not look at these headers.
CONTAINED = (
    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    (b"x-content-type-options", b"nosniff"),
)


@dataclass
class S3Response:
    """Status, headers and either a body or a stream of body chunks."""

    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    length: int | None = None  # Content-Length of a stream (or of a HEAD's object)

    def header(self, name: str, value: str) -> S3Response:
        encoded = _header_name(name)
        if encoded is None:  # a metadata name no header can carry is not sent
            return self
        if value.isascii() and value.isprintable():  # the common case
            self.headers.append((encoded, value.encode()))
        else:
            self.headers.append((encoded, header_value(value)))
        return self

    async def send(self, send: Send, request_id: str, *, head: bool = False) -> None:
        headers = self.headers
        headers.append((b"x-amz-request-id", request_id.encode()))
        headers.extend(CONTAINED)
        if self.status not in (204, 304):  # responses that never have a body
            length = self.length if self.length is not None else len(self.body)
            headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        if head or self.stream is None:
            await send({"type": "http.response.body", "body": b"" if head else self.body})
            return
        stream = self.stream
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()  # closes the object's file if the client went away


#: An HTTP header name (RFC 9110 ``token``).
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: What a header value may not hold (CR, LF, NUL and the other controls but tab).
_CONTROL_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


@functools.lru_cache(maxsize=1024)
def _header_name(name: str) -> bytes | None:
    """``name`` as a header sends it; ``None`` if it is not an HTTP token (a metadata
    name stored by a form or a state machine, with a space or a colon, say)."""
    return name.encode() if _TOKEN_RE.fullmatch(name) else None


def header_value(value: str) -> bytes:
    """``value`` as a header sends it: its latin-1 bytes (what a request's header
    brought in, as it was), or, when it has characters a header cannot carry (a
    character past latin-1, CR, LF, NUL, another control), RFC 2047's encoded word
    of its UTF-8, as S3 answers non-ASCII metadata. Never a header that would split
    the response or make the server drop the connection."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = b""
    else:
        if not _CONTROL_RE.search(raw):
            return raw
    utf8 = value.encode("utf-8", errors="replace")  # a lone surrogate: '?'
    return b"=?UTF-8?B?" + base64.b64encode(utf8) + b"?="


def xml_response(body: str, status: int = 200) -> S3Response:
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")
    return S3Response(status, [(b"content-type", XML_TYPE)], data)


def error_response(error: S3Error, request_id: str, resource: str) -> S3Response:
    parts = [f"<Code>{error.code}</Code>", f"<Message>{xml_text(error.message)}</Message>"]
    if error.bucket:
        parts.append(f"<BucketName>{xml_text(error.bucket)}</BucketName>")
    if error.key:
        parts.append(f"<Key>{xml_text(error.key)}</Key>")
    for name, value in error.details.items():
        parts.append(f"<{name}>{xml_text(value)}</{name}>")
    parts.append(f"<Resource>{xml_text(resource)}</Resource>")
    parts.append(f"<RequestId>{request_id}</RequestId>")
    response = xml_response(f"<Error>{''.join(parts)}</Error>", error.status)
    response.header("x-amz-error-code", error.code)
    for name, value in error.headers.items():
        response.header(name, value)
    return response


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """``Last-Modified``'s form: RFC 7231 (``Sun, 06 Dec 2026 12:00:00 GMT``), whole seconds."""
    return _second(math.floor(timestamp))


@functools.lru_cache(maxsize=4096)  # objects written in the same second share it
def _second(second: int) -> str:
    t = time.gmtime(second)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
