"""UploadPartCopy (large server-side copies), date conditions, and the system metadata S3 keeps."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer
from tests.s3api.test_cli import aws

MIB = 1024 * 1024


def error_status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_cli_copies_an_object_over_the_multipart_threshold(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    data = os.urandom(9 * MIB + 123)  # over the CLI's 8 MiB threshold: UploadPartCopy
    s3.put_object(Bucket=bucket, Key="big", Body=data, ContentType="application/x-test")
    s3.create_bucket(Bucket=f"{bucket}-copy")
    aws(s3_server, "cp", f"s3://{bucket}/big", f"s3://{bucket}-copy/big")
    copied = s3.get_object(Bucket=f"{bucket}-copy", Key="big")
    assert copied["Body"].read() == data
    assert copied["ETag"].strip('"').endswith("-2")  # a multipart object, as on S3


def test_upload_part_copy_ranges(s3: Any, bucket: str) -> None:
    data = os.urandom(6 * MIB + 10)
    s3.put_object(Bucket=bucket, Key="source", Body=data)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="joined",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
    )["CopyPartResult"]
    assert first["ETag"] == f'"{hashlib.md5(data[: 5 * MIB]).hexdigest()}"'
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="joined",
        UploadId=upload,
        PartNumber=2,
        CopySource=f"{bucket}/source",  # the whole object
    )["CopyPartResult"]
    parts = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="joined", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == data[: 5 * MIB] + data


@pytest.mark.parametrize("bad", ["bytes=10-5", "bytes=0-100", "items=0-1"])
def test_upload_part_copy_refuses_bad_ranges(s3: Any, bucket: str, bad: str) -> None:
    s3.put_object(Bucket=bucket, Key="small", Body=b"0123456789")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="x")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="x",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "small"},
            CopySourceRange=bad,
        )
    assert exc.value.response["Error"]["Code"] in ("InvalidRange", "InvalidArgument")
    with pytest.raises(ClientError) as missing:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="x",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "absent"},
        )
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_if_modified_since_and_if_unmodified_since(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(hours=1)

    assert s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=before)["Body"].read() == b"v"
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=after)
    assert error_status(not_modified) == 304
    with pytest.raises(ClientError) as head_not_modified:
        s3.head_object(Bucket=bucket, Key="k", IfModifiedSince=modified)  # same second
    assert error_status(head_not_modified) == 304

    assert s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=after)["Body"].read() == b"v"
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=before)
    assert error_status(failed) == 412
    assert failed.value.response["Error"]["Code"] == "PreconditionFailed"


def test_etag_conditions_override_date_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    earlier, later = modified - timedelta(hours=1), modified + timedelta(hours=1)
    # If-Match true wins over a false If-Unmodified-Since (S3 answers 200).
    got = s3.get_object(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=earlier)
    assert got["Body"].read() == b"v"
    # If-None-Match false (the ETag differs) wins over a true-304 If-Modified-Since.
    got = s3.get_object(Bucket=bucket, Key="k", IfNoneMatch='"other"', IfModifiedSince=later)
    assert got["Body"].read() == b"v"


def test_a_date_that_does_not_parse_is_ignored(s3_server: MontemapServer, bucket: str) -> None:
    import http.client

    from tests.s3api.conftest import s3_client

    client = s3_client(s3_server.url)
    client.put_object(Bucket=bucket, Key="k", Body=b"v")
    host, port = s3_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", f"/{bucket}/k", headers={"If-Modified-Since": "not a date"})
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"v")
    yesterday = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    connection.request("GET", f"/{bucket}/k", headers={"If-Modified-Since": yesterday})
    response = connection.getresponse()
    response.read()
    assert response.status == 304
    connection.close()
    client.close()


def test_system_metadata_is_kept_and_copied(s3: Any, bucket: str) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="page.html.gz",
        Body=b"\x1f\x8b...",
        ContentType="text/html",
        ContentEncoding="gzip",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="page.html"',
        ContentLanguage="fr",
        Expires=expires,
    )
    wanted = {
        "ContentType": "text/html",
        "ContentEncoding": "gzip",
        "CacheControl": "max-age=60",
        "ContentDisposition": 'attachment; filename="page.html"',
        "ContentLanguage": "fr",
    }
    for answer in (
        s3.head_object(Bucket=bucket, Key="page.html.gz"),
        s3.get_object(Bucket=bucket, Key="page.html.gz"),
    ):
        assert {name: answer.get(name) for name in wanted} == wanted
        assert answer["ResponseMetadata"]["HTTPHeaders"]["expires"] == (
            "Wed, 02 Jan 2030 03:04:05 GMT"
        )
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "page.html.gz"})
    copied = s3.head_object(Bucket=bucket, Key="copy")
    assert {name: copied.get(name) for name in wanted} == wanted


def test_aws_chunked_is_not_kept_as_the_content_encoding(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x" * 100)
    assert "ContentEncoding" not in s3.head_object(Bucket=bucket, Key="plain")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi", CacheControl="no-cache")
    part = s3.upload_part(
        Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"p"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multi",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.head_object(Bucket=bucket, Key="multi")["CacheControl"] == "no-cache"


def test_response_header_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="k",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-store",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-store"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "text/plain"


def test_a_website_redirect_location_is_kept_but_not_copied(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="old", Body=b"", WebsiteRedirectLocation="/new.html")
    assert s3.head_object(Bucket=bucket, Key="old")["WebsiteRedirectLocation"] == "/new.html"
    got = s3.get_object(Bucket=bucket, Key="old")
    assert (got["WebsiteRedirectLocation"], got["Body"].read()) == ("/new.html", b"")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/old")
    assert "WebsiteRedirectLocation" not in s3.head_object(Bucket=bucket, Key="copy")
    s3.copy_object(
        Bucket=bucket,
        Key="old",
        CopySource=f"{bucket}/old",
        WebsiteRedirectLocation="https://example.com/",
    )
    head = s3.head_object(Bucket=bucket, Key="old")
    assert head["WebsiteRedirectLocation"] == "https://example.com/"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"", WebsiteRedirectLocation="new.html")
    assert exc.value.response["Error"]["Code"] == "InvalidRedirectLocation"
