"""Conditional writes (If-None-Match: *, If-Match on PutObject, CompleteMultipartUpload and
CopyObject) and the x-amz-copy-source-if-* conditions of CopyObject and UploadPartCopy.

A write whose condition does not hold is refused with S3's error and leaves the stored
object exactly as it was.
"""

from __future__ import annotations

import http.client
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def body_of(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_put_if_none_match_star_refuses_to_overwrite(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original", IfNoneMatch="*")  # absent: written
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"replacement", IfNoneMatch="*")
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, bucket, "k") == b"original"


def test_put_if_none_match_takes_only_a_star(s3_server: MontemapServer, bucket: str) -> None:
    url = urlsplit(s3_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request("PUT", f"/{bucket}/k", body=b"x", headers={"If-None-Match": '"abc"'})
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    assert status == 501
    assert b"<Code>NotImplemented</Code>" in body


def test_put_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch='"0123"')
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, bucket, "k") == b"v1"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    assert body_of(s3, bucket, "k") == b"v2"
    with pytest.raises(ClientError) as exc:  # no object to match: S3's 404
        s3.put_object(Bucket=bucket, Key="absent", Body=b"v1", IfMatch=etag)
    assert error_of(exc) == ("NoSuchKey", 404)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="absent")


def test_complete_multipart_upload_if_none_match(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"new")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*"
        )
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, bucket, "k") == b"original"
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts, IfMatch=etag
    )
    assert body_of(s3, bucket, "k") == b"new"


def test_copy_if_none_match_onto_an_existing_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.put_object(Bucket=bucket, Key="dst", Body=b"kept")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*"
        )
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert body_of(s3, bucket, "dst") == b"kept"


def _copy(s3: Any, bucket: str, **conditions: Any) -> Any:
    return s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, **conditions
    )


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"source")["ETag"]
    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=1)
    refused: list[dict[str, Any]] = [
        {"CopySourceIfMatch": '"0123"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfUnmodifiedSince": past},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ]
    for conditions in refused:
        with pytest.raises(ClientError) as exc:
            _copy(s3, bucket, **conditions)
        assert error_of(exc) == ("PreconditionFailed", 412), conditions
        with pytest.raises(ClientError):  # nothing was copied
            s3.head_object(Bucket=bucket, Key="dst")
    accepted: list[dict[str, Any]] = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"0123"'},
        {"CopySourceIfModifiedSince": past},
        {"CopySourceIfUnmodifiedSince": future},
        # S3's precedence: a true If-Match overrides a false If-Unmodified-Since
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past},
    ]
    for conditions in accepted:
        _copy(s3, bucket, **conditions)
        assert body_of(s3, bucket, "dst") == b"source"
        s3.delete_object(Bucket=bucket, Key="dst")


def test_upload_part_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"source")["ETag"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copy_source = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload,
            PartNumber=1,
            CopySource=copy_source,
            CopySourceIfMatch='"0123"',
        )
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload).get("Parts", []) == []
    s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        PartNumber=1,
        CopySource=copy_source,
        CopySourceIfMatch=etag,
    )
    assert len(s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload)["Parts"]) == 1


def test_get_conditions_take_lists_of_etags(s3_server: MontemapServer, bucket: str) -> None:
    """``If-Match``/``If-None-Match`` may list several entity tags (RFC 7232), weak ones too."""
    url = urlsplit(s3_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    statuses = []
    try:
        conn.request("PUT", f"/{bucket}/k", body=b"v")
        put = conn.getresponse()
        put.read()
        etag = put.getheader("etag") or ""
        for headers in (
            {"If-None-Match": f'"0123", {etag}'},
            {"If-None-Match": f"W/{etag}"},
            {"If-Match": f'"0123", {etag}'},
            {"If-Match": '"0123", "4567"'},
        ):
            conn.request("GET", f"/{bucket}/k", headers=headers)
            response = conn.getresponse()
            response.read()
            statuses.append((response.status, response.getheader("last-modified") is not None))
    finally:
        conn.close()
    assert statuses == [(304, True), (304, True), (200, True), (412, False)]


def test_conditional_delete_object(s3: Any, bucket: str) -> None:
    """DeleteObject's If-Match, x-amz-if-match-last-modified-time and x-amz-if-match-size:
    a condition that does not hold is 412 and the object stays."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"four")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    refused: list[dict[str, Any]] = [
        {"IfMatch": '"0123"'},
        {"IfMatchSize": 5},
        {"IfMatchLastModifiedTime": modified - timedelta(seconds=10)},
        {"IfMatch": etag, "IfMatchSize": 3},
    ]
    for conditions in refused:
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket=bucket, Key="k", **conditions)
        assert error_of(exc) == ("PreconditionFailed", 412), conditions
        assert body_of(s3, bucket, "k") == b"four"
    s3.delete_object(
        Bucket=bucket, Key="k", IfMatch=etag, IfMatchSize=4, IfMatchLastModifiedTime=modified
    )
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_conditional_delete_objects(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="kept", Body=b"k")["ETag"]
    gone = s3.put_object(Bucket=bucket, Key="gone", Body=b"g")["ETag"]
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "kept", "ETag": '"0123"'},
                {"Key": "kept", "Size": 7},
                {"Key": "gone", "ETag": gone, "Size": 1},
            ]
        },
    )
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [
        ("kept", "PreconditionFailed"),
        ("kept", "PreconditionFailed"),
    ]
    assert [d["Key"] for d in result["Deleted"]] == ["gone"]
    assert body_of(s3, bucket, "kept") == b"k"
    assert etag
