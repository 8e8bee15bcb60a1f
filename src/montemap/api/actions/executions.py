"""Execution actions, delegated to the engine."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any

from montemap.api import paging, shapes
from montemap.api.actions.aliases import get_alias, is_alias_arn, pick_version
from montemap.api.actions.base import Context, Params, Result, action, check_name, parse_local_arn
from montemap.api.actions.state_machines import does_not_exist, refuse_map_state_arn, resolve
from montemap.api.protocol import epoch_seconds, validation_error
from montemap.api.registry import (
    DEFAULT_LOGGING,
    DEFAULT_TRACING,
    StateMachine,
    StateMachineVersion,
)
from montemap.api.validation import check_execution_input
from montemap.arns import split_version
from montemap.engine.records import ExecutionRecord, StateMachineRef
from montemap.errors import ApiError

_EXECUTION_KINDS = ("execution", "express")


def _target(ctx: Context, arn_text: str) -> tuple[StateMachineRef, dict[str, str] | None]:
    """What an execution started on ``arn_text`` runs: a state machine, a version, or
    the version an alias routes this execution to (then with the ExecutionStarted
    members naming alias and version). The alias's execution records the alias ARN
    as its state machine, so ListExecutions on the alias finds it."""
    refuse_map_state_arn(ctx, arn_text)
    if is_alias_arn(ctx, arn_text):
        alias = ctx.registry.get_alias(arn_text)
        if alias is None:
            raise does_not_exist(arn_text)
        version_arn = pick_version(alias)
        version = ctx.registry.get_version(version_arn)
        if version is None:  # the routing is checked when set; a version deleted since
            raise does_not_exist(version_arn)
        ref = dataclasses.replace(version.ref(), arn=alias.arn)
        return ref, {"stateMachineAliasArn": alias.arn, "stateMachineVersionArn": version_arn}
    target = resolve(ctx, arn_text)
    if isinstance(target, StateMachineVersion):
        return target.ref(), {"stateMachineVersionArn": target.arn}
    return target.ref(), None


def qualified(ctx: Context, out: dict[str, Any]) -> dict[str, Any]:
    """An execution's members with an alias's execution named as AWS does:
    ``stateMachineArn`` the state machine, plus ``stateMachineAliasArn`` and
    ``stateMachineVersionArn``."""
    stored = out.get("stateMachineArn")
    if isinstance(stored, str) and "stateMachineVersionArn" not in out:
        head, _, qualifier = stored.rpartition(":")
        alias = qualifier and not qualifier.isdigit() and "/" not in qualifier  # not a Map Run's
        if alias and ":stateMachine:" in head:
            out["stateMachineArn"] = head
            out["stateMachineAliasArn"] = stored
            version_arn = ctx.registry.alias_execution_version(out["executionArn"])
            if version_arn is not None:
                out["stateMachineVersionArn"] = version_arn
    return out


@action("StartExecution")
async def start_execution(ctx: Context, params: Params) -> Result:
    ref, started_details = _target(ctx, params["stateMachineArn"])
    record = await _start(ctx, params, ref, started_details)
    return {"executionArn": record.execution_arn, "startDate": epoch_seconds(record.start_date)}


async def _start(
    ctx: Context, params: Params, target: StateMachineRef, started_details: dict[str, str] | None
) -> ExecutionRecord:
    """Start an execution of ``target`` with the request's name, input and trace header
    (an EXPRESS one gets an id of its own); an alias's pick is recorded."""
    name = params.get("name")
    if name is not None:
        check_name(name)
    if params.get("input") is not None:
        check_execution_input(params["input"])
    record = await ctx.engine.start_execution(
        target,
        name=name,
        input=params.get("input"),
        trace_header=params.get("traceHeader"),
        express_id=str(uuid.uuid4()) if target.type == "EXPRESS" else None,
        started_details=started_details,
    )
    if started_details is not None and "stateMachineAliasArn" in started_details:
        ctx.registry.note_alias_execution(
            record.execution_arn,
            started_details["stateMachineAliasArn"],
            started_details["stateMachineVersionArn"],
        )
    return record


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
    target, started_details = _target(ctx, params["stateMachineArn"])
    if target.type != "EXPRESS":
        raise _type_not_supported()
    started = await _start(ctx, params, target, started_details)
    record = await ctx.engine.wait_for(started.execution_arn)
    include_data = params.get("includedData", "ALL_DATA") == "ALL_DATA"
    described = shapes.describe_execution(record, include_data=include_data)
    if started_details is not None and "stateMachineAliasArn" in started_details:
        described["stateMachineArn"] = described["stateMachineArn"].rpartition(":")[0]
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
    return qualified(ctx, shapes.describe_execution(record, include_data=include_data))


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
        if listed_machine(ctx, machine_arn).type == "EXPRESS":
            raise _type_not_supported()
    elif map_run_arn is not None:
        parse_local_arn(ctx, map_run_arn, "mapRun")
    status = params.get("statusFilter")
    if status == "PENDING_REDRIVE" and machine_arn is not None:
        # AWS: only a Map Run's child executions wait for a redrive.
        raise validation_error("The PENDING_REDRIVE statusFilter needs a mapRunArn")
    redrive_filter = params.get("redriveFilter")
    # The redrive filter is part of the listing: a token of one filter is not another's.
    scoped = (machine_arn, map_run_arn, status) + ((redrive_filter,) if redrive_filter else ())
    listing = paging.scope("ListExecutions", *scoped)
    with paging.resuming(params.get("nextToken")):
        records, token = list_page(
            ctx,
            machine_arn=machine_arn,
            map_run_arn=map_run_arn,
            status=status,
            redrive_filter=redrive_filter,
            size=paging.page_size(params.get("maxResults")),
            token=paging.unbind(listing, params.get("nextToken")),
        )
    return paging.listed(
        "executions",
        [qualified(ctx, shapes.execution_item(r)) for r in records],
        paging.bind(listing, token),
    )


