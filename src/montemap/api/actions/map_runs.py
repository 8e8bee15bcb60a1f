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
    runs, token = _engine(ctx).list_map_runs(
        arn,
        max_results=paging.page_size(params.get("maxResults")),
        next_token=params.get("nextToken"),
    )
    result: Result = {"mapRuns": [shapes.map_run_item(r) for r in runs]}
    if token is not None:
        result["nextToken"] = token
    return result


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


@action("RedriveExecution")
async def redrive_execution(ctx: Context, params: Params) -> Result:
    arn = params["executionArn"]
    parse_local_arn(ctx, arn, "execution", "express")
    redriven = _engine(ctx).redrive_execution(arn)
    return {"redriveDate": epoch_seconds(redriven)}
