"""Objects through boto3's client and resource: bytes, ETags, metadata, ranges, copies, errors."""

from __future__ import annotations

import hashlib
import http.client
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from montemap.testing import DUMMY_CREDENTIALS, REGION, MontemapServer


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_put_get_head_delete(s3: Any, bucket: str) -> None:
    body = b"loan 42\n" * 100
    put = s3.put_object(Bucket=bucket, Key="loans/42.json", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="loans/42.json")
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "binary/octet-stream"
    head = s3.head_object(Bucket=bucket, Key="loans/42.json")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] == got["LastModified"]
    s3.delete_object(Bucket=bucket, Key="loans/42.json")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="loans/42.json")
    assert error_code(exc) == "NoSuchKey"
    # S3 names the key in its error; botocore's type for the error lists only Code and Message
    error = cast(dict[str, Any], exc.value.response["Error"])
    assert error["Key"] == "loans/42.json"
    s3.delete_object(Bucket=bucket, Key="loans/42.json")  # absent: no error, as S3


def test_content_type_and_user_metadata_are_kept(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket,
        Key="doc.txt",
        Body=b"x",
        ContentType="text/plain; charset=utf-8",
        Metadata={"Owner": "risk", "run-id": "r1"},
    )
    head = s3.head_object(Bucket=bucket, Key="doc.txt")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["Metadata"] == {"owner": "risk", "run-id": "r1"}
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Metadata"] == head["Metadata"]


def test_keys_with_special_characters(s3: Any, bucket: str) -> None:
    keys = ["a b/c+d%e.txt", "ünï/çødé", "x=y&z?w", "dir/with~tilde!*'()"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=0-3", b"0123", "bytes 0-3/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-2", b"89", "bytes 8-9/10"),
        ("bytes=5-100", b"56789", "bytes 5-9/10"),
    ],
)
def test_ranges(s3: Any, bucket: str, header: str, expected: bytes, content_range: str) -> None:
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="digits", Range=header)
    assert got["Body"].read() == expected
    assert got["ContentRange"] == content_range
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_unsatisfiable_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="digits", Range="bytes=10-20")
    assert error_code(exc) == "InvalidRange"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_unsatisfiable_range_says_what_was_asked(s3_server: MontemapServer, bucket: str) -> None:
    """S3's 416: ``Content-Range: bytes */<size>``, ``RangeRequested`` and ``ActualObjectSize``."""
    url = urlsplit(s3_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request("PUT", f"/{bucket}/digits", body=b"0123456789")
        conn.getresponse().read()
        conn.request("GET", f"/{bucket}/digits", headers={"Range": "bytes=10-"})
        response = conn.getresponse()
        status, content_range, body = (
            response.status,
            response.getheader("content-range"),
            response.read(),
        )
    finally:
        conn.close()
    assert status == 416
    assert content_range == "bytes */10"
    assert b"<RangeRequested>bytes=10-</RangeRequested>" in body
    assert b"<ActualObjectSize>10</ActualObjectSize>" in body


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=1-0", "bytes=33-10", "bytes=x-"])
def test_an_invalid_range_is_ignored(s3: Any, bucket: str, header: str) -> None:
    """As S3 (RFC 7233): a range whose last byte comes before its first is no range."""
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="digits", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == b"0123456789"
    assert "ContentRange" not in got


def test_ranges_of_an_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as exc:  # no first byte to start at
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-")
    assert error_code(exc) == "InvalidRange"
    # a suffix range is satisfiable: the whole (empty) object, never "bytes 0--1/0"
    got = s3.get_object(Bucket=bucket, Key="empty", Range="bytes=-5")
    assert got["Body"].read() == b""
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "ContentRange" not in got


def test_large_object_streams_back_whole(s3: Any, bucket: str) -> None:
    body = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body
    part = s3.get_object(Bucket=bucket, Key="big", Range="bytes=1048570-2097160")["Body"].read()
    assert part == body[1048570:2097161]


def test_copy_object_keeps_or_replaces_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"payload", ContentType="text/csv", Metadata={"a": "1"}
    )
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"a": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        Metadata={"b": "2"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst2")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"b": "2"})
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"payload"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_code(exc) == "InvalidRequest"
    # a copy onto itself that changes the storage class or the encryption is one S3 takes
    for change in ({"StorageClass": "STANDARD"}, {"ServerSideEncryption": "AES256"}):
        s3.copy_object(
            Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"}, **change
        )
        head = s3.head_object(Bucket=bucket, Key="src")
        assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"a": "1"})
        assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"payload"


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"0000"')
    assert error_code(exc) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"v"


