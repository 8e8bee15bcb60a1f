"""Distributed Maps made on a real server through boto3, for the tests that drive one:
a map over the input's ``items`` whose children run an activity the test answers, and
a map over an S3 object read by an ItemReader whose children pass their item on."""

from __future__ import annotations

import json
import uuid
from typing import Any

from montemap.testing import MontemapServer, eventually

ROLE = "arn:aws:iam::123456789012:role/test"


def _machine(sfn: Any, prefix: str, state: dict[str, Any], processor: dict[str, Any]) -> str:
    definition = {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", **state, "ItemProcessor": processor, "End": True}},
    }
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    arn: str = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    return arn


def activity_map(
    sfn: Any, prefix: str, *, execution_type: str = "STANDARD", **fields: Any
) -> tuple[str, str]:
    """``(activity ARN, state machine ARN)``: one Distributed Map over ``$.items`` (with
    ``fields``, e.g. ``MaxConcurrency``), each child one Task on the activity."""
    activity: str = sfn.create_activity(name=f"{prefix}-{uuid.uuid4().hex[:8]}")["activityArn"]
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    return activity, _machine(sfn, prefix, {"ItemsPath": "$.items", **fields}, processor)


def reader_map(
    server: MontemapServer, body: bytes, reader: dict[str, Any], *, key: str = "in.json"
) -> str:
    """A state machine whose Distributed Map reads ``body`` (put as ``key`` in a new bucket)
    with ``reader`` (``Resource`` and ``ReaderConfig``), each child a Pass."""
    bucket = f"t-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "End": True}},
    }
    item_reader = {**reader, "Parameters": {"Bucket": bucket, "Key": key}}
    return _machine(server.client(), "t-reader", {"ItemReader": item_reader}, processor)


def start(sfn: Any, machine: str, items: list[Any]) -> str:
    arn: str = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": items}))[
        "executionArn"
    ]
    return arn


def map_run_arn(sfn: Any, execution: str) -> str:
    """The execution's Map Run, once it has one."""

    def found() -> str | None:
        runs = sfn.list_map_runs(executionArn=execution)["mapRuns"]
        return str(runs[0]["mapRunArn"]) if runs else None

    arn: str = eventually(found, what="the Map Run")
    return arn
