"""A state's status on the graph after a Retry and after a redrive: ``caught`` is a failure
a Catch handled, not one a Retry recovered from, and a redriven execution runs again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from montemap.console.progress import ProgressCache
from montemap.engine.db import Database
from montemap.engine.history import Event
from montemap.engine.store import ExecutionStore
from montemap.testing import wait_for_execution
from tests.console.helpers import ROLE_ARN, Http

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:e"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExecutionStore]:
    db = Database(tmp_path / "montemap.db")
    yield ExecutionStore(db)
    db.close()


def _history(
    store: ExecutionStore, *events: tuple[str, dict[str, Any] | None], first: int = 1
) -> None:
    """Append ``events`` with ids from ``first``, each following the one before."""
    for number, (kind, details) in enumerate(events, start=first):
        stamp = datetime.now(UTC)
        store.commit(ARN, first_event_id=number, events=[(Event(kind, details), number - 1, stamp)])


def test_a_failure_a_retry_recovered_from_is_not_caught(store: ExecutionStore) -> None:
    _history(
        store,
        ("ExecutionStarted", None),
        ("TaskStateEntered", {"name": "T"}),
        ("ActivityScheduled", {"resource": "a"}),
        ("ActivityFailed", {"error": "Flaky"}),
        ("ActivityScheduled", {"resource": "a"}),  # the Retry
        ("ActivitySucceeded", {"output": "{}"}),
        ("TaskStateExited", {"name": "T"}),
        ("ExecutionSucceeded", {"output": "{}"}),
    )
    snap = ProgressCache(store).get(ARN).snapshot()
    assert snap["T"] == {"status": "succeeded", "entered": 1, "exited": 1, "failures": 1}


def test_a_redriven_execution_runs_its_failed_state_again(store: ExecutionStore) -> None:
    cache = ProgressCache(store)
    _history(
        store,
        ("ExecutionStarted", None),
        ("TaskStateEntered", {"name": "T"}),
        ("ActivityScheduled", {"resource": "a"}),
        ("ActivityFailed", {"error": "E"}),
        ("ExecutionFailed", {"error": "E"}),
    )
    assert cache.get(ARN).snapshot()["T"]["status"] == "failed"
    _history(store, ("ExecutionRedriven", {"redriveCount": 1}), first=6)
    assert cache.get(ARN).snapshot()["T"]["status"] == "running"
    _history(
        store,
        ("ActivityScheduled", {"resource": "a"}),
        ("ActivitySucceeded", {"output": "{}"}),
        ("TaskStateExited", {"name": "T"}),
        ("ExecutionSucceeded", {"output": "{}"}),
        first=7,
    )
    # one failure (the activity's; the execution's own is not the state's), not caught
    assert cache.get(ARN).snapshot()["T"] == {
        "status": "succeeded",
        "entered": 1,
        "exited": 1,
        "failures": 1,
    }


def test_retry_and_redrive_on_a_real_server(http: Http, sfn: Any) -> None:
    activity = sfn.create_activity(name="flaky-work")["activityArn"]
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": activity,
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="flaky", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]

    def answer(error: str | None) -> None:
        token = sfn.get_activity_task(activityArn=activity)["taskToken"]
        if error is None:
            sfn.send_task_success(taskToken=token, output="{}")
        else:
            sfn.send_task_failure(taskToken=token, error=error)

    answer("Flaky")  # retried
    answer("Broken")  # fails the execution
    assert wait_for_execution(sfn, arn)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=arn)
    states = http.get("/console/api/execution", arn=arn).json()["states"]
    assert states["Work"]["status"] == "running"
    answer(None)
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    states = http.get("/console/api/execution", arn=arn).json()["states"]
    assert states["Work"]["status"] == "succeeded"
