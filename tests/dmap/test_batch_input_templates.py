"""Distributed Maps shaped like published AWS samples, through boto3 on a real server.

* An ``ItemBatcher.BatchInput`` that is a template, not a constant: JSONPath ``.$``
  fields from the context object and the state input, and a JSONata ``{% %}`` field
  that reads a workflow variable assigned by an earlier state.
* A batched Distributed Map over an S3 listing whose STANDARD children each run a
  batched Distributed Map of their own over ``$.Items``, the grandchildren an inline
  Map, and the outer state's ``OutputPath`` ``null``.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.testing import MontemapServer, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"


def _run(sfn: Any, name: str, definition: dict[str, Any], payload: Any) -> dict[str, Any]:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, name="run-1", input=json.dumps(payload))[
        "executionArn"
    ]
    return wait_for_execution(sfn, arn)


def _distributed(execution_type: str, first: str, states: dict[str, Any]) -> dict[str, Any]:
    return {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
        "StartAt": first,
        "States": states,
    }


def test_jsonpath_batch_input_reads_the_context_and_the_state_input(
    shared_montemap_server: MontemapServer,
) -> None:
    sfn = shared_montemap_server.client()
    state = {
        "Type": "Map",
        "ItemsPath": "$.rows",
        "ItemBatcher": {
            "MaxItemsPerBatch": 2,
            "MaxInputBytesPerBatch": 262144,  # the largest AWS allows
            "BatchInput": {"execution.$": "$$.Execution.Name", "tag.$": "$.tag", "fixed": 1},
        },
        "ItemProcessor": _distributed("EXPRESS", "Echo", {"Echo": {"Type": "Pass", "End": True}}),
        "End": True,
    }
    described = _run(
        sfn,
        "batch-input-paths",
        {"StartAt": "M", "States": {"M": state}},
        {"rows": [{"id": i} for i in range(5)], "tag": "t7"},
    )
    assert described["status"] == "SUCCEEDED", described
    batch_input = {"execution": "run-1", "tag": "t7", "fixed": 1}
    assert json.loads(described["output"]) == [
        {"BatchInput": batch_input, "Items": [{"id": 0}, {"id": 1}]},
        {"BatchInput": batch_input, "Items": [{"id": 2}, {"id": 3}]},
        {"BatchInput": batch_input, "Items": [{"id": 4}]},
    ]


def test_jsonata_batch_input_reads_a_variable_and_children_read_their_one_item(
    shared_montemap_server: MontemapServer,
) -> None:
    sfn = shared_montemap_server.client()
    child = {
        "Look": {
            "Type": "Pass",
            "Assign": {"where": "{% $states.input.Items.site.S %}"},
            "Output": {"task": "{% $states.input.BatchInput.task %}"},
            "Next": "Pick",
        },
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Condition": "{% $where = 'B' %}", "Next": "Found"}],
            "Default": "Skip",
        },
        "Found": {"Type": "Pass", "Output": {"site": "{% $where %}"}, "End": True},
        "Skip": {"Type": "Pass", "Output": {}, "End": True},
    }
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Init",
        "States": {
            "Init": {
                "Type": "Pass",
                "Assign": {"task": "{% $states.input.task %}"},
                "Next": "Sites",
            },
            "Sites": {
                "Type": "Map",
                "Items": "{% $states.input.sites %}",
                "ItemBatcher": {"MaxItemsPerBatch": 1, "BatchInput": {"task": "{% $task %}"}},
                "ItemProcessor": _distributed("STANDARD", "Look", child),
                "Assign": {"seen": "{% $task %}"},
                "Next": "Done",
            },
            "Done": {
                "Type": "Pass",
                "Output": {"seen": "{% $seen %}", "results": "{% $states.input %}"},
                "End": True,
            },
        },
    }
    sites = [{"site": {"S": name}} for name in ("A", "B", "C")]
    described = _run(sfn, "batch-input-jsonata", definition, {"task": "T9", "sites": sites})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"seen": "T9", "results": [{}, {"site": "B"}, {}]}


def test_a_batched_listing_feeds_children_that_run_their_own_distributed_map(
    shared_montemap_server: MontemapServer,
) -> None:
    s3, sfn = shared_montemap_server.client("s3"), shared_montemap_server.client()
    s3.create_bucket(Bucket="nested-src")
    for i in range(7):
        s3.put_object(Bucket="nested-src", Key=f"obj/{i}.json", Body=json.dumps({"n": i}))
    read_each = {
        "Get": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Parameters": {"Bucket": "nested-src", "Key.$": "$.Key"},
            "ResultSelector": {"body.$": "States.StringToJson($.Body)"},
            "OutputPath": "$.body",
            "End": True,
        }
    }
    grandchild = {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.Items",
            "ItemProcessor": {"StartAt": "Get", "States": read_each},
            "End": True,
        }
    }
    child = {
        "Inner": {
            "Type": "Map",
            "ItemsPath": "$.Items",
            "ItemBatcher": {"MaxItemsPerBatch": 3},
            "ItemProcessor": _distributed("STANDARD", "Each", grandchild),
            "ResultPath": "$.inner",
            "OutputPath": "$.inner",
            "End": True,
        }
    }
    outer = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": "nested-src", "Prefix": "obj/"},
        },
        "ItemBatcher": {"MaxItemsPerBatch": 300},
        "ItemProcessor": _distributed("STANDARD", "Inner", child),
        "OutputPath": None,
        "End": True,
    }
    described = _run(sfn, "nested-listing", {"StartAt": "Outer", "States": {"Outer": outer}}, {})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {}
    (run,) = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
    assert sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]["succeeded"] == 7
    (child_execution,) = sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"]
    inner = wait_for_execution(sfn, child_execution["executionArn"])
    assert json.loads(inner["output"]) == [
        [{"n": 0}, {"n": 1}, {"n": 2}],
        [{"n": 3}, {"n": 4}, {"n": 5}],
        [{"n": 6}],
    ]
    (inner_run,) = sfn.list_map_runs(executionArn=child_execution["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=inner_run["mapRunArn"])["executionCounts"]
    assert (counts["succeeded"], counts["total"]) == (3, 3)
