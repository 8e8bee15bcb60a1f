"""An INLINE Map (no ProcessorConfig, or Mode INLINE) carrying a field only a
Distributed Map has (ItemReader, ItemBatcher, ResultWriter, Label) is refused when the
definition is created, updated or validated, naming the state and the field, rather
than run without it (an ItemReader's Map then failed on "must be an array"). The
tolerated failure fields stay accepted: AWS runs an INLINE Map carrying them (the
recorded conformance cases ``test_base_map[TOLERATED_FAILURE_*]``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.asl.definition import validate_definition
from montemap.testing.server import MontemapServer

_PROCESSOR = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
_FIELDS: dict[str, Any] = {
    "ItemReader": {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "b", "Key": "k"},
    },
    "ItemBatcher": {"MaxItemsPerBatch": 2},
    "ResultWriter": {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "p"},
    },
    "Label": "Loans",
}
_CONFIGS: dict[str, dict[str, Any] | None] = {
    "no-config": None,
    "inline": {"Mode": "INLINE"},
    "distributed": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
}


def _map(field: str, config: dict[str, Any] | None, processor: str = "ItemProcessor") -> Any:
    body: dict[str, Any] = dict(_PROCESSOR)
    if config is not None:
        body["ProcessorConfig"] = config
    state = {"Type": "Map", processor: body, "End": True, field: _FIELDS[field]}
    return {"StartAt": "Fan", "States": {"Fan": state}}


def _errors(definition: Any) -> list[tuple[str, str, str]]:
    return [
        (d.code, d.location, d.message)
        for d in validate_definition(definition)
        if d.severity == "ERROR"
    ]


@pytest.mark.parametrize("config", ["no-config", "inline"])
@pytest.mark.parametrize("field", list(_FIELDS))
def test_an_inline_map_with_a_distributed_only_field_is_refused(field: str, config: str) -> None:
    [(code, location, message)] = _errors(_map(field, _CONFIGS[config]))
    assert code == "SCHEMA_VALIDATION_FAILED"
    assert location == f"/States/Fan/{field}"
    assert f"'{field}'" in message and "INLINE" in message


def test_the_legacy_iterator_is_an_inline_map_too() -> None:
    [(_, location, _)] = _errors(_map("ItemBatcher", None, processor="Iterator"))
    assert location == "/States/Fan/ItemBatcher"


@pytest.mark.parametrize("field", list(_FIELDS))
def test_a_distributed_map_keeps_them(field: str) -> None:
    assert _errors(_map(field, _CONFIGS["distributed"])) == []


@pytest.mark.parametrize(
    "tolerance",
    [
        {"ToleratedFailureCount": 1},
        {"ToleratedFailurePercentage": 10},
        {"ToleratedFailureCountPath": "$.n"},
        {"ToleratedFailurePercentagePath": "$.p"},
    ],
)
def test_an_inline_map_keeps_its_tolerated_failure_fields(tolerance: dict[str, Any]) -> None:
    definition = {
        "StartAt": "Fan",
        "States": {"Fan": {"Type": "Map", "ItemProcessor": _PROCESSOR, "End": True, **tolerance}},
    }
    assert _errors(definition) == []


def test_create_update_and_validate_refuse_it(shared_montemap_server: MontemapServer) -> None:
    sfn = shared_montemap_server.client()
    role = "arn:aws:iam::123456789012:role/r"
    bad = json.dumps(_map("ItemReader", None))
    expected = (
        "SCHEMA_VALIDATION_FAILED: Field 'ItemReader' is not supported for a Map state "
        "in INLINE mode"
    )
    with pytest.raises(ClientError) as created:
        sfn.create_state_machine(name=f"inline-{uuid.uuid4().hex}", definition=bad, roleArn=role)
    assert created.value.response["Error"]["Code"] == "InvalidDefinition"
    assert expected in created.value.response["Error"]["Message"]
    assert "/States/Fan/ItemReader" in created.value.response["Error"]["Message"]

    good = json.dumps({"StartAt": "Fan", "States": {"Fan": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(
        name=f"inline-{uuid.uuid4().hex}", definition=good, roleArn=role
    )["stateMachineArn"]
    with pytest.raises(ClientError) as updated:
        sfn.update_state_machine(stateMachineArn=arn, definition=bad)
    assert updated.value.response["Error"]["Code"] == "InvalidDefinition"
    assert expected in updated.value.response["Error"]["Message"]

    answer = sfn.validate_state_machine_definition(definition=bad)
    assert answer["result"] == "FAIL"
    [diagnostic] = answer["diagnostics"]
    assert diagnostic["code"] == "SCHEMA_VALIDATION_FAILED"
    assert diagnostic["location"] == "/States/Fan/ItemReader"
    sfn.delete_state_machine(stateMachineArn=arn)
    sfn.close()