def test_buckets_lifecycle_and_errors(s3: Any) -> None:
    s3.create_bucket(Bucket="lifecycle-bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "lifecycle-bucket" in names
    s3.head_bucket(Bucket="lifecycle-bucket")
    s3.put_object(Bucket="lifecycle-bucket", Key="deep/down/obj", Body=b"keep me")
    # us-east-1 (the server's region here): creating a bucket you own again is 200 OK,
    # as on S3 (legacy), and leaves its objects alone
    s3.create_bucket(Bucket="lifecycle-bucket")
    assert s3.get_object(Bucket="lifecycle-bucket", Key="deep/down/obj")["Body"].read() == (
        b"keep me"
    )
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="lifecycle-bucket")
    assert error_code(exc) == "BucketNotEmpty"
    assert (
        s3.get_object(Bucket="lifecycle-bucket", Key="deep/down/obj")["Body"].read() == b"keep me"
    )
    s3.delete_object(Bucket="lifecycle-bucket", Key="deep/down/obj")
    s3.delete_bucket(Bucket="lifecycle-bucket")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="lifecycle-bucket")
    assert exc.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="lifecycle-bucket", Key="deep/down/obj")
    assert error_code(exc) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="lifecycle-bucket", Key="x", Body=b"")
    assert error_code(exc) == "NoSuchBucket"


def test_keys_that_are_no_plain_path_are_kept_as_keys(
    s3: Any, bucket: str, s3_server: MontemapServer
) -> None:
    """S3 takes ``..``, ``.`` and empty segments, a "folder" key ``photos/``: stored as
    keys, read and listed back as sent, and never a path out of the bucket."""
    keys = ["a/../../escape", "../escape", "x//y", "/lead", "./dot", "photos/", "photos/a.jpg"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    folders = s3.list_objects_v2(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [o["Key"] for o in folders["Contents"]] == ["photos/", "photos/a.jpg"]
    bucket_dir = s3_server.data_dir / "buckets" / bucket
    written = list(s3_server.data_dir.rglob("escape"))
    assert len(written) == 2 and all(bucket_dir in path.parents for path in written)
    assert s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})[
        "Deleted"
    ] == [{"Key": k} for k in keys]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(exc) == "KeyTooLongError"


