"""Tags on state machines and activities."""

from __future__ import annotations

from montemap.api.actions.activities import find_activity
from montemap.api.actions.base import (
    Context,
    Params,
    Result,
    action,
    check_tag_count,
    parse_local_arn,
    tag_list,
    tags_from,
)
from montemap.errors import ApiError


def resource(ctx: Context, arn_text: str) -> str:
    """A taggable resource's ARN; ``ResourceNotFound`` when it does not exist.

    Only state machines and activities carry tags (not versions, aliases or executions).
    """
    arn = parse_local_arn(ctx, arn_text, "stateMachine", "activity")
    exists = False
    if len(arn.parts) == 1:
        if arn.kind == "stateMachine":
            exists = ctx.registry.get_state_machine(arn_text) is not None
        else:
            exists = find_activity(ctx, arn_text) is not None
    if not exists:
        raise ApiError("ResourceNotFound", f"Resource not found: '{arn_text}'")
    return arn_text


@action("TagResource")
async def tag_resource(ctx: Context, params: Params) -> Result:
    arn = resource(ctx, params["resourceArn"])
    tags = tags_from(params)
    check_tag_count(arn, len({**ctx.registry.tags(arn), **tags}))
    ctx.registry.tag(arn, tags)
    return {}


@action("UntagResource")
async def untag_resource(ctx: Context, params: Params) -> Result:
    arn = resource(ctx, params["resourceArn"])
    ctx.registry.untag(arn, list(params["tagKeys"]))
    return {}


@action("ListTagsForResource")
async def list_tags_for_resource(ctx: Context, params: Params) -> Result:
    arn = resource(ctx, params["resourceArn"])
    return {"tags": tag_list(ctx.registry.tags(arn))}
