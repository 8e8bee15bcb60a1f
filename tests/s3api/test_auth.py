"""S3 on a server with access keys: SigV4 headers, presigned URLs, signed and unsigned streams."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from montemap.testing import REGION, MontemapServer
from tests.s3api.conftest import s3_client

KEY_ID = "AKIDS3TEST"
SECRET = "s3-test-secret-0123456789"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("s3-keyed") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def signed(keyed: MontemapServer) -> Iterator[Any]:
    client = s3_client(keyed.url, key_id=KEY_ID, secret=SECRET, signature_version="s3v4")
    client.create_bucket(Bucket="secure")
    yield client
    client.close()


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_signed_requests_are_served(signed: Any) -> None:
    signed.put_object(Bucket="secure", Key="dir/a b+c", Body=b"secret data")
    assert signed.get_object(Bucket="secure", Key="dir/a b+c")["Body"].read() == b"secret data"
    assert [
        o["Key"] for o in signed.list_objects_v2(Bucket="secure", Prefix="dir/")["Contents"]
    ] == ["dir/a b+c"]


def test_bad_signatures_are_refused(keyed: MontemapServer, signed: Any) -> None:
    wrong = s3_client(keyed.url, key_id=KEY_ID, secret="not-the-secret-at-all")
    with pytest.raises(ClientError) as exc:
        wrong.get_object(Bucket="secure", Key="dir/a b+c")
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unknown = s3_client(keyed.url, key_id="AKIDNOBODY", secret=SECRET)
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    status, body = fetch(f"{keyed.url}/secure/dir/a%20b%2Bc")
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body


def test_presigned_urls(signed: Any) -> None:
    signed.put_object(Bucket="secure", Key="shared.txt", Body=b"shared")
    url = signed.generate_presigned_url(
        "get_object", Params={"Bucket": "secure", "Key": "shared.txt"}
    )
    assert fetch(url) == (200, b"shared")
    assert fetch(url.replace("shared.txt", "other.txt"))[0] == 403
    put_url = signed.generate_presigned_url(
        "put_object", Params={"Bucket": "secure", "Key": "up.txt"}
    )
    assert fetch(put_url, "PUT", b"uploaded")[0] == 200
    assert signed.get_object(Bucket="secure", Key="up.txt")["Body"].read() == b"uploaded"


def test_presigned_url_of_signature_version_2(keyed: MontemapServer, signed: Any) -> None:
    signed.put_object(Bucket="secure", Key="v2.txt", Body=b"old style")
    legacy = s3_client(keyed.url, key_id=KEY_ID, secret=SECRET, signature_version="s3")
    url = legacy.generate_presigned_url("get_object", Params={"Bucket": "secure", "Key": "v2.txt"})
    assert "AWSAccessKeyId=" in url
    assert fetch(url) == (200, b"old style")
    assert fetch(url.replace("Signature=", "Signature=AAAA"))[0] == 403


@pytest.mark.parametrize("keys", [True, False])
def test_a_presigned_url_valid_beyond_a_week_is_refused(
    keys: bool, signed: Any, s3_server: MontemapServer
) -> None:
    """S3 refuses SigV4 URLs valid for more than 604,800 s with
    ``AuthorizationQueryParametersError`` (400), whether or not the server checks keys."""
    client, bucket = signed, "secure"
    if not keys:
        client, bucket = s3_client(s3_server.url, signature_version="s3v4"), "week"
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="w.txt", Body=b"w")
    for seconds, status in ((604_800, 200), (604_801, 400)):
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "w.txt"}, ExpiresIn=seconds
        )
        got, body = fetch(url)
        assert got == status, body
    assert b"<Code>AuthorizationQueryParametersError</Code>" in body
    assert b"604801" in body


class _DeclaredPayload(S3SigV4Auth):
    """botocore's S3 signer, signing the ``x-amz-content-sha256`` the test declares."""

    def __init__(self, declared: str) -> None:
        super().__init__(Credentials(KEY_ID, SECRET), "s3", REGION)
        self.declared = declared

    def payload(self, request: Any) -> str:
        return self.declared


