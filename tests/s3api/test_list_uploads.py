"""ListMultipartUploads: prefixes, delimiters, markers and pages, against boto3's paginator."""

from __future__ import annotations

from typing import Any

from tests.s3api.test_tagging import code_of


def start(s3: Any, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
    return [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys]


def test_list_uploads(s3: Any, bucket: str) -> None:
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    made = start(s3, bucket, ["b", "a/1", "a/2", "c", "b"])  # two uploads of "b"
    listed = s3.list_multipart_uploads(Bucket=bucket)
    got = [(u["Key"], u["UploadId"]) for u in listed["Uploads"]]
    # by key, then by start time
    assert got == [made[1], made[2], made[0], made[4], made[3]]
    assert listed["IsTruncated"] is False and listed["MaxUploads"] == 1000
    first = listed["Uploads"][0]
    assert first["Initiator"]["ID"] == "montemap" and first["StorageClass"] == "STANDARD"
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in grouped["Uploads"]] == ["b", "b", "c"]
    assert grouped["CommonPrefixes"] == [{"Prefix": "a/"}]
    under = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert [u["Key"] for u in under["Uploads"]] == ["a/1", "a/2"]
    after = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a/2")
    assert [u["Key"] for u in after["Uploads"]] == ["b", "b", "c"]
    mid = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b", UploadIdMarker=made[0][1])
    assert [(u["Key"], u["UploadId"]) for u in mid["Uploads"]] == [made[4], made[3]]
    # pages of two, resumed with the markers each page gives, cover every upload once
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    seen = [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])]
    assert seen == got
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert page["IsTruncated"] and (page["NextKeyMarker"], page["NextUploadIdMarker"]) == made[2]
    s3.abort_multipart_upload(Bucket=bucket, Key="c", UploadId=made[3][1])
    assert "c" not in [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]]


def test_list_uploads_refusals(s3: Any, bucket: str) -> None:
    assert code_of(s3.list_multipart_uploads, Bucket="no-such-bucket-u") == "NoSuchBucket"
    assert code_of(s3.list_multipart_uploads, Bucket=bucket, MaxUploads=-1) == "InvalidArgument"
