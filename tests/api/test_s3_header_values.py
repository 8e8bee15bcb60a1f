"""S3 answers whatever an object's metadata holds, and refuses what no header can carry.

Before: a POST Object form field (``x-amz-meta-*``, ``Content-Disposition``,
``Content-Type``) holding CR/LF, NUL or another control character was stored,
and every later GetObject/HeadObject of that object made the server drop the
connection (uvicorn refuses such a header value: a traceback, no answer); a
character past latin-1 (a form's ``€``, a state machine's ``Metadata``) made
them a 500; a ``success_action_redirect`` with CR/LF dropped the connection
after the object was written; ``?response-content-disposition=%0D%0A`` (a link
any page may hold) dropped it too. Now a form field that becomes a header is
refused (400 ``InvalidArgument``) before anything is written, and a stored or
requested value a header cannot carry is answered as RFC 2047's encoded word
of its UTF-8 (as S3 answers non-ASCII metadata), never split into headers.
"""

from __future__ import annotations

import base64
import http.client
import uuid

import pytest

from montemap.storage import LocalObjectStore, ObjectMeta
from montemap.testing import MontemapServer

BOUNDARY = "formboundary7e1"


@pytest.fixture(scope="module")
def server(shared_montemap_server: MontemapServer) -> MontemapServer:
    return shared_montemap_server


@pytest.fixture(scope="module")
def bucket(server: MontemapServer) -> str:
    name = f"headers-{uuid.uuid4().hex[:10]}"
    status, _, body = request(server, "PUT", f"/{name}")
    assert status == 200, body
    return name


def request(
    server: MontemapServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def form(server: MontemapServer, bucket: str, fields: list[tuple[str, bytes]]) -> tuple[int, bytes]:
    parts = b""
    for name, value in fields:
        parts += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )
    parts += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\n'
        f"hello\r\n--{BOUNDARY}--\r\n"
    ).encode()
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    status, _, body = request(server, "POST", f"/{bucket}", parts, {"Content-Type": content_type})
    return status, body


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def encoded_word(value: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


@pytest.mark.parametrize(
    "field",
    ["x-amz-meta-note", "Content-Disposition", "Content-Type", "Cache-Control"],
)
@pytest.mark.parametrize("value", [b"a\r\nSet-Cookie: evil=1", b"a\nb", b"a\x00b", b"a\x7f"])
def test_a_form_field_no_header_can_carry_is_refused_before_the_write(
    server: MontemapServer, bucket: str, field: str, value: bytes
) -> None:
    key = f"form-{uuid.uuid4().hex[:8]}"
    status, body = form(server, bucket, [("key", key.encode()), (field, value)])
    assert status == 400, body
    assert b"<Code>InvalidArgument</Code>" in body
    assert request(server, "HEAD", f"/{bucket}/{key}")[0] == 404


def test_a_redirect_with_crlf_is_refused_and_nothing_is_written(
    server: MontemapServer, bucket: str
) -> None:
    key = f"form-{uuid.uuid4().hex[:8]}"
    fields = [("key", key.encode()), ("success_action_redirect", b"http://x/\r\nX-Evil: 1")]
    status, body = form(server, bucket, fields)
    assert (status, b"<Code>InvalidArgument</Code>" in body) == (400, True)
    assert request(server, "HEAD", f"/{bucket}/{key}")[0] == 404


def test_a_metadata_name_that_is_no_header_name_is_refused(
    server: MontemapServer, bucket: str
) -> None:
    status, body = form(server, bucket, [("key", b"named"), ("x-amz-meta-a b:c", b"v")])
    assert (status, b"<Code>InvalidArgument</Code>" in body) == (400, True)


def test_a_form_value_past_latin1_is_answered_as_an_encoded_word(
    server: MontemapServer, bucket: str
) -> None:
    key = f"form-{uuid.uuid4().hex[:8]}"
    status, body = form(
        server, bucket, [("key", key.encode()), ("x-amz-meta-price", "5 €".encode())]
    )
    assert status == 204, body
    for method in ("GET", "HEAD"):
        status, headers, _ = request(server, method, f"/{bucket}/{key}")
        assert status == 200
        assert header(headers, "x-amz-meta-price") == encoded_word("5 €")


@pytest.mark.parametrize(
    ("metadata", "headers", "content_type"),
    [
        ({"note": "a\r\nSet-Cookie: evil=1"}, {}, ""),
        ({"lone": "\ud800"}, {}, ""),
        ({"nul": "a\x00b", "snow": "☃"}, {"content-disposition": "x\ny"}, "text/☃"),
        ({"a b:c": "unsendable name", "ok": "kept"}, {}, ""),
    ],
)
def test_stored_metadata_no_header_can_carry_does_not_break_reads(
    server: MontemapServer,
    bucket: str,
    metadata: dict[str, str],
    headers: dict[str, str],
    content_type: str,
) -> None:
    """As a state machine's ``s3:putObject`` ``Metadata`` or an earlier version stores it."""
    key = f"stored-{uuid.uuid4().hex[:8]}"
    store = LocalObjectStore(server.data_dir / "buckets")
    store.put(bucket, key, b"payload", meta=ObjectMeta(content_type, metadata, headers))
    for method in ("GET", "HEAD"):
        status, answered, body = request(server, method, f"/{bucket}/{key}")
        assert status == 200, body
        assert body == (b"payload" if method == "GET" else b"")
        for name, value in answered:
            assert "\r" not in value and "\n" not in value and "\x00" not in value, (name, value)
        if "note" in metadata:
            assert header(answered, "x-amz-meta-note") == encoded_word(metadata["note"])
            assert header(answered, "set-cookie") is None
        if "ok" in metadata:
            assert header(answered, "x-amz-meta-ok") == "kept"


@pytest.mark.parametrize(
    "query", ["response-content-disposition=a%0D%0AX-Evil:%201", "response-content-type=%E2%98%83"]
)
def test_a_response_override_no_header_can_carry_is_encoded(
    server: MontemapServer, bucket: str, query: str
) -> None:
    key = f"override-{uuid.uuid4().hex[:8]}"
    assert request(server, "PUT", f"/{bucket}/{key}", b"x")[0] == 200
    status, headers, body = request(server, "GET", f"/{bucket}/{key}?{query}")
    assert (status, body) == (200, b"x")
    assert header(headers, "x-evil") is None
    assert any(value.startswith("=?UTF-8?B?") for _, value in headers)
