"""aws-sdk:s3 getObject with a byte ``Range``, in a Task state on a real server.

S3 answers the bytes asked for (``bytes=first-last``, ``bytes=first-``, ``bytes=-suffix``,
the last byte clipped to the object's end) with a ``ContentRange``; it ignores a range it
cannot read (answering the whole object) and refuses one no byte satisfies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing.server import MontemapServer

TEXT = "0123456789"


@pytest.fixture(scope="module")
def bucket(shared_montemap_server: MontemapServer) -> Iterator[str]:
    name = f"sdk-range-{uuid.uuid4().hex[:10]}"
    s3 = shared_montemap_server.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="digits.txt", Body=TEXT.encode())
    yield name
    s3.close()


def _get(sfn: Any, bucket: str, span: str) -> dict[str, Any]:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket": bucket, "Key": "digits.txt", "Range": span},
        "End": True,
    }
    out: dict[str, Any] = sfn.test_state(definition=json.dumps(state))
    return out


@pytest.mark.parametrize(
    ("span", "body", "content_range"),
    [
        ("bytes=2-4", "234", "bytes 2-4/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
        ("bytes=-50", TEXT, "bytes 0-9/10"),
    ],
)
def test_a_range_reads_those_bytes(
    sfn: Any, bucket: str, span: str, body: str, content_range: str
) -> None:
    out = _get(sfn, bucket, span)
    assert out["status"] == "SUCCEEDED", out
    got = json.loads(out["output"])
    assert (got["Body"], got["ContentLength"], got["ContentRange"]) == (
        body,
        len(body),
        content_range,
    )


@pytest.mark.parametrize("span", ["bytes=5-2", "lines=1-2", "bytes=-"])
def test_a_range_s3_cannot_read_is_ignored(sfn: Any, bucket: str, span: str) -> None:
    got = json.loads(_get(sfn, bucket, span)["output"])
    assert (got["Body"], got["ContentLength"]) == (TEXT, 10)
    assert "ContentRange" not in got


@pytest.mark.parametrize("span", ["bytes=10-", "bytes=20-30", "bytes=-0"])
def test_a_range_past_the_end_is_refused(sfn: Any, bucket: str, span: str) -> None:
    out = _get(sfn, bucket, span)
    assert (out["status"], out["error"]) == ("FAILED", "S3.InvalidRangeException")