@pytest.mark.parametrize(
    "name",
    [
        "Not_Valid..Name",
        "under_score",  # S3 refuses underscores in new buckets
        "192.168.5.4",  # formatted as an IP address
        "xn--punycode",
        "sthree-reserved",
        "amzn-s3-demo-bucket",
        "alias-s3alias",
        "lambda--ol-s3",
        "point.mrap",
        "tables--table-s3",
        "a..b",
    ],
)
def test_invalid_bucket_name(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc) == "InvalidBucketName"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("name", ["with_underscore", "Upper_And_Underscore"])
def test_the_refusal_of_a_new_bucket_name_states_the_new_rules(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    message = exc.value.response["Error"]["Message"]
    assert (error_code(exc), "'_'" in message) == ("InvalidBucketName", False)
    assert "a-z, 0-9, '.' and '-'" in message


def test_keys_with_segments_longer_than_a_file_name(s3: Any, bucket: str) -> None:
    """A local bucket keeps a key as a path; S3 takes a 1024-byte key whatever its
    segments, so a segment over the file system's 255 bytes per name is a key too."""
    keys = ["k" * 1024, "dir/" + "é" * 300, "l" * 300 + "/" + "m" * 300 + "/x", "dir/short"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode()[:16])
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()[:16]
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(key.encode()[:16])
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["dir/", "l" * 300 + "/"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k" * 1023)
    assert error_code(exc) == "NoSuchKey"
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_objects_reports_each_key(s3: Any, bucket: str) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["k0", "k1", "missing"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k2"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k2"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_resource_interface(s3_server: MontemapServer, bucket: str) -> None:
    resource: Any = boto3.session.Session().resource(
        "s3",
        endpoint_url=s3_server.url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
    )
    target = resource.Bucket(bucket)
    for i in range(3):
        target.put_object(Key=f"r/{i}", Body=str(i).encode())
    assert sorted(o.key for o in target.objects.filter(Prefix="r/")) == ["r/0", "r/1", "r/2"]
    obj = resource.Object(bucket, "r/1")
    assert obj.get()["Body"].read() == b"1"
    assert obj.content_length == 1
    target.objects.filter(Prefix="r/").delete()
    assert list(target.objects.all()) == []
    assert any(b.name == bucket for b in resource.buckets.all())


def test_unsigned_path_and_virtual_hosted_requests(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"plain http")
    connection = http.client.HTTPConnection("127.0.0.1", s3_server.port, timeout=30)
    try:
        connection.request("GET", f"/{bucket}/a/b")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"plain http")
        connection.request("GET", "/a/b", headers={"Host": f"{bucket}.localhost:{s3_server.port}"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"plain http")
        connection.request("GET", f"/{bucket}/missing")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 404
        assert b"<Code>NoSuchKey</Code>" in body
        assert b"<Resource>/" + bucket.encode() + b"/missing</Resource>" in body
    finally:
        connection.close()


def test_unsupported_subresources_say_so(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(exc) == "NotImplemented"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_get_object_attributes(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    got = s3.get_object_attributes(
        Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"]
    )
    assert got["ETag"] == put["ETag"].strip('"')  # S3 answers this ETag unquoted
    assert got["ObjectSize"] == 10
    assert got["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in got
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    only_size = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only_size and only_size["ObjectSize"] == 10
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    parts = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"])
    assert parts["ObjectParts"]["TotalPartsCount"] == 1
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"])
    assert error_code(exc) == "NoSuchKey"


@pytest.mark.parametrize(
    "call",
    [
        lambda s3, bucket: s3.get_public_access_block(Bucket=bucket),
        lambda s3, bucket: s3.get_bucket_metrics_configuration(Bucket=bucket, Id="m"),
        lambda s3, bucket: s3.get_bucket_inventory_configuration(Bucket=bucket, Id="i"),
        lambda s3, bucket: s3.get_bucket_analytics_configuration(Bucket=bucket, Id="a"),
        lambda s3, bucket: s3.get_bucket_intelligent_tiering_configuration(Bucket=bucket, Id="t"),
        lambda s3, bucket: s3.get_bucket_policy_status(Bucket=bucket),
    ],
)
def test_unserved_bucket_configurations_are_not_implemented(
    s3: Any, bucket: str, call: Any
) -> None:
    """Never a listing of the bucket passed off as a configuration."""
    with pytest.raises(ClientError) as exc:
        call(s3, bucket)
    assert error_code(exc) == "NotImplemented"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_part_number_reads(s3: Any, bucket: str) -> None:
    """GetObject/HeadObject ``partNumber``: part 1 of an object put whole is all of it
    (206); a part of a multipart object is the bytes that part held; a part the object
    does not have is ``InvalidPartNumber`` (416)."""
    s3.put_object(Bucket=bucket, Key="whole", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="whole", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert got["Body"].read() == b"0123456789"
    assert s3.head_object(Bucket=bucket, Key="whole", PartNumber=1)["ContentLength"] == 10
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="whole", PartNumber=2)
    assert error_code(exc) == "InvalidPartNumber"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="whole", PartNumber=1, Range="bytes=0-1")
    assert error_code(exc) == "InvalidRequest"

    first, last = b"a" * (5 * 1024 * 1024), b"b" * 10
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for number, data in ((1, first), (2, last)):
        etag = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=data
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert error_code(exc) == "InvalidPartNumber"
    size = len(first) + len(last)
    for number, data, content_range in (
        (1, first, f"bytes 0-{len(first) - 1}/{size}"),
        (2, last, f"bytes {len(first)}-{size - 1}/{size}"),
    ):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == data
        assert got["PartsCount"] == 2
        assert got["ContentRange"] == content_range
        head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=number)
        assert head["ContentLength"] == len(data)
        assert head["PartsCount"] == 2
    # a copy is an object put whole (one part), as on S3
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert s3.get_object(Bucket=bucket, Key="copy", PartNumber=1)["ContentLength"] == size


def test_a_key_can_be_an_object_once_no_key_is_below_it(s3: Any, bucket: str) -> None:
    """A local bucket keeps ``a/b/c`` in directories; once the keys below ``a/`` are gone,
    ``a`` is a key like any other (as on S3). While one is left, ``a`` is still refused
    and what is below is untouched."""
    s3.put_object(Bucket=bucket, Key="a/b/c", Body=b"c")
    s3.put_object(Bucket=bucket, Key="a/b/d", Body=b"d")
    s3.delete_object(Bucket=bucket, Key="a/b/c")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    assert error_code(exc) == "InvalidKey"
    assert s3.get_object(Bucket=bucket, Key="a/b/d")["Body"].read() == b"d"
    s3.delete_object(Bucket=bucket, Key="a/b/d")
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a"]


def test_missing_things_are_reported_in_s3s_words(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="absent")
    assert exc.value.response["Error"]["Message"] == "The specified key does not exist."
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="no-such-bucket-words")
    assert exc.value.response["Error"]["Message"] == "The specified bucket does not exist"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="0123")
    assert exc.value.response["Error"]["Message"].startswith("The specified upload does not exist")


def test_list_buckets_prefix_and_pages(s3: Any) -> None:
    names = [f"paged-bucket-{i}" for i in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
    only = s3.list_buckets(Prefix="paged-bucket-")
    assert [b["Name"] for b in only["Buckets"]] == names
    assert only["Prefix"] == "paged-bucket-"
    assert all(b["BucketRegion"] == REGION for b in only["Buckets"])
    first = s3.list_buckets(Prefix="paged-bucket-", MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    rest = s3.list_buckets(
        Prefix="paged-bucket-", MaxBuckets=2, ContinuationToken=first["ContinuationToken"]
    )
    assert [b["Name"] for b in rest["Buckets"]] == names[2:]
    assert "ContinuationToken" not in rest
    paged = s3.get_paginator("list_buckets").paginate(
        Prefix="paged-bucket-", PaginationConfig={"PageSize": 1}
    )
    assert [b["Name"] for page in paged for b in page["Buckets"]] == names
    assert s3.list_buckets(Prefix="paged-bucket-", BucketRegion="eu-west-3")["Buckets"] == []


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("PUT", "annotation"),  # PutObjectAnnotation
        ("DELETE", "annotation"),  # DeleteObjectAnnotation
        ("PUT", "renameObject"),  # RenameObject
        ("GET", "part"),  # GetPart
    ],
)
def test_unserved_object_operations_never_touch_the_object(
    s3_server: MontemapServer, s3: Any, bucket: str, method: str, query: str
) -> None:
    """An operation montemap does not serve is NotImplemented, never taken for a
    PutObject or DeleteObject of the object it names."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"precious")
    url = urlsplit(s3_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request(method, f"/{bucket}/k?{query}", body=b"<Annotation/>")
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    assert status == 501, body
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"precious"


def test_an_append_is_refused_not_taken_for_a_replacement(s3: Any, bucket: str) -> None:
    """``x-amz-write-offset-bytes`` appends (S3 Express): refused, the object stays whole."""
    s3.put_object(Bucket=bucket, Key="log", Body=b"line 1\n")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="log", Body=b"line 2\n", WriteOffsetBytes=7)
    assert error_code(exc) == "NotImplemented"
    assert s3.get_object(Bucket=bucket, Key="log")["Body"].read() == b"line 1\n"


def test_create_bucket_again_outside_us_east_1(tmp_path_factory: pytest.TempPathFactory) -> None:
    """In every other region, S3 refuses it: ``BucketAlreadyOwnedByYou`` (409)."""
    server = MontemapServer(
        tmp_path_factory.mktemp("eu-server") / "data", extra_args=["--region", "eu-west-3"]
    )
    server.start()
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=server.url,
            region_name="eu-west-3",
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key="test",
        )
        config: Any = {"LocationConstraint": "eu-west-3"}
        client.create_bucket(Bucket="owned-twice", CreateBucketConfiguration=config)
        with pytest.raises(ClientError) as exc:
            client.create_bucket(Bucket="owned-twice", CreateBucketConfiguration=config)
        assert error_code(exc) == "BucketAlreadyOwnedByYou"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        client.close()
    finally:
        server.close()


def test_storage_class_is_kept(s3: Any, bucket: str) -> None:
    """The storage class an object was written with is answered (HEAD, GET, listings),
    STANDARD unnamed on HEAD as on S3; a copy takes the one it names, else STANDARD."""
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="std", Body=b"y")
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="std")
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {"ia": "STANDARD_IA", "std": "STANDARD"}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "ia"})
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="copy")
    s3.copy_object(
        Bucket=bucket,
        Key="std",
        CopySource={"Bucket": bucket, "Key": "std"},
        StorageClass="GLACIER_IR",
    )
    assert s3.head_object(Bucket=bucket, Key="std")["StorageClass"] == "GLACIER_IR"
    assert s3.get_object(Bucket=bucket, Key="std")["Body"].read() == b"y"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass="ONEZONE_IA")
    part = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.head_object(Bucket=bucket, Key="mp")["StorageClass"] == "ONEZONE_IA"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"z", StorageClass="NOT_A_CLASS")
    assert error_code(exc) == "InvalidStorageClass"
