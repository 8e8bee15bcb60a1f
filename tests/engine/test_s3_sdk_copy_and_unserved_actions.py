"""aws-sdk:s3 copyObject with a URL-encoded ``CopySource``, deleteObjects, and S3 actions
this server does not serve, on a real server driven with boto3.

S3 takes ``CopySource`` URL-encoded (``bucket/a%20key``), perhaps with ``?versionId=``;
a copy keeps the source's ``ContentType`` and ``Metadata`` (as putObject set them)
unless ``MetadataDirective`` is ``REPLACE``.
DeleteObjects names every key asked for under ``Deleted`` (a missing one too), none
when ``Quiet``, and refuses an empty or oversized list as ``MalformedXML``.
An S3 action montemap does not serve fails the state with ``States.Runtime`` before
any TaskScheduled, as a resource it does not serve does: neither a Retry nor a
``States.ALL`` Catch mistakes it for a failure of S3 that could pass.
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
def bucket(shared_montemap_server: MontemapServer) -> Iterator[str]:
    name = f"sdk-copy-{uuid.uuid4().hex[:10]}"
    s3 = shared_montemap_server.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="in/a key+plus.txt", Body=b"hello")
    yield name
    s3.close()


def _run(sfn: Any, states: dict[str, Any], start: str) -> tuple[dict[str, Any], list[str]]:
    definition = {"StartAt": start, "States": states}
    machine = sfn.create_state_machine(
        name=f"s3-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    done = wait_for_execution(sfn, arn)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return done, [e["type"] for e in events]


@pytest.mark.parametrize(
    "source",
    ["{b}/in/a%20key%2Bplus.txt", "/{b}/in/a%20key%2Bplus.txt?versionId=null"],
)
def test_copy_source_is_url_decoded(sfn: Any, bucket: str, source: str) -> None:
    states = {
        "Copy": {
            "Type": "Task",
            "Resource": SDK + "copyObject",
            "Parameters": {
                "Bucket": bucket,
                "Key": "out.txt",
                "CopySource": source.format(b=bucket),
            },
            "ResultPath": None,
            "Next": "Get",
        },
        "Get": {
            "Type": "Task",
            "Resource": SDK + "getObject",
            "Parameters": {"Bucket": bucket, "Key": "out.txt"},
            "OutputPath": "$.Body",
            "End": True,
        },
    }
    done, _ = _run(sfn, states, "Copy")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == "hello"


def _task(action: str, parameters: dict[str, Any], end: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": SDK + action, "Parameters": parameters}
    state.update({"End": True} if end else {"ResultPath": None})
    return state


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        ({}, ("application/json", {"team": "risk"})),
        (
            {"MetadataDirective": "REPLACE", "ContentType": "text/csv", "Metadata": {"a": "1"}},
            ("text/csv", {"a": "1"}),
        ),
    ],
)
def test_put_and_copy_keep_content_type_and_metadata(
    sfn: Any, bucket: str, directive: dict[str, Any], expected: tuple[str, dict[str, str]]
) -> None:
    where = {"Bucket": bucket, "Key": "meta/src.json"}
    put = {**where, "Body": "{}", "ContentType": "application/json", "Metadata": {"Team": "risk"}}
    copy = {"Bucket": bucket, "Key": "meta/dst.json", "CopySource": f"{bucket}/meta/src.json"}
    states = {
        "Put": {**_task("putObject", put), "Next": "Copy"},
        "Copy": {**_task("copyObject", {**copy, **directive}), "Next": "Head"},
        "Head": _task("headObject", {"Bucket": bucket, "Key": "meta/dst.json"}, end=True),
    }
    done, _ = _run(sfn, states, "Put")
    assert done["status"] == "SUCCEEDED", done
    head = json.loads(done["output"])
    assert (head["ContentType"], head["Metadata"]) == expected


def test_an_s3_action_not_served_fails_before_scheduling(sfn: Any, bucket: str) -> None:
    resource = SDK + "restoreObject"
    states = {
        "Delete": {
            "Type": "Task",
            "Resource": resource,
            "Parameters": {"Bucket": bucket, "Key": "x", "RestoreRequest": {"Days": 1}},
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 30}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Succeed"},
    }
    done, types = _run(sfn, states, "Delete")
    assert types == ["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
    assert f"The resource '{resource}' is not supported by this server" in done["cause"]
    assert "copyObject" in done["cause"] and "listObjectsV2" in done["cause"]


def _delete(bucket: str, objects: Any, quiet: bool | None = None) -> dict[str, Any]:
    delete: dict[str, Any] = {"Objects": objects}
    if quiet is not None:
        delete["Quiet"] = quiet
    return {
        "Type": "Task",
        "Resource": SDK + "deleteObjects",
        "Parameters": {"Bucket": bucket, "Delete": delete},
        "End": True,
    }


def test_delete_objects_deletes_each_key(
    sfn: Any, bucket: str, shared_montemap_server: MontemapServer
) -> None:
    s3 = shared_montemap_server.client("s3")
    for key in ("d/1", "d/2"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    objects = [{"Key": "d/1"}, {"Key": "d/2"}, {"Key": "d/never"}]
    done, types = _run(sfn, {"Delete": _delete(bucket, objects)}, "Delete")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"Deleted": objects}
    assert "TaskSucceeded" in types
    assert s3.list_objects_v2(Bucket=bucket, Prefix="d/")["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="d/3", Body=b"x")
    done, _ = _run(sfn, {"Delete": _delete(bucket, [{"Key": "d/3"}], quiet=True)}, "Delete")
    assert json.loads(done["output"]) == {}
    assert s3.list_objects_v2(Bucket=bucket, Prefix="d/")["KeyCount"] == 0
    s3.close()


@pytest.mark.parametrize("objects", [[], [{"Key": f"k{i}"} for i in range(1001)], [{}]])
def test_delete_objects_refuses_a_malformed_list(sfn: Any, bucket: str, objects: Any) -> None:
    done, _ = _run(sfn, {"Delete": _delete(bucket, objects)}, "Delete")
    assert (done["status"], done["error"]) == ("FAILED", "S3.MalformedXMLException")
