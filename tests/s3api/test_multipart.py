"""Multipart uploads: the S3 ETag form, ListParts, Abort, and S3's refusals."""

from __future__ import annotations

import hashlib
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer

MIB = 1024 * 1024


def parts_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_complete_joins_parts(s3: Any, bucket: str) -> None:
    parts = [bytes([65 + i]) * (5 * MIB) for i in range(2)] + [b"tail"]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="joined.bin", ContentType="application/x-test", Metadata={"m": "v"}
    )["UploadId"]
    etags = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(
            Bucket=bucket, Key="joined.bin", UploadId=upload, PartNumber=number, Body=data
        )["ETag"]
        assert etag == f'"{hashlib.md5(data).hexdigest()}"'
        etags.append(etag)
    listed = s3.list_parts(Bucket=bucket, Key="joined.bin", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (n, len(d), e) for n, (d, e) in enumerate(zip(parts, etags, strict=True), start=1)
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="joined.bin",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
        },
    )
    assert done["ETag"] == parts_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="joined.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == parts_etag(parts)
    assert (got["ContentType"], got["Metadata"]) == ("application/x-test", {"m": "v"})
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="joined.bin", UploadId=upload)
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"


def test_refusals(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"small")[
        "ETag"
    ]
    last = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=2, Body=b"last")[
        "ETag"
    ]

    def complete(parts: list[dict[str, Any]]) -> str:
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
            )
        return str(exc.value.response["Error"]["Code"])

    assert (
        complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}])
        == "EntityTooSmall"
    )
    assert complete([{"PartNumber": 1, "ETag": '"00ff"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 3, "ETag": small}]) == "InvalidPart"
    assert (
        complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}])
        == "InvalidPartOrder"
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=3, Body=b"x")
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="../../etc")
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert exc.value.response["Error"]["Code"] == "404"


def test_single_part_upload_of_any_size(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="one", UploadId=upload, PartNumber=1, Body=b"tiny")[
        "ETag"
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="one",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert done["ETag"] == parts_etag([b"tiny"])


def test_bucket_with_an_upload_in_progress_is_not_empty(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert exc.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=upload)
    s3.delete_bucket(Bucket=bucket)


def test_complete_answers_the_object_url_as_its_location(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    key = "dir/a b+c é"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x")
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert done["Location"] == f"{s3_server.url}/{bucket}/dir/a%20b%2Bc%20%C3%A9"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(done["Location"], timeout=30) as response:  # unsigned: a server without keys
        assert response.read() == b"x"
