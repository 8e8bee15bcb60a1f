"""Engine and registry records as AWS response members (camelCase, epoch-second dates)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from montemap.api.protocol import epoch_seconds
from montemap.api.registry import StateMachine, StateMachineVersion
from montemap.api.validation import operation_model
from montemap.arns import split_version
from montemap.engine.records import ActivityRecord, ExecutionRecord


def _date(value: datetime | None) -> float | None:
    return None if value is None else epoch_seconds(value)


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop absent members: AWS omits them rather than sending null."""
    return {key: value for key, value in values.items() if value is not None}


def _extra(record: ExecutionRecord, action: str, member_list: str | None = None) -> dict[str, Any]:
    """Engine-supplied members (``record.extra``) that the action's output models."""
    operation = operation_model(action)
    if operation is None or operation.output_shape is None or not record.extra:
        return {}
    shape: Shape = operation.output_shape
    if member_list is not None:
        assert isinstance(shape, StructureShape)
        listed = shape.members[member_list]
        assert isinstance(listed, ListShape)
        shape = listed.member
    assert isinstance(shape, StructureShape)
    return {key: value for key, value in record.extra.items() if key in shape.members}


def _execution_fields(record: ExecutionRecord, **more: Any) -> dict[str, Any]:
    """The fields DescribeExecution and ListExecutions share, plus ``more``, without the
    absent ones (``None``)."""
    machine_arn, version_arn = split_version(record.state_machine_arn)
    return _compact(
        {
            "executionArn": record.execution_arn,
            "stateMachineArn": machine_arn,
            "stateMachineVersionArn": version_arn,
            "name": record.name,
            "status": record.status,
            "startDate": _date(record.start_date),
            "stopDate": _date(record.stop_date),
            "mapRunArn": record.map_run_arn,
            "redriveCount": record.redrive_count,
            "redriveDate": _date(record.redrive_date),
            **more,
        }
    )


def describe_execution(record: ExecutionRecord, *, include_data: bool = True) -> dict[str, Any]:
    """DescribeExecution's response for one execution."""
    out = _execution_fields(
        record,
        traceHeader=record.trace_header,
        error=record.error,
        cause=record.cause,
        redriveStatus=record.redrive_status,
        redriveStatusReason=record.redrive_status_reason,
    )
    if include_data:
        if record.input is not None:
            out["input"] = record.input
        out["inputDetails"] = {"included": True}
        if record.output is not None:
            out["output"] = record.output
            out["outputDetails"] = {"included": True}
    else:
        out["inputDetails"] = {"included": False}
        if record.output is not None:
            out["outputDetails"] = {"included": False}
    out.update(_extra(record, "DescribeExecution"))
    return out


def execution_item(record: ExecutionRecord) -> dict[str, Any]:
    """One entry of ListExecutions."""
    out = _execution_fields(record)
    out.update(_extra(record, "ListExecutions", "executions"))
    return out


def activity(record: ActivityRecord) -> dict[str, Any]:
    """DescribeActivity's response, which is also a ListActivities entry."""
    return {
        "activityArn": record.arn,
        "name": record.name,
        "creationDate": _date(record.creation_date),
    }


def state_machine(machine: StateMachine, *, include_definition: bool = True) -> dict[str, Any]:
    """DescribeStateMachine's response for a state machine."""
    out = _compact(
        {
            "stateMachineArn": machine.arn,
            "name": machine.name,
            "status": "ACTIVE",
            "definition": machine.definition if include_definition else "{}",
            "roleArn": machine.role_arn,
            "type": machine.type,
            "creationDate": machine.creation_date,
            "loggingConfiguration": machine.logging_configuration,
            "tracingConfiguration": machine.tracing_configuration,
            "revisionId": machine.revision_id,
            "encryptionConfiguration": machine.encryption_configuration,
        }
    )
    return out


def state_machine_version(
    version: StateMachineVersion, machine: StateMachine, *, include_definition: bool = True
) -> dict[str, Any]:
    """DescribeStateMachine's response for a published version."""
    return _compact(
        {
            "stateMachineArn": version.arn,
            "name": machine.name,
            "status": "ACTIVE",
            "definition": version.definition if include_definition else "{}",
            "roleArn": version.role_arn,
            "type": version.type,
            "creationDate": version.creation_date,
            "loggingConfiguration": machine.logging_configuration,
            "tracingConfiguration": machine.tracing_configuration,
            "revisionId": version.revision_id,
            "description": version.description,
            "encryptionConfiguration": machine.encryption_configuration,
        }
    )


def state_machine_item(machine: StateMachine) -> dict[str, Any]:
    """One entry of ListStateMachines."""
    return {
        "stateMachineArn": machine.arn,
        "name": machine.name,
        "type": machine.type,
        "creationDate": machine.creation_date,
    }


def map_run(described: dict[str, Any]) -> dict[str, Any]:
    """DescribeMapRun's response from the engine's Map Run description."""
    out = dict(described)
    for key in ("startDate", "stopDate", "redriveDate"):
        if isinstance(out.get(key), datetime):
            out[key] = epoch_seconds(out[key])
    return _compact(out)


def map_run_item(item: dict[str, Any]) -> dict[str, Any]:
    """One entry of ListMapRuns."""
    return map_run(
        {
            key: item.get(key)
            for key in ("executionArn", "mapRunArn", "stateMachineArn", "startDate", "stopDate")
        }
    )
