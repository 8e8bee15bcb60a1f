"""aws-sdk:s3 listObjectsV2 in a Task state, on a real server: ``Delimiter`` rolls keys up
into ``CommonPrefixes``, ``StartAfter`` and ``ContinuationToken`` page through keys and
prefixes together, as S3's ListObjectsV2 does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing.server import MontemapServer

KEYS = ["a/1", "a/2", "b/1", "c", "d/x/y", "d/z"]


@pytest.fixture(scope="module")
def bucket(shared_montemap_server: MontemapServer) -> Iterator[str]:
    name = f"sdk-list-{uuid.uuid4().hex[:10]}"
    s3 = shared_montemap_server.client("s3")
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    yield name
    s3.close()


def _list(sfn: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        "Parameters": parameters,
        "End": True,
    }
    out = sfn.test_state(definition=json.dumps(state))
    assert out["status"] == "SUCCEEDED", out
    listed: dict[str, Any] = json.loads(out["output"])
    return listed


def _names(listed: dict[str, Any]) -> tuple[list[str], list[str]]:
    keys = [o["Key"] for o in listed["Contents"]]
    return keys, [p["Prefix"] for p in listed.get("CommonPrefixes", [])]


def test_a_delimiter_rolls_keys_up_into_common_prefixes(sfn: Any, bucket: str) -> None:
    listed = _list(sfn, {"Bucket": bucket, "Delimiter": "/"})
    assert _names(listed) == (["c"], ["a/", "b/", "d/"])
    assert (listed["KeyCount"], listed["Delimiter"], listed["IsTruncated"]) == (4, "/", False)
    listed = _list(sfn, {"Bucket": bucket, "Prefix": "d/", "Delimiter": "/"})
    assert _names(listed) == (["d/z"], ["d/x/"])


def test_pages_hold_keys_and_prefixes_together(sfn: Any, bucket: str) -> None:
    first = _list(sfn, {"Bucket": bucket, "Delimiter": "/", "MaxKeys": 2})
    assert _names(first) == ([], ["a/", "b/"])
    assert first["IsTruncated"] is True
    token = first["NextContinuationToken"]
    second = _list(sfn, {"Bucket": bucket, "Delimiter": "/", "ContinuationToken": token})
    assert _names(second) == (["c"], ["d/"])
    assert second["ContinuationToken"] == token
    assert second["IsTruncated"] is False and "NextContinuationToken" not in second


def test_start_after_and_pages_without_a_delimiter(sfn: Any, bucket: str) -> None:
    listed = _list(sfn, {"Bucket": bucket, "StartAfter": "b/1"})
    assert _names(listed) == (["c", "d/x/y", "d/z"], [])
    assert listed["StartAfter"] == "b/1"
    seen: list[str] = []
    parameters: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 4}
    while True:
        page = _list(sfn, parameters)
        seen += _names(page)[0]
        if not page["IsTruncated"]:
            break
        parameters["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == KEYS


def test_a_token_not_given_by_a_listing_is_refused(sfn: Any, bucket: str) -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        "Parameters": {"Bucket": bucket, "ContinuationToken": "not a token"},
        "End": True,
    }
    out = sfn.test_state(definition=json.dumps(state))
    assert (out["status"], out["error"]) == ("FAILED", "S3.InvalidArgumentException")
