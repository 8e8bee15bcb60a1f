"""RestoreObject: an archived object's restore completes at once and HeadObject says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError


def restored_until(head: dict[str, Any]) -> datetime:
    """The expiry of a finished restore, from HeadObject's ``Restore``."""
    ongoing, _, expiry = head["Restore"].partition(", ")
    assert ongoing == 'ongoing-request="false"'
    return parsedate_to_datetime(expiry.removeprefix("expiry-date=").strip('"'))


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_object_is_restored_at_once(s3: Any, bucket: str, storage_class: str) -> None:
    s3.put_object(Bucket=bucket, Key="cold", Body=b"old data", StorageClass=storage_class)
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="cold")
    first = s3.restore_object(
        Bucket=bucket,
        Key="cold",
        RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}},
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 202
    head = s3.head_object(Bucket=bucket, Key="cold")
    until = restored_until(head)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert until in (midnight + timedelta(days=3), midnight + timedelta(days=4))
    again = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 1})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200  # already restored
    got = s3.get_object(Bucket=bucket, Key="cold")
    assert (got["Body"].read(), got["StorageClass"]) == (b"old data", storage_class)
    assert restored_until(got) < until
    # a copy is a new object, not restored; putting the key again replaces the restore
    s3.copy_object(
        Bucket=bucket, Key="copy", CopySource=f"{bucket}/cold", StorageClass=storage_class
    )
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="copy")
    s3.put_object(Bucket=bucket, Key="cold", Body=b"new", StorageClass=storage_class)
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="cold")


def test_a_restore_s3_refuses_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="warm", Body=b"data")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="warm", RestoreRequest={"Days": 1})
    error = exc.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidObjectState",
        403,
    )
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="absent", RestoreRequest={"Days": 1})
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="cold", Body=b"data", StorageClass="GLACIER")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={})
    assert exc.value.response["Error"]["Code"] == "MalformedXML"
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="cold")
