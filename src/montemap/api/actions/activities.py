"""Activity actions and the task-token callbacks workers use, delegated to the engine."""

from __future__ import annotations

from typing import Any

from montemap.api import paging, protocol, shapes
from montemap.api.actions.base import (
    Context,
    Params,
    Result,
    action,
    check_encryption,
    check_name,
    check_tag_count,
    parse_local_arn,
    tags_from,
)
from montemap.api.validation import check_json_payload
from montemap.engine.errors import ActivityDoesNotExist
from montemap.engine.records import ActivityRecord
from montemap.errors import ApiError

#: What AWS uses when a request gives no encryption configuration.
DEFAULT_ENCRYPTION: dict[str, Any] = {"type": "AWS_OWNED_KEY"}
#: How long a customer-managed key's data key is reused when a request does not say.
DEFAULT_KEY_REUSE_SECONDS = 300


def find_activity(ctx: Context, arn: str) -> ActivityRecord | None:
    """The activity, or None when the engine has none under that ARN."""
    try:
        return ctx.engine.describe_activity(arn)
    except ActivityDoesNotExist:
        return None


def _effective(config: dict[str, Any] | None) -> dict[str, Any]:
    """An encryption configuration with AWS's defaults filled in: none is an AWS-owned
    key; a customer-managed key reuses its data key for 300 seconds unless told."""
    effective = dict(config or DEFAULT_ENCRYPTION)
    if effective.get("type") == "CUSTOMER_MANAGED_KMS_KEY":
        effective.setdefault("kmsDataKeyReusePeriodSeconds", DEFAULT_KEY_REUSE_SECONDS)
    return effective


@action("CreateActivity")
async def create_activity(ctx: Context, params: Params) -> Result:
    name: str = params["name"]
    check_name(name)
    tags = tags_from(params)
    arn = ctx.arns.activity(name)
    check_tag_count(arn, len(tags))
    encryption = params.get("encryptionConfiguration")
    check_encryption(encryption)
    existed = find_activity(ctx, arn) is not None
    if existed and _effective(ctx.registry.activity_encryption(arn)) != _effective(encryption):
        # Idempotency goes by name; tags may differ, the encryption may not (AWS).
        raise ApiError(
            "ActivityAlreadyExists",
            f"Activity Already Exists: '{arn}' (its encryptionConfiguration may not be updated)",
        )
    record = ctx.engine.create_activity(name)
    if not existed:  # AWS ignores the tags of a repeated (idempotent) request
        ctx.registry.set_activity_encryption(record.arn, encryption)
        ctx.registry.tag(record.arn, tags)
    return {"activityArn": record.arn, "creationDate": shapes.activity(record)["creationDate"]}


@action("DescribeActivity")
async def describe_activity(ctx: Context, params: Params) -> Result:
    arn = params["activityArn"]
    parse_local_arn(ctx, arn, "activity")
    described = shapes.activity(ctx.engine.describe_activity(arn))
    encryption = ctx.registry.activity_encryption(arn)
    if encryption is not None:
        described["encryptionConfiguration"] = encryption
    return described


@action("DeleteActivity")
async def delete_activity(ctx: Context, params: Params) -> Result:
    arn = params["activityArn"]
    parse_local_arn(ctx, arn, "activity")
    ctx.engine.delete_activity(arn)
    ctx.registry.delete_tags(arn)
    ctx.registry.set_activity_encryption(arn, None)
    return {}


@action("ListActivities")
async def list_activities(ctx: Context, params: Params) -> Result:
    records = sorted(ctx.engine.list_activities(), key=lambda record: record.name)
    page, token = paging.paginate(
        records,
        lambda record: record.name,
        listing="ListActivities",
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return paging.listed("activities", [shapes.activity(record) for record in page], token)


@action("GetActivityTask")
async def get_activity_task(ctx: Context, params: Params) -> Result:
    arn = params["activityArn"]
    parse_local_arn(ctx, arn, "activity")
    task = await ctx.engine.get_activity_task(arn, params.get("workerName"))
    if task is None:
        return {}
    return protocol.task_answer(*task)


@action("SendTaskSuccess")
async def send_task_success(ctx: Context, params: Params) -> Result:
    output: str = params["output"]
    check_json_payload(output, "InvalidOutput", "Output")
    await ctx.engine.send_task_success(params["taskToken"], output)
    return {}


@action("SendTaskFailure")
async def send_task_failure(ctx: Context, params: Params) -> Result:
    await ctx.engine.send_task_failure(
        params["taskToken"], params.get("error"), params.get("cause")
    )
    return {}


@action("SendTaskHeartbeat")
async def send_task_heartbeat(ctx: Context, params: Params) -> Result:
    await ctx.engine.send_task_heartbeat(params["taskToken"])
    return {}
