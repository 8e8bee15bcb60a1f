"""Execution actions, delegated to the engine."""

from __future__ import annotations

import math
import uuid

from montemap.api import paging, shapes
from montemap.api.actions.base import Context, Params, Result, action, check_name, parse_local_arn
from montemap.api.actions.state_machines import resolve
from montemap.api.protocol import epoch_seconds, validation_error
from montemap.api.registry import DEFAULT_LOGGING, DEFAULT_TRACING, StateMachine
from montemap.api.validation import check_execution_input
from montemap.errors import ApiError

_EXECUTION_KINDS = ("execution", "express")


@action("StartExecution")
async def start_execution(ctx: Context, params: Params) -> Result:
    target = resolve(ctx, params["stateMachineArn"])
    name = params.get("name")
    if name is not None:
        check_name(name)
    if params.get("input") is not None:
        check_execution_input(params["input"])
    record = await ctx.engine.start_execution(
        target.ref(),
        name=name,
        input=params.get("input"),
        trace_header=params.get("traceHeader"),
        express_id=str(uuid.uuid4()) if target.type == "EXPRESS" else None,
    )
    return {"executionArn": record.execution_arn, "startDate": epoch_seconds(record.start_date)}


def _type_not_supported() -> ApiError:
    return ApiError(
        "StateMachineTypeNotSupported",
        "This operation is not supported by this type of state machine",
    )


#: What StartSyncExecution's billingDetails report as the memory used.
BILLED_MEMORY_MB = 64


@action("StartSyncExecution")
async def start_sync_execution(ctx: Context, params: Params) -> Result:
    """Run an EXPRESS execution to its end and answer with its result.

    Express executions are not idempotent by name: each call gets an ARN of its
    own (``express:<machine>:<name>:<id>``), as on AWS.
    """
    target = resolve(ctx, params["stateMachineArn"])
    if target.type != "EXPRESS":
        raise _type_not_supported()
    name = params.get("name")
    if name is not None:
        check_name(name)
    if params.get("input") is not None:
        check_execution_input(params["input"])
    started = await ctx.engine.start_execution(
        target.ref(),
        name=name,
        input=params.get("input"),
        trace_header=params.get("traceHeader"),
        express_id=str(uuid.uuid4()),
    )
    record = await ctx.engine.wait_for(started.execution_arn)
    include_data = params.get("includedData", "ALL_DATA") == "ALL_DATA"
    described = shapes.describe_execution(record, include_data=include_data)
    stop_date = described.get("stopDate", described["startDate"])
    result: Result = {
        key: value
        for key, value in described.items()
        if key
        in (
            "executionArn", "stateMachineArn", "name", "startDate", "status", "error",
            "cause", "input", "inputDetails", "output", "outputDetails", "traceHeader",
        )
    }  # fmt: skip
    result["stopDate"] = stop_date
    duration_ms = max(0.0, (stop_date - described["startDate"]) * 1000)
    result["billingDetails"] = {
        "billedMemoryUsedInMB": BILLED_MEMORY_MB,
        "billedDurationInMilliseconds": max(100, math.ceil(duration_ms / 100) * 100),
    }
    return result


@action("DescribeExecution")
async def describe_execution(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, *_EXECUTION_KINDS)
    record = ctx.engine.describe_execution(arn)
    include_data = params.get("includedData", "ALL_DATA") == "ALL_DATA"
    return shapes.describe_execution(record, include_data=include_data)


@action("StopExecution")
async def stop_execution(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, *_EXECUTION_KINDS)
    record = await ctx.engine.stop_execution(
        arn, error=params.get("error"), cause=params.get("cause")
    )
    stopped = record.stop_date or record.start_date
    return {"stopDate": epoch_seconds(stopped)}


@action("ListExecutions")
async def list_executions(ctx: Context, params: Params) -> Result:
    machine_arn = params.get("stateMachineArn")
    map_run_arn = params.get("mapRunArn")
    if machine_arn is not None and map_run_arn is not None:
        raise validation_error("Specify either a stateMachineArn or a mapRunArn, not both")
    if machine_arn is None and map_run_arn is None:
        raise validation_error("Must specify a stateMachineArn or a mapRunArn")
    if machine_arn is not None:
        target = resolve(ctx, machine_arn)
        if target.type == "EXPRESS":
            raise _type_not_supported()
    elif map_run_arn is not None:
        parse_local_arn(ctx, map_run_arn, "mapRun")
    records, token = ctx.engine.list_executions(
        state_machine_arn=machine_arn,
        map_run_arn=map_run_arn,
        status=params.get("statusFilter"),
        max_results=paging.page_size(params.get("maxResults")),
        next_token=params.get("nextToken"),
    )
    redrive_filter = params.get("redriveFilter")
    if redrive_filter == "REDRIVEN":
        records = [r for r in records if r.redrive_count > 0]
    elif redrive_filter == "NOT_REDRIVEN":
        records = [r for r in records if r.redrive_count == 0]
    result: Result = {"executions": [shapes.execution_item(r) for r in records]}
    if token is not None:
        result["nextToken"] = token
    return result


@action("GetExecutionHistory")
async def get_execution_history(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, *_EXECUTION_KINDS)
    events, token = ctx.engine.get_execution_history(
        arn,
        reverse=bool(params.get("reverseOrder", False)),
        max_results=paging.page_size(params.get("maxResults")),
        next_token=params.get("nextToken"),
        include_data=bool(params.get("includeExecutionData", True)),
    )
    result: Result = {"events": events}
    if token is not None:
        result["nextToken"] = token
    return result


def _map_run_label(map_run_arn: str) -> str | None:
    """The Map state's label in ``...:mapRun:<machine>/<label>:<run id>``."""
    parts = map_run_arn.split(":")
    if len(parts) < 8 or "/" not in parts[6]:
        return None
    return parts[6].split("/", 1)[1]


@action("DescribeStateMachineForExecution")
async def describe_state_machine_for_execution(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, *_EXECUTION_KINDS)
    ref = ctx.engine.describe_execution_definition(arn)
    record = ctx.engine.describe_execution(arn)
    machine = ctx.registry.get_state_machine(ref.arn)
    if machine is None:
        version = ctx.registry.get_version(ref.arn)
        if version is not None:
            machine = ctx.registry.get_state_machine(version.state_machine_arn)
    result: Result = {
        "stateMachineArn": ref.arn,
        "name": ref.name,
        "definition": ref.definition,
        "roleArn": ref.role_arn,
        "updateDate": _update_date(machine, epoch_seconds(record.start_date)),
        "loggingConfiguration": machine.logging_configuration if machine else DEFAULT_LOGGING,
        "tracingConfiguration": machine.tracing_configuration if machine else DEFAULT_TRACING,
    }
    if ref.revision_id is not None:
        result["revisionId"] = ref.revision_id
    if record.map_run_arn is not None:
        result["mapRunArn"] = record.map_run_arn
        label = _map_run_label(record.map_run_arn)
        if label is not None:
            result["label"] = label
    return result


def _update_date(machine: StateMachine | None, fallback: float) -> float:
    if machine is None:
        return fallback
    return machine.update_date or machine.creation_date
