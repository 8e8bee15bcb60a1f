"""S3 behaviours found to differ from AWS and fixed: expired presigned URLs on a server
without keys, CreateBucket's ``CreateBucketConfiguration``, checksums answered with
``x-amz-checksum-mode: ENABLED`` (a CRC32 computed, another algorithm kept with the
object), S3's 2 KB of user metadata."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from montemap.s3api.context import S3Context
from montemap.s3api.objects import CHECKSUM_LIMIT, computes_crc32, kept_checksums
from montemap.storage import LocalObjectStore, ObjectInfo
from montemap.storage.local_meta import XATTR
from montemap.testing import REGION, MontemapServer, eventually
from tests.s3api.conftest import s3_client

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with _DIRECT.open(urllib.request.Request(url), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_expired_presigned_url_is_refused_without_keys(
    s3_server: MontemapServer, s3: Any, bucket: str, version: str
) -> None:
    """S3 refuses a presigned URL past its expiry (``AccessDenied``, 403, "Request has
    expired"); a server without keys checks no signature, but must stop serving it too."""
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"for a while")
    presigner = s3_client(s3_server.url, signature_version=version)
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=3
    )
    presigner.close()
    # at least 2 s of validity: SigV2's Expires is a whole second (``int(now + 3)``)
    assert fetch(url) == (200, b"for a while")
    eventually(lambda: fetch(url)[0] == 403, timeout=15, what="the URL to expire")
    status, body = fetch(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Request has expired" in body


def test_expired_presigned_urls_made_by_hand(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    when = datetime(2020, 1, 1, tzinfo=UTC).strftime("%Y%m%dT%H%M%SZ")
    v4 = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=test%2F{when[:8]}%2F{REGION}%2Fs3%2Faws4_request"
        f"&X-Amz-Date={when}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={'0' * 64}"
    )
    assert fetch(f"{s3_server.url}/{bucket}/old?{v4}")[0] == 403
    v2 = "AWSAccessKeyId=test&Expires=1577836800&Signature=abc%3D"
    assert fetch(f"{s3_server.url}/{bucket}/old?{v2}")[0] == 403
    future = int(time.time()) + 3600
    assert (
        fetch(f"{s3_server.url}/{bucket}/old?AWSAccessKeyId=t&Expires={future}&Signature=a")[0]
        == 200
    )


def test_create_bucket_naming_us_east_1_is_refused(s3: Any) -> None:
    """S3 refuses ``us-east-1`` named as a location constraint (that region is named by
    none): ``InvalidLocationConstraint``; no bucket is created."""
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(
            Bucket="named-us-east-1",
            CreateBucketConfiguration={"LocationConstraint": "us-east-1"},
        )
    assert error_code(exc) == "InvalidLocationConstraint"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "named-us-east-1" not in names


def test_create_bucket_with_a_document_that_is_not_a_configuration(
    s3_server: MontemapServer, s3: Any
) -> None:
    request = urllib.request.Request(
        f"{s3_server.url}/not-configured", data=b"<Nope/>", method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        _DIRECT.open(request, timeout=30)
    assert exc.value.code == 400
    assert b"<Code>MalformedXML</Code>" in exc.value.read()
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "not-configured" not in names


def test_regional_server_refuses_another_regions_constraint(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A regional endpoint refuses a constraint naming another region
    (``IllegalLocationConstraintException``); its own region is served."""
    server = MontemapServer(
        tmp_path_factory.mktemp("eu-server") / "data", extra_args=["--region", "eu-west-1"]
    )
    server.start()
    try:
        client = s3_client(server.url)
        with pytest.raises(ClientError) as exc:
            client.create_bucket(
                Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
            )
        assert error_code(exc) == "IllegalLocationConstraintException"
        client.create_bucket(
            Bucket="here", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        client.create_bucket(
            Bucket="old-name", CreateBucketConfiguration={"LocationConstraint": "EU"}
        )
        names = sorted(b["Name"] for b in client.list_buckets()["Buckets"])
        assert names == ["here", "old-name"]
        client.close()
    finally:
        server.close()


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_checksum_is_answered_when_asked_for(s3: Any, bucket: str) -> None:
    """S3 keeps the checksum an object was put with and answers it on GetObject and
    HeadObject with ``x-amz-checksum-mode: ENABLED`` (type ``FULL_OBJECT``), not on a
    range, and in GetObjectAttributes' ``Checksum``."""
    body = b"checked bytes " * 50
    put = s3.put_object(Bucket=bucket, Key="crc", Body=body, ChecksumAlgorithm="CRC32")
    assert put["ChecksumCRC32"] == _crc32(body)
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the body against it
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (_crc32(body), "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32(body)
    ranged = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED", Range="bytes=0-3")
    assert "ChecksumCRC32" not in ranged
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key="crc", ObjectAttributes=["Checksum", "ObjectSize"]
    )
    assert attributes["Checksum"] == {"ChecksumCRC32": _crc32(body), "ChecksumType": "FULL_OBJECT"}
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="sha", Body=body, ChecksumAlgorithm="SHA256")
    copy = {"Bucket": bucket, "Key": "sha"}
    copied = s3.copy_object(Bucket=bucket, Key="copied", CopySource=copy)
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == sha
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=copy, MetadataDirective="REPLACE")
    for key in ("sha", "copied", "replaced"):
        assert (
            s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["ChecksumSHA256"] == sha
        )


def test_checksum_is_not_answered_unasked(s3_server: MontemapServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="quiet", Body=b"q", ChecksumAlgorithm="CRC32")
    with _DIRECT.open(
        urllib.request.Request(f"{s3_server.url}/{bucket}/quiet"), timeout=30
    ) as response:
        assert not [h for h in response.headers if h.lower().startswith("x-amz-checksum")]


def test_checksum_of_a_trailer_is_kept(s3_server: MontemapServer, s3: Any, bucket: str) -> None:
    """The SDKs send the checksum of a streamed upload in the body's trailer."""
    data = b"streamed " * 100
    body = (
        f"{len(data):x}\r\n".encode()
        + data
        + f"\r\n0\r\nx-amz-checksum-crc32:{_crc32(data)}\r\n\r\n".encode()
    )
    headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
    }
    connection = http.client.HTTPConnection(urlsplit(s3_server.url).netloc, timeout=30)
    try:
        connection.request("PUT", f"/{bucket}/trailed", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.status, response.getheader("x-amz-checksum-crc32"), response.read()
    finally:
        connection.close()
    assert answer[:2] == (200, _crc32(data)), answer
    head = s3.head_object(Bucket=bucket, Key="trailed", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32(data)
    assert _record(s3_server, bucket, "trailed") == {"etag": head["ETag"].strip('"')}


def _record(server: MontemapServer, bucket: str, key: str) -> Any:
    """The record the local store keeps with an object (its extended attribute)."""
    return json.loads(os.getxattr(server.data_dir / "buckets" / bucket / key, XATTR))


def test_default_crc32_is_computed_not_stored(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    """boto3 sends a CRC32 with every PutObject. Kept in the object's record it would
    no longer fit in the inode (a 4 KB block more per small object), so it is not
    stored: the record stays ``{"etag":...}``, and the CRC32 asked for is computed
    from the bytes, the very value the client sent."""
    body = b"a small object " * 16
    put = s3.put_object(Bucket=bucket, Key="small", Body=body)  # no algorithm named
    sent = put["ChecksumCRC32"]  # echoed: boto3 sent it
    assert sent == _crc32(body)
    assert os.getxattr(s3_server.data_dir / "buckets" / bucket / "small", XATTR) == (
        b'{"etag":' + put["ETag"].encode() + b"}"
    )
    got = s3.get_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (sent, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (sent, "FULL_OBJECT")
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="small")
    attributes = s3.get_object_attributes(Bucket=bucket, Key="small", ObjectAttributes=["Checksum"])
    assert attributes["Checksum"] == {"ChecksumCRC32": sent, "ChecksumType": "FULL_OBJECT"}
    source = {"Bucket": bucket, "Key": "small"}
    for directive in ("COPY", "REPLACE"):
        copied = s3.copy_object(
            Bucket=bucket, Key=directive, CopySource=source, MetadataDirective=directive
        )
        assert copied["CopyObjectResult"]["ChecksumCRC32"] == sent
        assert _record(s3_server, bucket, directive) == {"etag": put["ETag"].strip('"')}
    unsent = s3.put_object(Bucket=bucket, Key="empty", Body=b"", ChecksumCRC32=_crc32(b""))
    assert (
        s3.head_object(Bucket=bucket, Key="empty", ChecksumMode="ENABLED")["ChecksumCRC32"]
        == unsent["ChecksumCRC32"]
        == "AAAAAA=="
    )


def test_crc32_of_a_streamed_object(s3: Any, bucket: str) -> None:
    """An object over 1 MiB is served from a worker thread: its CRC32 is read there,
    and its bytes still served whole (botocore checks them against it)."""
    body = bytes(range(256)) * 6000 + b"tail"
    put = s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"] == _crc32(body)
    head = s3.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32(body)
    ranged = s3.get_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED", Range="bytes=5-")
    assert ranged["Body"].read() == body[5:]
    assert "ChecksumCRC32" not in ranged


def test_another_algorithm_is_stored(s3_server: MontemapServer, s3: Any, bucket: str) -> None:
    """A checksum of another algorithm, chosen by the client, is kept with the object
    and answered instead of a CRC32."""
    body = b"hashed"
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="sha", Body=body, ChecksumAlgorithm="SHA256")
    assert _record(s3_server, bucket, "sha") == {
        "etag": put["ETag"].strip('"'),
        "headers": {"x-amz-checksum-sha256": sha},
    }
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert (head["ChecksumSHA256"], head["ChecksumType"]) == (sha, "FULL_OBJECT")
    assert "ChecksumCRC32" not in head


def test_crc32_limit(tmp_path: Any) -> None:
    """Up to :data:`CHECKSUM_LIMIT` a CRC32 is computed, so not stored; a larger
    object keeps the one it was sent (and has none computed)."""
    sent = {"x-amz-checksum-crc32": _crc32(b"x")}
    assert kept_checksums(sent, CHECKSUM_LIMIT) == {}
    assert kept_checksums(sent, CHECKSUM_LIMIT + 1) == sent
    sha = {"x-amz-checksum-sha1": base64.b64encode(hashlib.sha1(b"x").digest()).decode()}
    assert kept_checksums(sha, 1) == sha
    ctx = S3Context(LocalObjectStore(tmp_path), REGION)
    whole = ObjectInfo("k", CHECKSUM_LIMIT, "0" * 32, 0.0)
    assert computes_crc32(ctx, whole)
    assert not computes_crc32(ctx, ObjectInfo("k", CHECKSUM_LIMIT + 1, "0" * 32, 0.0))
    assert not computes_crc32(ctx, ObjectInfo("k", 3, "0" * 32 + "-2", 0.0))


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-amz-checksum-crc32c": "not base64"}, "InvalidRequest"),
        ({"x-amz-checksum-sha256": base64.b64encode(b"short").decode()}, "InvalidRequest"),
        (
            {"x-amz-checksum-crc32": _crc32(b"x"), "x-amz-checksum-crc32c": "AAAAAA=="},
            "InvalidRequest",
        ),
        ({"x-amz-checksum-crc32": _crc32(b"other")}, "BadDigest"),
    ],
)
def test_bad_checksums_are_refused(
    s3_server: MontemapServer, s3: Any, bucket: str, headers: dict[str, str], code: str
) -> None:
    """One algorithm, a value of its size (``InvalidRequest``), the bytes' own
    (``BadDigest``); nothing is stored."""
    request = urllib.request.Request(
        f"{s3_server.url}/{bucket}/refused", data=b"x", headers=headers, method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        _DIRECT.open(request, timeout=30)
    assert exc.value.code == 400
    assert f"<Code>{code}</Code>".encode() in exc.value.read()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_user_metadata_over_2_kb_is_refused(s3: Any, bucket: str) -> None:
    """S3 limits the user metadata of a PUT to 2 KB (names and values, UTF-8 bytes):
    ``MetadataTooLarge`` (400), on PutObject, CreateMultipartUpload and a copy's
    replaced metadata; nothing is written."""
    s3.put_object(Bucket=bucket, Key="fits", Body=b"x", Metadata={"a": "v" * 2047})
    big = {"a": "v" * 1500, "b": "w" * 600}
    replaced = {"CopySource": {"Bucket": bucket, "Key": "fits"}, "MetadataDirective": "REPLACE"}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_object", {"Body": b"x"}),
        ("create_multipart_upload", {}),
        ("copy_object", replaced),
    ]
    for method, extra in calls:
        with pytest.raises(ClientError) as exc:
            getattr(s3, method)(Bucket=bucket, Key="big", Metadata=big, **extra)
        assert error_code(exc) == "MetadataTooLarge"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["fits"]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_complete_multipart_upload_with_the_objects_checksum(s3: Any, bucket: str) -> None:
    """CompleteMultipartUpload's ``x-amz-checksum-*`` header is the object's checksum (S3:
    "the Base64 encoded, 32-bit CRC32 checksum of the object"), not its XML body's: the
    upload completes."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="whole", ChecksumAlgorithm="CRC32")
    part = s3.upload_part(
        Bucket=bucket,
        Key="whole",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"abc",
        ChecksumAlgorithm="CRC32",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="whole",
        UploadId=upload["UploadId"],
        ChecksumCRC32=_crc32(b"abc"),
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}
            ]
        },
    )
    got = s3.get_object(Bucket=bucket, Key="whole", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"abc"
    assert "ChecksumCRC32" not in got  # a multipart object has none here
    attributes = s3.get_object_attributes(Bucket=bucket, Key="whole", ObjectAttributes=["Checksum"])
    assert "Checksum" not in attributes
