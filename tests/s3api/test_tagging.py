"""Object and bucket tagging through boto3: S3's documents, headers, limits and errors."""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError


def raw(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """An unsigned request (the test server has no keys): status and body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def error_code(body: bytes) -> str:
    return ET.fromstring(body).findtext("Code") or ""


def code_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return str(exc.value.response["Error"]["Code"])


def tag_set(pairs: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def tags_of(s3: Any, bucket: str, key: str) -> dict[str, str]:
    got = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in got}


def test_put_get_delete_object_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    wanted = {"project": "loans", "stage": "raw data", "path": "a/b=c+d@e:f"}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(wanted))
    assert tags_of(s3, bucket, "k") == wanted
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 3
    assert got["Body"].read() == b"data"
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 3
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ETag"] == etag  # tags leave the bytes and the ETag alone
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"only": "one"}))
    assert tags_of(s3, bucket, "k") == {"only": "one"}  # replaced, not merged
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


def test_tagging_header_on_put_multipart_and_copy(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=two%20words")
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "two words"}  # COPY by default
    s3.copy_object(
        Bucket=bucket,
        Key="retagged",
        CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE",
        Tagging="c=3",
    )
    assert tags_of(s3, bucket, "retagged") == {"c": "3"}
    s3.copy_object(
        Bucket=bucket,
        Key="meta-only",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="text/plain",
    )
    assert tags_of(s3, bucket, "meta-only") == {"a": "1", "b": "two words"}
    assert s3.head_object(Bucket=bucket, Key="meta-only")["ContentType"] == "text/plain"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="m=p")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"z")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert tags_of(s3, bucket, "mp") == {"m": "p"}


def test_object_tagging_refusals(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    put = s3.put_object_tagging
    eleven = {f"k{i}": "v" for i in range(11)}
    assert code_of(put, Bucket=bucket, Key="k", Tagging=tag_set(eleven)) == "InvalidTag"
    assert code_of(put, Bucket=bucket, Key="k", Tagging=tag_set({"x" * 129: "v"})) == "InvalidTag"
    assert code_of(put, Bucket=bucket, Key="k", Tagging=tag_set({"k": "v" * 257})) == "InvalidTag"
    assert code_of(put, Bucket=bucket, Key="k", Tagging=tag_set({"aws:x": "v"})) == "InvalidTag"
    assert code_of(put, Bucket=bucket, Key="k", Tagging=tag_set({"bad#key": "v"})) == "InvalidTag"
    twice = {"TagSet": [{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}]}
    assert code_of(put, Bucket=bucket, Key="k", Tagging=twice) == "InvalidTag"
    assert tags_of(s3, bucket, "k") == {}  # nothing half-applied
    # the limits themselves are accepted
    ten = {f"k{i}": "v" * 256 for i in range(9)} | {"x" * 128: ""}
    put(Bucket=bucket, Key="k", Tagging=tag_set(ten))
    assert tags_of(s3, bucket, "k") == ten
    assert code_of(put, Bucket=bucket, Key="absent", Tagging=tag_set({"a": "b"})) == "NoSuchKey"
    assert code_of(s3.get_object_tagging, Bucket=bucket, Key="absent") == "NoSuchKey"
    assert code_of(s3.get_object_tagging, Bucket="no-such-bucket-x", Key="k") == "NoSuchBucket"
    dup_header = s3.put_object
    assert code_of(dup_header, Bucket=bucket, Key="h", Body=b"", Tagging="a=1&a=2") == (
        "InvalidArgument"
    )
    assert code_of(dup_header, Bucket=bucket, Key="h", Body=b"", Tagging="aws:a=1") == "InvalidTag"
    many = "&".join(f"k{i}=v" for i in range(11))
    assert code_of(dup_header, Bucket=bucket, Key="h", Body=b"", Tagging=many) == "InvalidTag"
    assert code_of(s3.head_object, Bucket=bucket, Key="h") == "404"  # refused before writing
    copy = s3.copy_object
    assert (
        code_of(
            copy,
            Bucket=bucket,
            Key="c",
            CopySource={"Bucket": bucket, "Key": "k"},
            TaggingDirective="SOMETIMES",
        )
        == "InvalidArgument"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
        b"<Tagging><Tag><Key>k</Key><Value>v</Value></Tag></Tagging>",
        b"<NotTagging/>",
        b"<Tagging><TagSet>",
        b"",
    ],
)
def test_malformed_tagging_document(s3_server: Any, s3: Any, bucket: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    for path in (f"/{bucket}/k?tagging", f"/{bucket}?tagging"):
        status, answer = raw(s3_server.url, "PUT", path, body)
        assert (status, error_code(answer)) == (400, "MalformedXML")


def test_bucket_tagging(s3: Any, bucket: str) -> None:
    assert code_of(s3.get_bucket_tagging, Bucket=bucket) == "NoSuchTagSet"
    wanted = {f"key{i}": f"value {i}" for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(wanted))
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {t["Key"]: t["Value"] for t in got} == wanted
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({}))  # an empty set is a set
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == []
    s3.delete_bucket_tagging(Bucket=bucket)
    assert code_of(s3.get_bucket_tagging, Bucket=bucket) == "NoSuchTagSet"
    fifty_one = {f"key{i}": "v" for i in range(51)}
    assert code_of(s3.put_bucket_tagging, Bucket=bucket, Tagging=tag_set(fifty_one)) == (
        "InvalidTag"
    )
    assert code_of(s3.get_bucket_tagging, Bucket="no-such-bucket-y") == "NoSuchBucket"


def test_bucket_tags_go_with_the_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket="tags-reborn")
    s3.put_bucket_tagging(Bucket="tags-reborn", Tagging=tag_set({"a": "b"}))
    s3.delete_bucket(Bucket="tags-reborn")
    s3.create_bucket(Bucket="tags-reborn")
    assert code_of(s3.get_bucket_tagging, Bucket="tags-reborn") == "NoSuchTagSet"
