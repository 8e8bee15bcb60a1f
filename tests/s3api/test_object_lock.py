"""Object Lock: buckets here never have it (it needs versioned storage), so a retention or
a legal hold is refused as S3 refuses it in such a bucket, never ignored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

LOCKS: list[dict[str, Any]] = [
    {
        "ObjectLockMode": "GOVERNANCE",
        "ObjectLockRetainUntilDate": datetime.now(UTC) + timedelta(days=1),
    },
    {"ObjectLockLegalHoldStatus": "ON"},
]


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


@pytest.mark.parametrize("lock", LOCKS)
def test_a_retention_or_legal_hold_is_refused(s3: Any, bucket: str, lock: Any) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"data")
    writes: list[Callable[[], Any]] = [
        lambda: s3.put_object(Bucket=bucket, Key="locked", Body=b"data", **lock),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="locked", **lock),
        lambda: s3.copy_object(Bucket=bucket, Key="locked", CopySource=f"{bucket}/source", **lock),
    ]
    for write in writes:
        with pytest.raises(ClientError) as exc:
            write()
        code, message = error(exc)
        assert (code, message.startswith("Bucket is missing ObjectLockConfiguration")) == (
            "InvalidRequest",
            True,
        )
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["source"]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_a_bucket_with_object_lock_is_not_created(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="locked-bucket", ObjectLockEnabledForBucket=True)
    assert error(exc)[0] == "NotImplemented"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="locked-bucket")
    s3.create_bucket(Bucket="unlocked-bucket", ObjectLockEnabledForBucket=False)
    s3.head_bucket(Bucket="unlocked-bucket")