def _signed_headers(url: str, path: str, headers: dict[str, str]) -> dict[str, str]:
    request = AWSRequest(method="PUT", url=f"{url}{path}", headers=headers)
    _DeclaredPayload(headers["x-amz-content-sha256"]).add_auth(request)
    signed = dict(request.headers.items())
    assert signed["X-Amz-Content-SHA256"] == headers["x-amz-content-sha256"]
    return signed


def _send(url: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("PUT", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _chunk_signature(key: bytes, amz_date: str, scope: str, previous: str, data: bytes) -> str:
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            previous,
            hashlib.sha256(b"").hexdigest(),
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _signing_key(date: str) -> bytes:
    key = f"AWS4{SECRET}".encode()
    for part in (date, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signed_stream(
    url: str, path: str, chunks: list[bytes], tamper: bool = False
) -> tuple[int, bytes]:
    headers = {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(sum(len(c) for c in chunks)),
    }
    signed = _signed_headers(url, path, headers)
    amz_date = signed["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    previous = signed["Authorization"].rsplit("Signature=", 1)[1]
    key = _signing_key(amz_date[:8])
    body = b""
    for data in [*chunks, b""]:
        signature = _chunk_signature(key, amz_date, scope, previous, data)
        previous = signature
        sent = data.replace(b"a", b"b") if tamper and data else data
        body += f"{len(data):x};chunk-signature={signature}\r\n".encode() + sent + b"\r\n"
    return _send(url, path, signed, body)


def test_signed_streaming_upload(keyed: MontemapServer, signed: Any) -> None:
    chunks = [b"a" * 65536, b"b" * 1000]
    status, body = _signed_stream(keyed.url, "/secure/streamed", chunks)
    assert status == 200, body
    assert signed.get_object(Bucket="secure", Key="streamed")["Body"].read() == b"".join(chunks)
    status, body = _signed_stream(keyed.url, "/secure/tampered", chunks, tamper=True)
    assert status == 403
    assert b"SignatureDoesNotMatch" in body
    with pytest.raises(ClientError):
        signed.head_object(Bucket="secure", Key="tampered")


def _trailer_body(data: bytes, crc: bytes) -> bytes:
    trailer = base64.b64encode(crc).decode()
    return (
        f"{len(data):x}\r\n".encode()
        + data
        + b"\r\n0\r\n"
        + f"x-amz-checksum-crc32:{trailer}\r\n\r\n".encode()
    )


@pytest.mark.parametrize("good", [True, False])
def test_unsigned_payload_with_checksum_trailer(
    keyed: MontemapServer, signed: Any, good: bool
) -> None:
    data = b"trailer checked " * 100
    crc = zlib.crc32(data if good else b"other").to_bytes(4, "big")
    headers = _signed_headers(
        keyed.url,
        f"/secure/trailer-{good}",
        {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": str(len(data)),
        },
    )
    status, body = _send(keyed.url, f"/secure/trailer-{good}", headers, _trailer_body(data, crc))
    if good:
        assert status == 200, body
        assert signed.get_object(Bucket="secure", Key="trailer-True")["Body"].read() == data
    else:
        assert status == 400
        assert b"<Code>BadDigest</Code>" in body


def test_unsigned_payload_and_a_wrong_declared_hash(keyed: MontemapServer, signed: Any) -> None:
    headers = _signed_headers(
        keyed.url, "/secure/unsigned", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    assert _send(keyed.url, "/secure/unsigned", headers, b"anything")[0] == 200
    assert signed.get_object(Bucket="secure", Key="unsigned")["Body"].read() == b"anything"
    wrong = hashlib.sha256(b"something else").hexdigest()
    headers = _signed_headers(keyed.url, "/secure/mismatch", {"x-amz-content-sha256": wrong})
    status, body = _send(keyed.url, "/secure/mismatch", headers, b"anything")
    assert status == 400
    assert b"XAmzContentSHA256Mismatch" in body


def test_expired_presigned_url(keyed: MontemapServer) -> None:
    when = datetime(2020, 1, 1, tzinfo=UTC).strftime("%Y%m%dT%H%M%SZ")
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={KEY_ID}%2F{when[:8]}%2F{REGION}%2Fs3%2Faws4_request"
        f"&X-Amz-Date={when}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={'0' * 64}"
    )
    status, body = fetch(f"{keyed.url}/secure/shared.txt?{query}")
    assert status == 403
    assert b"expired" in body


def _trailer_signature(key: bytes, amz_date: str, scope: str, previous: str, lines: str) -> str:
    """The signature of a trailer (AWS's "Signature calculations for trailing headers")."""
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            amz_date,
            scope,
            previous,
            hashlib.sha256(lines.encode()).hexdigest(),
        ]
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _signed_trailer_stream(
    url: str, path: str, data: bytes, *, crc_of: bytes | None = None, trailer_sig: str | None = None
) -> tuple[int, bytes]:
    """A PUT whose chunks and checksum trailer are signed; overrides make it wrong."""
    headers = {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
    }
    signed = _signed_headers(url, path, headers)
    amz_date = signed["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    previous = signed["Authorization"].rsplit("Signature=", 1)[1]
    key = _signing_key(amz_date[:8])
    body = b""
    for chunk in (data, b""):
        previous = _chunk_signature(key, amz_date, scope, previous, chunk)
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk
        body += b"\r\n" if chunk else b""
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    line = f"x-amz-checksum-crc32:{crc}\n"
    signature = _trailer_signature(key, amz_date, scope, previous, line)
    if crc_of is not None:  # the checksum changed after signing
        crc = base64.b64encode(zlib.crc32(crc_of).to_bytes(4, "big")).decode()
    body += f"x-amz-checksum-crc32:{crc}\r\n".encode()
    if trailer_sig != "":
        body += f"x-amz-trailer-signature:{trailer_sig or signature}\r\n".encode()
    return _send(url, path, signed, body + b"\r\n")


def test_signed_trailer_is_checked(keyed: MontemapServer, signed: Any) -> None:
    data = b"signed trailer " * 500
    status, body = _signed_trailer_stream(keyed.url, "/secure/signed-trailer", data)
    assert status == 200, body
    assert signed.get_object(Bucket="secure", Key="signed-trailer")["Body"].read() == data


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("altered", {"crc_of": b"what the client did not sign"}),
        ("wrong", {"trailer_sig": "0" * 64}),
        ("missing", {"trailer_sig": ""}),
    ],
)
def test_bad_trailer_signatures_are_refused(
    keyed: MontemapServer, signed: Any, case: str, options: dict[str, Any]
) -> None:
    key = f"trailer-{case}"
    status, body = _signed_trailer_stream(keyed.url, f"/secure/{key}", b"data " * 100, **options)
    assert status == 403, body
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
    assert b"trailer" in body
    with pytest.raises(ClientError):
        signed.head_object(Bucket="secure", Key=key)


def test_signed_requests_for_keys_that_are_no_plain_path(
    signed: Any, keyed: MontemapServer
) -> None:
    """The signature covers the key as sent: ``..``, ``//``, a trailing ``/`` included."""
    signed.create_bucket(Bucket="odd-keys-signed")
    for key in ("a/../b", "x//y", "folder/", "/lead", "sp ace+plus%"):
        signed.put_object(Bucket="odd-keys-signed", Key=key, Body=key.encode())
        assert signed.get_object(Bucket="odd-keys-signed", Key=key)["Body"].read() == key.encode()
        url = signed.generate_presigned_url(
            "get_object", Params={"Bucket": "odd-keys-signed", "Key": key}, ExpiresIn=60
        )
        with urllib.request.urlopen(url) as answer:
            assert answer.read() == key.encode()
