"""What ``x-amz-copy-source`` may name (CopyObject and UploadPartCopy), as S3 answers it.

Its bucket and key are URL-encoded UTF-8: escapes that are not UTF-8, or not
escapes, are S3's ``InvalidArgument`` "Invalid copy source encoding.", not a
search for a key spelled with replacement characters (``NoSuchKey``).
"""

from __future__ import annotations

import http.client
import re
from typing import Any

import pytest

from montemap.testing import MontemapServer


def _put(server: MontemapServer, path: str, source: bytes) -> tuple[int, str, str]:
    """PUT ``path`` with this ``x-amz-copy-source`` (bytes as sent); status, code, message."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("PUT", path)
        connection.putheader("x-amz-copy-source", source)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    code = re.search(r"<Code>(.*?)</Code>", body)
    message = re.search(r"<Message>(.*?)</Message>", body, re.DOTALL)
    return response.status, code[1] if code else "", message[1] if message else ""


@pytest.fixture
def source(s3: Any, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_object(Bucket=bucket, Key="caf\u00e9", Body=b"accent")
    return bucket


def _upload(s3: Any, bucket: str) -> str:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    return f"/{bucket}/big?partNumber=1&uploadId={upload}"


@pytest.mark.parametrize("suffix", [b"%ff%fe", b"%c3", b"%zz", b"k%", b"k%4"])
@pytest.mark.parametrize("action", ["CopyObject", "UploadPartCopy"])
def test_an_encoding_that_is_not_utf8_is_invalid_argument(
    s3_server: MontemapServer, s3: Any, source: str, suffix: bytes, action: str
) -> None:
    path = f"/{source}/copy" if action == "CopyObject" else _upload(s3, source)
    answer = _put(s3_server, path, source.encode() + b"/" + suffix)
    assert answer == (400, "InvalidArgument", "Invalid copy source encoding.")


def test_a_bad_escape_in_the_version_id_is_invalid_argument(
    s3_server: MontemapServer, source: str
) -> None:
    answer = _put(s3_server, f"/{source}/copy", f"{source}/k?versionId=%ff".encode())
    assert answer == (400, "InvalidArgument", "Invalid copy source encoding.")


def test_utf8_keys_copy_encoded_or_raw(s3_server: MontemapServer, s3: Any, source: str) -> None:
    for header, target in ((b"/caf%C3%A9", "a"), ("/caf\u00e9".encode(), "b")):
        status, code, _ = _put(s3_server, f"/{source}/{target}", source.encode() + header)
        assert (status, code) == (200, "")
        assert s3.get_object(Bucket=source, Key=target)["Body"].read() == b"accent"


@pytest.mark.parametrize("header", ["k", "/k", "{b}", "{b}/", "/{b}/", "/"])
def test_a_source_without_bucket_and_key_is_invalid_argument(
    s3_server: MontemapServer, source: str, header: str
) -> None:
    status, code, message = _put(s3_server, f"/{source}/copy", header.format(b=source).encode())
    assert (status, code) == (400, "InvalidArgument")
    assert message.startswith("Copy Source must mention the source bucket and key")


@pytest.mark.parametrize("version", ["3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "", "NULL"])
def test_a_version_other_than_null_is_invalid_argument(
    s3_server: MontemapServer, s3: Any, source: str, version: str
) -> None:
    header = f"{source}/k?versionId={version}".encode()
    status, code, message = _put(s3_server, f"/{source}/copy", header)
    assert (status, code) == (400, "InvalidArgument")
    assert message.startswith("Invalid version id specified")
    answer = _put(s3_server, f"/{source}/copy", f"{source}/k?versionId=null".encode())
    assert answer[:2] == (200, "")


def test_a_source_key_over_1024_bytes_is_too_long(s3_server: MontemapServer, source: str) -> None:
    status, code, _ = _put(s3_server, f"/{source}/copy", f"{source}/{'a' * 1025}".encode())
    assert (status, code) == (400, "KeyTooLongError")
