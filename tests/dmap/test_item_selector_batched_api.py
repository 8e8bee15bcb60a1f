"""ItemSelector with an ItemBatcher through boto3, on a real server, over an S3 object.

The children's inputs are read back as AWS shows them: the activity task's input and
the ``ExecutionStarted`` event of each child's history.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.testing import MontemapServer, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"
ROWS = [{"id": str(i), "name": f"loan {i}", "rate": f"0.0{i % 10}"} for i in range(10)]


def _csv(rows: list[dict[str, str]]) -> bytes:
    lines = [",".join(rows[0])] + [",".join(row.values()) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _machine(sfn: Any, name: str, processor: dict[str, Any], **fields: Any) -> str:
    definition: dict[str, Any] = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                    "Parameters": {"Bucket": "src", "Key": "loans.csv"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": next(iter(processor)),
                    "States": processor,
                },
                "End": True,
                **fields,
            }
        },
    }
    if fields.get("QueryLanguage") == "JSONata":  # the reader's fields are Arguments
        state = definition["States"]["M"]
        state["ItemReader"]["Arguments"] = state["ItemReader"].pop("Parameters")
    arn: str = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    return arn


def _children_inputs(sfn: Any, execution_arn: str) -> list[Any]:
    """Each child's input from its history's ExecutionStarted event, in item order."""
    run = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"][0]["mapRunArn"]
    children = sfn.list_executions(mapRunArn=run)["executions"]
    inputs = {}
    for child in children:
        events = sfn.get_execution_history(executionArn=child["executionArn"])["events"]
        started = events[0]
        assert started["type"] == "ExecutionStarted"
        inputs[child["name"]] = json.loads(started["executionStartedEventDetails"]["input"])
    return [inputs[name] for name in sorted(inputs)]


def _expected(size: int) -> list[dict[str, Any]]:
    items = [{"loan": row, "index": i, "tag": "t1"} for i, row in enumerate(ROWS)]
    return [
        {"BatchInput": {"run": "r1"}, "Items": items[i : i + size]}
        for i in range(0, len(items), size)
    ]


def test_activity_workers_get_the_selected_batches(montemap_server: MontemapServer) -> None:
    s3, sfn = montemap_server.client("s3"), montemap_server.client()
    s3.create_bucket(Bucket="src")
    s3.put_object(Bucket="src", Key="loans.csv", Body=_csv(ROWS))
    activity = sfn.create_activity(name="work")["activityArn"]
    machine = _machine(
        sfn,
        "selected",
        {"W": {"Type": "Task", "Resource": activity, "End": True}},
        ItemSelector={
            "loan.$": "$$.Map.Item.Value",
            "index.$": "$$.Map.Item.Index",
            "tag.$": "$.tag",
        },
        ItemBatcher={"MaxItemsPerBatch": 4, "BatchInput": {"run": "r1"}},
        MaxConcurrency=1,
    )
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"tag": "t1"}))[
        "executionArn"
    ]
    served: list[dict[str, Any]] = []
    while len(served) < 3:
        task = sfn.get_activity_task(activityArn=activity, workerName="w")
        if not task.get("taskToken"):
            continue
        batch = json.loads(task["input"])
        served.append(batch)
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps(len(batch["Items"])))
    done = wait_for_execution(sfn, arn, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    assert served == _expected(4)
    assert json.loads(done["output"]) == [4, 4, 2]
    assert _children_inputs(sfn, arn) == _expected(4)
    run = sfn.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    described = sfn.describe_map_run(mapRunArn=run)
    assert described["itemCounts"]["succeeded"] == 10
    assert described["executionCounts"]["succeeded"] == 3


def test_jsonata_selector_and_byte_limit(montemap_server: MontemapServer) -> None:
    s3, sfn = montemap_server.client("s3"), montemap_server.client()
    s3.create_bucket(Bucket="src")
    s3.put_object(Bucket="src", Key="loans.csv", Body=_csv(ROWS))
    limit = 300
    machine = _machine(
        sfn,
        "selected-jsonata",
        {"P": {"Type": "Pass", "End": True}},
        QueryLanguage="JSONata",
        ItemSelector=(
            "{% {'loan': $states.context.Map.Item.Value, 'index': $states.context.Map.Item.Index,"
            " 'tag': $states.input.tag} %}"
        ),
        ItemBatcher={"MaxInputBytesPerBatch": limit, "BatchInput": {"run": "r1"}},
    )
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"tag": "t1"}))[
        "executionArn"
    ]
    done = wait_for_execution(sfn, arn, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    children = _children_inputs(sfn, arn)
    assert json.loads(done["output"]) == children
    assert [item for batch in children for item in batch["Items"]] == [
        item for batch in _expected(10) for item in batch["Items"]
    ]
    # Unselected, four rows would share a batch; selected, fewer do.
    assert _size({"BatchInput": {"run": "r1"}, "Items": ROWS[:4]}) <= limit
    assert max(len(batch["Items"]) for batch in children) < 4
    for n, batch in enumerate(children):
        assert _size(batch) <= limit
        if n + 1 < len(children):  # greedy: the next selected item did not fit
            assert _size({**batch, "Items": [*batch["Items"], children[n + 1]["Items"][0]]}) > limit


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
