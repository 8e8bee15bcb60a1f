"""ListObjectsV2 and ListObjects: prefixes, delimiters, StartAfter, markers and pagination."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import pytest
from botocore.exceptions import ClientError

KEYS = sorted(
    [f"data/{d}/part-{i:02d}" for d in ("a", "b", "c") for i in range(4)]
    + ["data/top.csv", "logs/1", "logs/2", "readme"]
)


@pytest.fixture
def filled(s3: Any, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_v2_pages_through_everything(s3: Any, filled: str) -> None:
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"Bucket": filled, "MaxKeys": 5}
    while True:
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] == len(page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == KEYS
    assert pages == -(-len(KEYS) // 5)


def test_v2_paginator_prefix_and_start_after(s3: Any, filled: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    keys = [
        o["Key"]
        for page in paginator.paginate(
            Bucket=filled, Prefix="data/b/", PaginationConfig={"PageSize": 2}
        )
        for o in page.get("Contents", [])
    ]
    assert keys == [k for k in KEYS if k.startswith("data/b/")]
    after = s3.list_objects_v2(Bucket=filled, StartAfter="data/c/part-02")
    assert [o["Key"] for o in after["Contents"]] == [k for k in KEYS if k > "data/c/part-02"]


def test_v2_delimiter_groups_common_prefixes(s3: Any, filled: str) -> None:
    top = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["data/", "logs/"]
    assert [o["Key"] for o in top["Contents"]] == ["readme"]
    inner = s3.list_objects_v2(Bucket=filled, Prefix="data/", Delimiter="/")
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["data/a/", "data/b/", "data/c/"]
    assert [o["Key"] for o in inner["Contents"]] == ["data/top.csv"]


def test_v2_delimiter_pagination_counts_prefixes(s3: Any, filled: str) -> None:
    entries: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": filled, "Prefix": "data/", "Delimiter": "/", "MaxKeys": 2}
    while True:
        page = s3.list_objects_v2(**kwargs)
        entries += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        entries += [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] <= 2
        if not page["IsTruncated"]:
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert sorted(entries) == ["data/a/", "data/b/", "data/c/", "data/top.csv"]


def test_v1_markers(s3: Any, filled: str) -> None:
    seen: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=filled, Marker=marker, MaxKeys=4)
        keys = [o["Key"] for o in page.get("Contents", [])]
        seen += keys
        if not page["IsTruncated"]:
            break
        marker = keys[-1]
    assert seen == KEYS
    grouped = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=1)
    assert grouped["IsTruncated"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["data/"]
    rest = s3.list_objects(Bucket=filled, Delimiter="/", Marker=grouped["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["logs/"]
    assert [o["Key"] for o in rest["Contents"]] == ["readme"]


def test_empty_and_missing(s3: Any, bucket: str) -> None:
    empty = s3.list_objects_v2(Bucket=bucket)
    assert empty["KeyCount"] == 0
    assert not empty["IsTruncated"]
    assert "Contents" not in empty
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.list_objects_v2(Bucket="no-such-bucket-here")


@pytest.mark.parametrize("token", ["!!!", "not a token", "%%%%"])
def test_a_continuation_token_we_never_gave_is_refused(s3: Any, bucket: str, token: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken=token)
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_url_encoding_type(s3: Any, bucket: str) -> None:
    key = "odd key+with%chars/ü"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # botocore asks for url encoding itself and decodes the answer...
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    # ...but leaves it to the caller who asked for it.
    listed = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert [o["Key"] for o in listed["Contents"]] == [quote(key, safe="/")]
    assert listed["EncodingType"] == "url"
    assert [
        unquote(o["Key"]) for o in s3.list_objects(Bucket=bucket, EncodingType="url")["Contents"]
    ] == [key]
