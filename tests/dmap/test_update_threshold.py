"""UpdateMapRun lowering the tolerated failures below the failures a running Map Run
already has fails it at once (States.ExceedToleratedFailureThreshold): the running
child is aborted and the items not started stay unstarted, on a real server."""

from __future__ import annotations

from typing import Any

from montemap.testing import eventually
from tests.dmap.server_maps import activity_map, map_run_arn, start


def test_lowered_threshold_fails_the_running_map_run(shared_sfn_client: Any) -> None:
    sfn = shared_sfn_client
    activity, machine = activity_map(sfn, "t-update", MaxConcurrency=1, ToleratedFailureCount=5)
    arn = start(sfn, machine, [1, 2, 3, 4])
    token = sfn.get_activity_task(activityArn=activity)["taskToken"]
    sfn.send_task_failure(taskToken=token, error="Boom", cause="the first item")
    run_arn = map_run_arn(sfn, arn)

    def second_running() -> bool:
        counts = sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]
        return bool(counts["failed"] == 1 and counts["running"] == 1)

    eventually(second_running, what="the second child running")
    sfn.update_map_run(mapRunArn=run_arn, toleratedFailureCount=0)

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return described if described["status"] != "RUNNING" else None

    described = eventually(ended, what="the parent to end")
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    counts = sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]
    assert counts["failed"] == 1, counts
    assert counts["aborted"] == 1, counts
    assert counts["succeeded"] == 0, counts
    assert counts["running"] == 0, counts


def test_percentage_of_input_items_fails_as_soon_as_exceeded(shared_sfn_client: Any) -> None:
    # The items are in the input: their total is known at once, so the Map Run fails as
    # soon as its failures pass the percentage (2 of 10 > 10%), without running the rest.
    sfn = shared_sfn_client
    activity, machine = activity_map(
        sfn, "t-pct", execution_type="EXPRESS", MaxConcurrency=1, ToleratedFailurePercentage=10
    )
    arn = start(sfn, machine, list(range(10)))
    for _ in range(2):
        token = sfn.get_activity_task(activityArn=activity)["taskToken"]
        sfn.send_task_failure(taskToken=token, error="Boom", cause="an item")

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return described if described["status"] != "RUNNING" else None

    described = eventually(ended, what="the parent to end")
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    counts = sfn.describe_map_run(mapRunArn=map_run_arn(sfn, arn))["itemCounts"]
    assert counts["failed"] == 2, counts
    assert counts["succeeded"] == 0, counts
    assert counts["running"] == 0, counts
