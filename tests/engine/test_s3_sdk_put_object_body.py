"""aws-sdk:s3 putObject with a ``Body`` that is not a string, on a real server.

Step Functions writes a JSON ``Body`` (an object, an array, a number) as compact JSON
text, as it prints JSON everywhere: no spaces after ``:`` or ``,``, non-ASCII kept.
A string ``Body`` is written as it is.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import MontemapServer, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"
SDK = "arn:aws:states:::aws-sdk:s3:"


@pytest.fixture(scope="module")
def s3(shared_montemap_server: MontemapServer) -> Iterator[Any]:
    made = shared_montemap_server.client("s3")
    yield made
    made.close()


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = f"sdk-put-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ({"id": "a", "tags": ["x", "é"], "n": 1.5}, '{"id":"a","tags":["x","é"],"n":1.5}'),
        ([1, {"k": None}], '[1,{"k":null}]'),
        ("as it is, {spaced}", "as it is, {spaced}"),
    ],
    ids=["object", "array", "string"],
)
def test_a_json_body_is_stored_as_compact_json_text(
    shared_montemap_server: MontemapServer, s3: Any, bucket: str, body: Any, stored: str
) -> None:
    key = f"put/{uuid.uuid4().hex[:8]}.json"
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": SDK + "putObject",
                "Parameters": {"Bucket": bucket, "Key": key, "Body.$": "$.body"},
                "End": True,
            }
        },
    }
    sfn = shared_montemap_server.client()
    try:
        machine = sfn.create_state_machine(
            name=f"put-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"body": body}))
        done = wait_for_execution(sfn, arn["executionArn"])
    finally:
        sfn.close()
    assert done["status"] == "SUCCEEDED", done
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() == stored
