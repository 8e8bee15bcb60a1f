"""aws-sdk:s3 headObject, headBucket, listBuckets and getObjectTagging on a real server.

Each runs as a Task state through TestState (the engine's own integration, no mock),
on objects put with boto3's S3 client: responses in the S3 API's PascalCase names,
failures named ``S3.<Code>Exception`` as the other aws-sdk:s3 actions name them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing.server import MontemapServer


@pytest.fixture(scope="module")
def bucket(shared_montemap_server: MontemapServer) -> Iterator[str]:
    name = f"sdk-head-{uuid.uuid4().hex[:10]}"
    s3 = shared_montemap_server.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(
        Bucket=name,
        Key="doc.json",
        Body=b'{"a": 1}',
        ContentType="application/json",
        Metadata={"owner": "ops"},
        Tagging="team=risk&tier=1",
    )
    yield name
    s3.delete_object(Bucket=name, Key="doc.json")
    s3.delete_bucket(Bucket=name)
    s3.close()


def _task(sfn: Any, action: str, parameters: dict[str, Any]) -> dict[str, Any]:
    state = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:s3:{action}",
        "Parameters": parameters,
        "End": True,
    }
    out: dict[str, Any] = sfn.test_state(definition=json.dumps(state))
    return out


def test_head_object_answers_its_metadata(sfn: Any, bucket: str) -> None:
    out = _task(sfn, "headObject", {"Bucket": bucket, "Key": "doc.json"})
    assert out["status"] == "SUCCEEDED", out
    head = json.loads(out["output"])
    assert head["ContentLength"] == 8
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "ops"}
    assert head["AcceptRanges"] == "bytes"
    assert head["ETag"].startswith('"') and head["ETag"].endswith('"')
    assert head["LastModified"].endswith("Z")
    assert "Body" not in head


def test_get_object_answers_the_stored_content_type(sfn: Any, bucket: str) -> None:
    out = _task(sfn, "getObject", {"Bucket": bucket, "Key": "doc.json"})
    assert out["status"] == "SUCCEEDED", out
    got = json.loads(out["output"])
    assert (got["Body"], got["ContentType"]) == ('{"a": 1}', "application/json")


def test_head_object_of_a_missing_key_or_bucket(sfn: Any, bucket: str) -> None:
    out = _task(sfn, "headObject", {"Bucket": bucket, "Key": "nope"})
    assert (out["status"], out["error"]) == ("FAILED", "S3.NoSuchKeyException")
    out = _task(sfn, "headObject", {"Bucket": f"{bucket}-gone", "Key": "k"})
    assert (out["status"], out["error"]) == ("FAILED", "S3.NoSuchBucketException")
    out = _task(sfn, "headObject", {"Bucket": bucket})
    assert (out["status"], out["error"]) == ("FAILED", "S3.InvalidRequestException")


def test_get_object_tagging(sfn: Any, bucket: str) -> None:
    out = _task(sfn, "getObjectTagging", {"Bucket": bucket, "Key": "doc.json"})
    assert json.loads(out["output"]) == {
        "TagSet": [{"Key": "team", "Value": "risk"}, {"Key": "tier", "Value": "1"}]
    }
    out = _task(sfn, "getObjectTagging", {"Bucket": bucket, "Key": "nope"})
    assert (out["status"], out["error"]) == ("FAILED", "S3.NoSuchKeyException")


def test_head_bucket_and_list_buckets(sfn: Any, bucket: str) -> None:
    out = _task(sfn, "headBucket", {"Bucket": bucket})
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"BucketRegion": "us-east-1", "AccessPointAlias": False}
    out = _task(sfn, "headBucket", {"Bucket": f"{bucket}-gone"})
    assert (out["status"], out["error"]) == ("FAILED", "S3.NoSuchBucketException")
    out = _task(sfn, "listBuckets", {})
    listed = json.loads(out["output"])
    names = [entry["Name"] for entry in listed["Buckets"]]
    assert bucket in names
    assert all(entry["CreationDate"].endswith("Z") for entry in listed["Buckets"])
    assert set(listed["Owner"]) == {"DisplayName", "ID"}
