"""ItemBatcher sizes that are not integers fail the state with its own error, not an
internal one: ``MaxItemsPerBatchPath``/``MaxInputBytesPerBatchPath`` values (States.Runtime)
and JSONata ``MaxItemsPerBatch``/``MaxInputBytesPerBatch`` results
(States.QueryEvaluationError), on a real server through boto3."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from montemap.testing import wait_for_execution
from tests.dmap.server_maps import ROLE, reader_map


def _run(sfn: Any, batcher: dict[str, Any], payload: Any, *, jsonata: bool = False) -> Any:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemBatcher": batcher,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "End": True}},
        },
        "End": True,
    }
    definition: dict[str, Any] = {"StartAt": "M", "States": {"M": state}}
    if jsonata:
        definition["QueryLanguage"] = "JSONata"
        state["Items"] = "{% $states.input.items %}"
    else:
        state["ItemsPath"] = "$.items"
    machine = sfn.create_state_machine(
        name=f"t-batch-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    return wait_for_execution(sfn, arn)


@pytest.mark.parametrize("field", ["MaxItemsPerBatch", "MaxInputBytesPerBatch"])
@pytest.mark.parametrize("value", ["x", {"a": 1}, None, True, 1.5, [2]])
def test_path_value_not_an_integer_is_a_runtime_error(
    shared_sfn_client: Any, field: str, value: Any
) -> None:
    described = _run(shared_sfn_client, {f"{field}Path": "$.n"}, {"items": [1, 2], "n": value})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert f"The {field}Path field refers to value" in described["cause"]
    assert "not a valid integer: $.n" in described["cause"]
    assert "Internal error" not in described["cause"]


@pytest.mark.parametrize("field", ["MaxItemsPerBatch", "MaxInputBytesPerBatch"])
@pytest.mark.parametrize("expression", ["'x'", "true", "1.5", "null", "{'a': 1}"])
def test_jsonata_value_not_an_integer_is_a_query_evaluation_error(
    shared_sfn_client: Any, field: str, expression: str
) -> None:
    described = _run(
        shared_sfn_client, {field: "{% " + expression + " %}"}, {"items": [1, 2]}, jsonata=True
    )
    assert described["status"] == "FAILED"
    assert described["error"] == "States.QueryEvaluationError"
    assert f"The {field} field must be an integer" in described["cause"]


def test_integral_values_still_batch(shared_sfn_client: Any) -> None:
    # A whole number written as a float, or as a numeric string in the input, is accepted.
    for value in (2, 2.0, "2"):
        described = _run(
            shared_sfn_client, {"MaxItemsPerBatchPath": "$.n"}, {"items": [1, 2, 3], "n": value}
        )
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == [{"Items": [1, 2]}, {"Items": [3]}]
    described = _run(
        shared_sfn_client,
        {"MaxItemsPerBatch": "{% $states.input.n %}"},
        {"items": [1, 2, 3], "n": 2},
        jsonata=True,
    )
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"Items": [1, 2]}, {"Items": [3]}]


def test_max_items_path_whole_float(shared_montemap_server: Any) -> None:
    # MaxItemsPath reads 2.0 as 2, as MaxConcurrencyPath and the batcher's paths do;
    # 2.5 is still refused.
    sfn = shared_montemap_server.client()
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON", "MaxItemsPath": "$.n"},
    }
    machine = reader_map(shared_montemap_server, b"[1, 2, 3, 4]", reader)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 2.0}')["executionArn"]
    described = wait_for_execution(sfn, arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [1, 2]
    arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 2.5}')["executionArn"]
    described = wait_for_execution(sfn, arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ItemReaderFailed"
