"""``TaskSubmitted`` for a ``.sync`` integration: when the integration has started the job
it then waits on, the history shows the start call's response between TaskStarted and
the task's end (AWS: TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded), once per
attempt, and not again when the integration reports the same job twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.run import ExecutionRun
from montemap.engine.store import FrameRow
from montemap.engine.tasks import TaskCall, report_submitted
from montemap.errors import StatesError
from tests.engine.helpers import machine

RESOURCE = "arn:aws:states:::jobs:startJob.sync:2"


class _JobIntegration:
    """Starts a job (reporting it, twice, as a rerun would), fails the first ``failures``
    attempts, then returns the finished job."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.started = 0

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        self.started += 1
        job = {"JobId": f"job-{self.started}"}
        report_submitted(run, frame, call, job)
        report_submitted(run, frame, call, job)
        if self.started <= self.failures:
            raise StatesError("Jobs.Failed", "the job failed")
        return {**job, "Status": "DONE"}


def _run(tmp_path: Path, failures: int) -> list[dict[str, Any]]:
    definition = {
        "StartAt": "Job",
        "States": {
            "Job": {
                "Type": "Task",
                "Resource": RESOURCE,
                "Parameters": {"Name": "j"},
                "Retry": [{"ErrorEquals": ["Jobs.Failed"], "IntervalSeconds": 1}],
                "End": True,
            }
        },
    }

    async def scenario() -> list[dict[str, Any]]:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        engine.integrations.register("arn:aws:states:::jobs:", _JobIntegration(failures))
        try:
            started = await engine.start_execution(machine(definition), name="e", input="{}")
            done = await engine.wait_for(started.execution_arn, 30)
            assert done.status == "SUCCEEDED", (done.error, done.cause)
            events, _ = engine.get_execution_history(
                started.execution_arn,
                reverse=False,
                max_results=1000,
                next_token=None,
                include_data=True,
            )
            return events
        finally:
            await engine.close()

    return asyncio.run(scenario())


def _task_events(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for event in events:
        details = event.get("taskSubmittedEventDetails")
        if event["type"].startswith("Task") and event["type"] != "TaskStateEntered":
            out.append((event["type"], json.loads(details["output"]) if details else None))
    return out


def test_a_sync_job_is_shown_submitted_before_it_ends(tmp_path: Path) -> None:
    events = _run(tmp_path, failures=0)
    assert _task_events(events)[:4] == [
        ("TaskScheduled", None),
        ("TaskStarted", None),
        ("TaskSubmitted", {"JobId": "job-1"}),
        ("TaskSucceeded", None),
    ]
    submitted = next(e for e in events if e["type"] == "TaskSubmitted")
    details = submitted["taskSubmittedEventDetails"]
    assert (details["resourceType"], details["resource"]) == ("jobs", "startJob.sync:2")


def test_each_attempt_shows_its_own_submission(tmp_path: Path) -> None:
    types = [t for t, _ in _task_events(_run(tmp_path, failures=1))]
    assert types == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskFailed",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
        "TaskStateExited",
    ]