def listed_machine(ctx: Context, machine_arn: str) -> StateMachine | StateMachineVersion:
    """The state machine or version whose executions ``machine_arn`` lists (an alias's:
    its state machine's); StateMachineDoesNotExist (ResourceNotFound: an alias) else."""
    if is_alias_arn(ctx, machine_arn):
        alias = get_alias(ctx, machine_arn)
        machine = ctx.registry.get_state_machine(alias.state_machine_arn)
        if machine is None:
            raise does_not_exist(machine_arn)
        return machine
    return resolve(ctx, machine_arn)


def list_page(
    ctx: Context,
    *,
    machine_arn: str | None,
    map_run_arn: str | None,
    status: str | None,
    redrive_filter: str | None = None,
    size: int,
    token: str | None,
) -> tuple[list[ExecutionRecord], str | None]:
    """Up to ``size`` executions after the engine's ``token`` that ListExecutions lists,
    and the engine's token after the last one looked at (None: no more).

    A state machine's ARN lists its executions and those started on its versions and
    aliases; a version's, those started on it and on aliases that picked it; an
    alias's, those started on it. The engine filters by state machine ARN and status:
    it is asked for as many as are still missing until the page is full or the listing
    ends, so every execution it handed over is either on this page or filtered out,
    and its token resumes after both.
    """
    version_arn = None
    qualified_of = None
    if machine_arn is not None and not is_alias_arn(ctx, machine_arn):
        head, version_arn = split_version(machine_arn)
        qualified_of = head

    def wanted(record: ExecutionRecord) -> bool:
        if not _redrive_matches(record, redrive_filter):
            return False
        if version_arn is None or record.state_machine_arn == version_arn:
            return True
        return ctx.registry.alias_execution_version(record.execution_arn) == version_arn

    page: list[ExecutionRecord] = []
    while True:
        records, token = ctx.engine.list_executions(
            state_machine_arn=machine_arn,
            map_run_arn=map_run_arn,
            status=status,
            max_results=size - len(page),
            next_token=token,
            qualified_of=qualified_of,
        )
        page += [r for r in records if wanted(r)]
        if token is None or len(page) >= size:
            return page, token


def _redrive_matches(record: ExecutionRecord, redrive_filter: str | None) -> bool:
    if redrive_filter == "REDRIVEN":
        return record.redrive_count > 0
    if redrive_filter == "NOT_REDRIVEN":
        return record.redrive_count == 0
    return True


@action("GetExecutionHistory")
async def get_execution_history(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, *_EXECUTION_KINDS)
    reverse = bool(params.get("reverseOrder", False))
    listing = paging.scope("GetExecutionHistory", arn, reverse)
    with paging.resuming(params.get("nextToken")):
        events, token = ctx.engine.get_execution_history(
            arn,
            reverse=reverse,
            max_results=paging.page_size(params.get("maxResults")),
            next_token=paging.unbind(listing, params.get("nextToken")),
            include_data=bool(params.get("includeExecutionData", True)),
        )
    return paging.listed("events", events, paging.bind(listing, token))


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
    if machine is None:  # a version's or an alias's execution: the configuration is its machine's
        machine = ctx.registry.get_state_machine(ref.arn.rpartition(":")[0])
    result: Result = {
        "stateMachineArn": ref.arn,
        "name": ref.name,
        # METADATA_ONLY: "the returned definition will be {}", as AWS documents it
        # for DescribeStateMachine (the member is required in the response).
        "definition": ref.definition if _all_data(params) else "{}",
        "roleArn": ref.role_arn,
        "updateDate": _update_date(machine, epoch_seconds(record.start_date)),
        "loggingConfiguration": machine.logging_configuration if machine else DEFAULT_LOGGING,
        "tracingConfiguration": machine.tracing_configuration if machine else DEFAULT_TRACING,
    }
    if ref.revision_id is not None:
        result["revisionId"] = ref.revision_id
    if machine is not None and machine.encryption_configuration is not None:
        result["encryptionConfiguration"] = machine.encryption_configuration
    if record.map_run_arn is not None:
        result["mapRunArn"] = record.map_run_arn
        label = _map_run_label(record.map_run_arn)
        if label is not None:
            result["label"] = label
    return result


def _all_data(params: Params) -> bool:
    return bool(params.get("includedData", "ALL_DATA") == "ALL_DATA")


def _update_date(machine: StateMachine | None, fallback: float) -> float:
    if machine is None:
        return fallback
    return machine.update_date or machine.creation_date
