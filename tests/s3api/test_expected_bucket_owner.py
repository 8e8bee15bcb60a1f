"""``ExpectedBucketOwner``: a request that names another account than the server's as the
bucket's owner (or its copy source's) is refused, as S3 refuses it; the right one passes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.arns import DEFAULT_ACCOUNT

OTHER = "111122223333"


def _denied(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["Error"]["Code"] == "AccessDenied"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_owner_named_must_be_the_servers_account(shared_montemap_server: Any) -> None:
    s3 = shared_montemap_server.client("s3")
    bucket = f"owned-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=DEFAULT_ACCOUNT)
    _denied(s3.put_object, Bucket=bucket, Key="k2", Body=b"x", ExpectedBucketOwner=OTHER)
    _denied(s3.get_object, Bucket=bucket, Key="k", ExpectedBucketOwner=OTHER)
    _denied(s3.list_objects_v2, Bucket=bucket, ExpectedBucketOwner=OTHER)
    _denied(
        s3.copy_object,
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "k"},
        ExpectedSourceBucketOwner=OTHER,
    )
    s3.copy_object(
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "k"},
        ExpectedSourceBucketOwner=DEFAULT_ACCOUNT,
    )
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} == {"k", "copy"}
