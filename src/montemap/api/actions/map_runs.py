"""Map Run actions (DescribeMapRun, ListMapRuns, UpdateMapRun) and RedriveExecution."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, cast

from montemap.api import paging, shapes
from montemap.api.actions.base import Context, Params, Result, action, parse_local_arn
from montemap.api.protocol import epoch_seconds, validation_error


class MapRunEngine(Protocol):
    """What these actions need of the engine besides :class:`EngineApi`."""

    def describe_map_run(self, arn: str) -> dict[str, Any]: ...

    def list_map_runs(
        self, execution_arn: str, *, max_results: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def update_map_run(
        self,
        arn: str,
        *,
        max_concurrency: int | None,
        tolerated_failure_count: int | None,
        tolerated_failure_percentage: float | None,
    ) -> None: ...

    def redrive_execution(self, arn: str) -> datetime: ...


def _engine(ctx: Context) -> MapRunEngine:
    return cast(MapRunEngine, ctx.engine)


@action("DescribeMapRun")
async def describe_map_run(ctx: Context, params: Params) -> Result:
    arn = params["mapRunArn"]
    parse_local_arn(ctx, arn, "mapRun")
    return shapes.map_run(_engine(ctx).describe_map_run(arn))


@action("ListMapRuns")
async def list_map_runs(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, "execution")
    listing = paging.scope("ListMapRuns", arn)
    with paging.resuming(params.get("nextToken")):
        runs, token = _engine(ctx).list_map_runs(
            arn,
            max_results=paging.page_size(params.get("maxResults")),
            next_token=paging.unbind(listing, params.get("nextToken")),
        )
    return paging.listed(
        "mapRuns", [shapes.map_run_item(r) for r in runs], paging.bind(listing, token)
    )


@action("UpdateMapRun")
async def update_map_run(ctx: Context, params: Params) -> Result:
    arn = params["mapRunArn"]
    parse_local_arn(ctx, arn, "mapRun")
    fields = ("maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage")
    if all(params.get(f) is None for f in fields):
        raise validation_error(
            "At least one of maxConcurrency, toleratedFailureCount or "
            "toleratedFailurePercentage must be specified"
        )
    percentage = params.get("toleratedFailurePercentage")
    _engine(ctx).update_map_run(
        arn,
        max_concurrency=params.get("maxConcurrency"),
        tolerated_failure_count=params.get("toleratedFailureCount"),
        tolerated_failure_percentage=None if percentage is None else float(percentage),
    )
    return {}


#: How long a RedriveExecution client token answers idempotently, and how many of an
#: execution's last tokens do (AWS: 15 minutes, the last 10).
REDRIVE_TOKEN_SECONDS = 15 * 60
REDRIVE_TOKENS_KEPT = 10


@action("RedriveExecution")
async def redrive_execution(ctx: Context, params: Params) -> Result:
    """Redrive; a ``clientToken`` that already redrove this execution (one of its last
    10, within 15 minutes) answers with that redrive's date and redrives nothing."""
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, "execution", "express")
    token = params.get("clientToken")
    if token is not None:
        known = ctx.registry.redrive_for_token(arn, token, within=REDRIVE_TOKEN_SECONDS)
        if known is not None:
            return {"redriveDate": known}
    redriven = epoch_seconds(_engine(ctx).redrive_execution(arn))
    if token is not None:
        ctx.registry.note_redrive_token(arn, token, redriven, keep=REDRIVE_TOKENS_KEPT)
    return {"redriveDate": redriven}
