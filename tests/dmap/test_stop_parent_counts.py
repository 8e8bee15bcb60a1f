"""Stopping the parent of a running Map Run: the Map Run is ABORTED and its counters say
so (the children that were running count as aborted, none is left running), for
STANDARD and EXPRESS children, on a real server through boto3."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.testing import eventually, wait_for_execution
from tests.dmap.server_maps import activity_map, map_run_arn, start


@pytest.mark.parametrize("execution_type", ["STANDARD", "EXPRESS"])
def test_stopped_parent_counts_running_children_aborted(
    shared_sfn_client: Any, execution_type: str
) -> None:
    sfn = shared_sfn_client
    _, machine = activity_map(sfn, "t-stop", execution_type=execution_type, MaxConcurrency=2)
    arn = start(sfn, machine, list(range(5)))
    run_arn = map_run_arn(sfn, arn)

    def two_running() -> bool:
        running: int = sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"]
        return running == 2

    eventually(two_running, what="two children running")
    sfn.stop_execution(executionArn=arn, error="Stop", cause="by the test")
    assert wait_for_execution(sfn, arn)["status"] == "ABORTED"

    def aborted() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_map_run(mapRunArn=run_arn)
        return described if described["status"] == "ABORTED" else None

    described = eventually(aborted, what="the Map Run ABORTED")
    for counts in (described["executionCounts"], described["itemCounts"]):
        assert counts["running"] == 0, counts
        assert counts["aborted"] == 2, counts
        assert counts["pending"] == 3, counts
        assert counts["total"] == 5, counts
    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert sorted(child["status"] for child in children) == ["ABORTED", "ABORTED"]
